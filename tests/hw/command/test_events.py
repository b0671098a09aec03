"""`EventsUnpacker` (hw/command/events.py) against a Python reference: EVENTS payloads of both
formats (in and out of range, too many entries, half addresses, unknown formats) streamed in
with random stalls, the events taken with random stalls; the events, the outcome and the bytes
taken must be the reference's."""

import pytest
from spikeloom.hw.command.events import EventsUnpacker
from spikeloom.hw.protocol import EventsFormat

from tests.hw.command.common import PARAMS, WIDE, seeded, simulate


def reference(payload: bytes, max_inputs: int):
    """(outcome, addresses sent, bytes taken) for one EVENTS payload."""
    form, body = payload[0], payload[1:]
    addresses, dropped = [], False
    if form == EventsFormat.ADDRESSES:
        if len(body) % 2:
            return ("bad_length", len(body)), [], 1
        for start in range(0, len(body), 2):
            address = int.from_bytes(body[start : start + 2], "little")
            if address < max_inputs and len(addresses) < max_inputs:
                addresses.append(address)
            else:
                dropped = True
    elif form == EventsFormat.BITMAP:
        for index, byte in enumerate(body):
            for bit in range(8):
                if byte >> bit & 1:
                    if 8 * index + bit < max_inputs:
                        addresses.append(8 * index + bit)
                    else:
                        dropped = True
    else:
        return ("unknown",), [], 1
    return ("done", dropped), addresses, len(payload)


def random_payload(rng, max_inputs: int) -> bytes:
    kind = rng.randrange(6)
    if kind <= 1:
        count = rng.choice([0, 1, rng.randrange(max_inputs), max_inputs + rng.randrange(1, 4)])
        choices = [max_inputs, max_inputs + 1, 0xFFFF, 256, rng.randrange(1 << 16)]
        addresses = [
            rng.randrange(max_inputs) if rng.random() < 0.8 else rng.choice(choices)
            for _ in range(count)
        ]
        body = b"".join(a.to_bytes(2, "little") for a in addresses)
        if kind == 1 and rng.random() < 0.3:
            body = body + bytes((rng.randrange(256),))  # half an address
        return bytes((EventsFormat.ADDRESSES,)) + body
    if kind <= 3:
        size = rng.choice([0, (max_inputs + 7) // 8, rng.randrange(1, 5)])
        return bytes((EventsFormat.BITMAP,)) + bytes(rng.randrange(256) for _ in range(size))
    if kind == 4:
        return bytes((rng.choice([2, 9, 0x80, 0xFF]),)) + bytes(rng.randrange(4))
    return bytes((rng.choice([EventsFormat.ADDRESSES, EventsFormat.BITMAP]),))


@pytest.mark.parametrize("params", [PARAMS, WIDE], ids=["small", "wide"])
@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_payloads_match_reference(params, stall):
    rng, where = seeded("events", params.max_inputs, stall)
    dut = EventsUnpacker(params)
    outcomes = set()

    async def bench(ctx):
        for number in range(150):
            payload = random_payload(rng, params.max_inputs)
            want = reference(payload, params.max_inputs)
            case = f"{where}: payload {number} {payload.hex()}"
            for _ in range(rng.randrange(3)):
                assert not ctx.get(dut.o_events.valid) and not ctx.get(dut.i_payload.ready), case
                await ctx.tick()
            ctx.set(dut.length, len(payload))
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            taken, sent, outcome, offered = 0, [], None, False
            for _ in range(40 * len(payload) + 40):
                # A byte once offered stays offered until taken (the stream rule).
                if not offered and taken < len(payload) and rng.random() >= stall:
                    offered = True
                valid = offered and taken < len(payload)
                ctx.set(dut.i_payload.valid, valid)
                if valid:
                    last = taken == len(payload) - 1
                    ctx.set(dut.i_payload.payload, {"data": payload[taken], "last": last})
                ctx.set(dut.o_events.ready, rng.random() >= stall)
                event = None
                if ctx.get(dut.o_events.valid) and ctx.get(dut.o_events.ready):
                    event = ctx.get(dut.o_events.payload)
                    assert outcome is None, case
                byte_taken = valid and ctx.get(dut.i_payload.ready)
                if ctx.get(dut.bad_length):
                    outcome = ("bad_length", ctx.get(dut.expected))
                elif ctx.get(dut.unknown):
                    outcome = ("unknown",)
                elif ctx.get(dut.done):
                    outcome = ("done", bool(ctx.get(dut.dropped)))
                    assert event is not None and event.end, case
                await ctx.tick()
                if byte_taken:
                    taken, offered = taken + 1, False
                if event is not None and not event.end:
                    sent.append(event.addr)
                if outcome is not None:
                    break
            ctx.set(dut.i_payload.valid, 0)
            assert (outcome, sent, taken) == want, case
            outcomes.add(outcome)

    simulate(dut, bench)
    assert {("bad_length",), ("unknown",), ("done", False), ("done", True)} <= {
        o[:1] if o[0] != "done" else o for o in outcomes
    }, where
