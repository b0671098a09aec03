"""`ReplyBuffer` (hw/command/reply.py) against a Python model of the buffer, driven as the
processor drives it: for each frame an empty reply, then a retry's resend, an error reply, or a
reply built from appends (bytes of a value, the INFO bytes, the counters) then stored; each sent
to a consumer that stalls at random. Every reply must arrive whole, header first."""

import pytest
from spikeloom.hw.command.reply import ReplyBuffer, Source
from spikeloom.hw.protocol import REPLY, Command, counters_bytes, info_payload

from tests.hw.command.common import PARAMS, seeded, simulate


class Model:
    """The buffer's memory and its stored reply, as the protocol needs them."""

    def __init__(self, max_payload: int):
        self.memory, self.length = bytearray(max_payload), 0
        self.stored = None  # (command, length) of the stored reply

    def append(self, data: bytes):
        self.memory[self.length : self.length + len(data)] = data
        self.length += len(data)


CONFIGS = {
    # A small buffer with made-up INFO bytes, and the protocol's sizes for the test engine.
    "small": dict(info=bytes(range(100, 117)), counters_bytes=12, value_bytes=6, max_payload=40),
    "protocol": dict(
        info=info_payload(PARAMS, 1_000_000),
        counters_bytes=counters_bytes(PARAMS),
        value_bytes=5,
        max_payload=1024,
    ),
}


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("stall", [0.0, 0.6])
def test_replies_arrive_whole(config, stall):
    rng, where = seeded("reply", config, stall)
    options = CONFIGS[config]
    dut = ReplyBuffer(**options)
    info, max_payload = options["info"], options["max_payload"]
    value_bytes = dut.stage_bits // 8
    model = Model(max_payload)
    received = []  # (seq, command, payload) of every reply taken
    kinds = set()

    async def consumer(ctx):
        header, header_ready, payload_ready = None, 0, 0
        async for _clk, _rst, *values in ctx.tick().sample(
            dut.o_header.valid, dut.o_header.payload, dut.o_payload.valid, dut.o_payload.payload
        ):
            h_valid, h_payload, p_valid, p_payload = values
            if h_valid and header_ready:
                header = (h_payload.seq, h_payload.command, h_payload.length, bytearray())
                if h_payload.length == 0:
                    received.append(header[:2] + (b"",))
            if p_valid and payload_ready:
                assert header is not None, where
                header[3].append(p_payload)
                if len(header[3]) == header[2]:
                    received.append(header[:2] + (bytes(header[3]),))
            header_ready, payload_ready = rng.random() >= stall, rng.random() >= stall
            ctx.set(dut.o_header.ready, header_ready)
            ctx.set(dut.o_payload.ready, payload_ready)

    async def strobe(ctx, *signals):
        for signal in signals:
            ctx.set(signal, 1)
        await ctx.tick()
        for signal in signals:
            ctx.set(signal, 0)

    async def until(ctx, signal):
        # Sampled at the clock edge: `sent` depends on the consumer's `ready` in that cycle.
        while not (await ctx.tick().sample(signal))[-1]:
            pass

    async def send(ctx, expected, *strobes, delay=0):
        await strobe(ctx, *strobes)
        for _ in range(delay):  # a frame still being drained
            await ctx.tick()
        await strobe(ctx, dut.send)
        await until(ctx, dut.sent)
        await ctx.tick()  # the consumer has seen the last beat
        assert received[-1] == expected, f"{where}: sent {received[-1]}, expected {expected}"

    async def bench(ctx):
        for _ in range(60 if max_payload < 100 else 25):
            seq = rng.randrange(256)
            ctx.set(dut.seq, seq)
            await strobe(ctx, dut.new)
            assert ctx.get(dut.length) == 0, where
            model.length = 0
            kind = rng.choice(["resend", "error", "build", "build"])
            if kind == "resend" and model.stored is not None:
                assert ctx.get(dut.stored), where
                command, length = model.stored
                expected = (seq, command, bytes(model.memory[:length]))
                await send(ctx, expected, dut.resend, delay=rng.randrange(3))
            elif kind == "error":
                length = rng.randrange(1, 6)
                payload = rng.randrange(1 << 40)
                header = {"seq": seq, "command": Command.ERROR | REPLY, "length": length}
                ctx.set(dut.i_error.payload, {"header": header, "payload": payload})
                expected = (seq, Command.ERROR | REPLY, payload.to_bytes(5, "little")[:length])
                await send(ctx, expected, dut.i_error.valid, delay=rng.randrange(3))
            else:
                # A new frame: the stored reply is forgotten, a new one is built.
                await strobe(ctx, dut.forget)
                assert not ctx.get(dut.stored), where
                model.stored = None
                while rng.random() < 0.7:
                    source = rng.choice(list(Source))
                    if source == Source.STAGE:
                        count = rng.randrange(1, value_bytes + 1)
                        value = rng.getrandbits(8 * value_bytes)
                        data = value.to_bytes(value_bytes, "little")[:count]
                    elif source == Source.INFO:
                        count, value, data = len(info), 0, info
                    else:
                        count, value = options["counters_bytes"], 0
                        counters = rng.getrandbits(8 * count)
                        ctx.set(dut.counters, counters)
                        data = counters.to_bytes(count, "little")
                    if model.length + count > max_payload:
                        break
                    ctx.set(
                        dut.i_append.payload, {"source": source, "count": count, "value": value}
                    )
                    await strobe(ctx, dut.i_append.valid)
                    await until(ctx, dut.appended)
                    model.append(data)
                    kinds.add(source)
                    assert ctx.get(dut.length) == model.length, where
                command = rng.randrange(256)
                ctx.set(dut.command, command)
                model.stored = (command, model.length)
                expected = (seq, command, bytes(model.memory[: model.length]))
                await send(ctx, expected, dut.store)
                assert ctx.get(dut.stored), where
            kinds.add(kind)

    simulate(dut, bench, background=consumer)
    assert {"resend", "error", "build", *Source} <= kinds, f"{where}: {kinds}"
