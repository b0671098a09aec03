"""`ResultPacker` (hw/command/results.py) against a Python queue: output events offered with random
stalls, taken with random stalls into replies whose length grows by an event a take, `clear` now
and then. Events come out in order, only whole ones fit in a reply, and none is lost."""

from collections import deque

import pytest
from amaranth import Value
from spikeloom.hw.command.results import ResultPacker
from spikeloom.hw.protocol import event_bytes

from tests.hw.command.common import PARAMS, WIDE, seeded, simulate


@pytest.mark.parametrize(
    "params, depth, max_payload", [(PARAMS, 4, 24), (WIDE, 7, 64), (PARAMS, 32, 1024)]
)
def test_whole_events_in_order(params, depth, max_payload):
    rng, where = seeded("results", params.lanes, depth, max_payload)
    dut = ResultPacker(params, depth=depth, max_payload=max_payload)
    size = event_bytes(params)
    width = len(dut.o_event.payload)
    pending = deque()  # events the FIFO holds, oldest first
    counts = {"taken": 0, "cleared": 0, "full": 0}

    async def bench(ctx):
        offer, length, stall = None, 0, 0.3
        for cycle in range(4000):
            if cycle % 500 == 0:
                stall = rng.choice([0.0, 0.3, 0.8])
            if offer is None and rng.random() >= stall:
                offer = rng.getrandbits(width)
            clear = rng.random() < 0.004
            ready = not clear and rng.random() >= stall
            if rng.random() < 0.02:
                # A new reply, sometimes one that already holds other bytes, or that has room
                # for exactly one more event, or not quite.
                edge = max_payload - size
                length = rng.choice([0, 0, edge, edge + 1, rng.randrange(max_payload + 1)])
            ctx.set(dut.i_events.valid, offer is not None)
            ctx.set(Value.cast(dut.i_events.payload), offer or 0)
            ctx.set(dut.clear, clear)
            ctx.set(dut.length, length)
            ctx.set(dut.o_event.ready, ready)
            case = f"{where}: cycle {cycle}"
            written = offer is not None and ctx.get(dut.i_events.ready)
            counts["full"] += offer is not None and not written
            taken = None
            if ctx.get(dut.o_event.valid):
                assert length + size <= max_payload, case
                assert pending and ctx.get(dut.o_event.payload) == pending[0][0], case
                if ready:
                    taken = pending.popleft()
            elif pending and cycle - pending[0][1] > 3 and length + size <= max_payload:
                raise AssertionError(f"{case}: an event that fits is not offered")
            await ctx.tick()
            if written:
                pending.append((offer, cycle))
                offer = None
            if taken is not None:
                length += size
                counts["taken"] += 1
            if clear:
                counts["cleared"] += len(pending)
                pending.clear()
        # Whatever is left comes out, into empty replies.
        ctx.set(dut.i_events.valid, 0)
        ctx.set(dut.o_event.ready, 1)
        ctx.set(dut.length, 0)
        for _ in range(3 * depth + 4):
            if ctx.get(dut.o_event.valid):
                assert ctx.get(dut.o_event.payload) == pending.popleft()[0], where
            await ctx.tick()
        assert not pending and not ctx.get(dut.o_event.valid), where

    simulate(dut, bench)
    assert all(counts.values()), f"{where}: {counts}"
