"""The host-link UART against a bit-level model of the line, with random stalls and baud error.

SPIKELOOM_SEED replays a failure: every test prints the seed its random numbers come from.
"""

import gc
import os
import random
import warnings

import pytest
from amaranth import Module
from amaranth.hdl import UnusedElaboratable
from spikeloom.hw.uart import UART, UARTReceiver, UARTTransmitter, divisor_for
from spikeloom.sim.amaranth_backend import stream_get, stream_put

from tests.sim_helpers import run_sim as _run

SEED = int(os.environ.get("SPIKELOOM_SEED", "7"))


def _rng(test: str, *params) -> random.Random:
    print(f"SPIKELOOM_SEED={SEED} ({test} {params})")
    return random.Random(f"{SEED}/{test}/{params}")


def _frame(byte: int, stop: int = 1) -> list[int]:
    """Line levels of one frame: start bit, 8 data bits LSB first, stop bit."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


class LineSender:
    """Drives an `rx` input like a UART whose bit time is `divisor * (1 + mismatch)` cycles.

    Times are kept as floats and each level change lands on the nearest clock cycle, so a
    mismatched sender drifts against the receiver as a real one would.
    """

    def __init__(self, ctx, rx, divisor: int, mismatch: float = 0.0):
        self.ctx, self.rx = ctx, rx
        self.bit = divisor * (1 + mismatch)
        self.now = 0.0  # time, in cycles, of the end of what has been driven
        self.cycle = 0  # cycles actually waited

    async def hold(self, level: int, cycles: float):
        self.ctx.set(self.rx, level)
        self.now += cycles
        ticks = round(self.now) - self.cycle
        if ticks > 0:
            await self.ctx.tick().repeat(ticks)
            self.cycle += ticks

    async def send(self, byte: int, stop: int = 1):
        for level in _frame(byte, stop):
            await self.hold(level, self.bit)

    async def idle(self, bits: float):
        await self.hold(1, bits * self.bit)


def _collector(stream, received, rng, max_stall: int):
    """A consumer that takes bytes from `stream`, then stalls for up to `max_stall` cycles.

    It polls every cycle rather than awaiting `until`, because a background testbench is left
    suspended where it is when the simulation ends.
    """

    async def bench(ctx):
        wait = 0
        ctx.set(stream.ready, 1)
        async for _clk, _rst, valid, ready, payload in ctx.tick().sample(
            stream.valid, stream.ready, stream.payload
        ):
            if valid and ready:
                received.append(payload)
                wait = rng.randint(1, max_stall) if rng.random() < 0.6 else 0
            elif wait:
                wait -= 1
            ctx.set(stream.ready, wait == 0)

    return bench


def _pulse_counter(signal, counts: list):
    async def bench(ctx):
        async for _clk, _rst, value in ctx.tick().sample(signal):
            counts[0] += value

    return bench


# --- transmitter --------------------------------------------------------------------------------


def _decode_trace(trace: list[int], divisor: int) -> list[int]:
    """Bytes in a per-cycle `tx` trace; every bit must last exactly `divisor` cycles."""
    assert trace[0] == 1, "tx must idle high"
    frame_len = 10 * divisor
    decoded, i = [], 0
    while i < len(trace):
        if trace[i]:
            i += 1
            continue
        levels = trace[i : i + frame_len]
        assert len(levels) == frame_len, f"frame at cycle {i} cut short"
        bits = levels[::divisor]
        assert levels == [b for b in bits for _ in range(divisor)], f"bit timing at cycle {i}"
        assert bits[0] == 0 and bits[9] == 1, f"framing at cycle {i}"
        decoded.append(sum(b << k for k, b in enumerate(bits[1:9])))
        i += frame_len
    return decoded


@pytest.mark.parametrize("divisor", [4, 5, 16])
def test_transmitter_sends_bytes(divisor):
    rng = _rng("transmitter", divisor)
    data = [0x00, 0xFF, 0x55, 0xAA] + [rng.randrange(256) for _ in range(24)]
    dut = UARTTransmitter(divisor)
    trace = []

    async def producer(ctx):
        for byte in data:
            if rng.random() < 0.5:  # a gap, sometimes longer than a frame
                await ctx.tick().repeat(rng.randint(1, 12 * divisor))
            await stream_put(ctx, dut.i_data, byte)
        await ctx.tick().repeat(11 * divisor)  # let the last frame out

    async def monitor(ctx):
        trace.append(ctx.get(dut.tx))
        async for _clk, _rst, tx in ctx.tick().sample(dut.tx):
            trace.append(tx)

    _run(dut, producer, background=[monitor])
    assert _decode_trace(trace, divisor) == data


def test_transmitter_is_back_to_back():
    """A producer that never stalls gets frames of exactly 10 bit times, with no idle gap."""
    divisor, data = 4, [0x12, 0x34, 0x56]
    dut = UARTTransmitter(divisor)
    trace = []

    async def producer(ctx):
        for byte in data:
            await stream_put(ctx, dut.i_data, byte)
        await ctx.tick().repeat(11 * divisor)

    async def monitor(ctx):
        async for _clk, _rst, tx in ctx.tick().sample(dut.tx):
            trace.append(tx)

    _run(dut, producer, background=[monitor])
    start = trace.index(0)
    line = [bit for byte in data for bit in _frame(byte) for _ in range(divisor)]
    assert trace[start : start + len(line)] == line


# --- receiver -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mismatch", [-0.02, 0.0, 0.02])
@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_receiver_gets_bytes(divisor, mismatch):
    rng = _rng("receiver", divisor, mismatch)
    data = [0x00, 0xFF] + [rng.randrange(256) for _ in range(24)]
    dut = UARTReceiver(divisor)
    received, errors, overruns = [], [0], [0]

    async def sender(ctx):
        line = LineSender(ctx, dut.rx, divisor, mismatch)
        await line.idle(1)
        for byte in data:
            if rng.random() < 0.5:
                await line.idle(rng.uniform(0, 3))
            await line.send(byte)
        await line.idle(6)  # longer than the collector's longest stall

    # A stall of at most 4 bit times is always over before the next byte (9.8 bit times later).
    collector = _collector(dut.o_data, received, rng, 4 * divisor)
    _run(
        dut,
        sender,
        background=[
            collector,
            _pulse_counter(dut.error, errors),
            _pulse_counter(dut.overrun, overruns),
        ],
    )
    assert received == data
    assert errors == [0] and overruns == [0]


def test_receiver_overrun_keeps_the_held_byte():
    divisor = 4
    dut = UARTReceiver(divisor)
    received, overruns = [], [0]

    async def bench(ctx):
        line = LineSender(ctx, dut.rx, divisor)
        await line.idle(1)
        for byte in (0x11, 0x22, 0x33):  # nobody reads: 0x22 and 0x33 are lost
            await line.send(byte)
        await line.idle(2)
        assert overruns == [2]
        received.append(await stream_get(ctx, dut.o_data))
        await line.send(0x44)  # with the slot free, bytes flow again
        await line.idle(2)
        received.append(await stream_get(ctx, dut.o_data))

    _run(dut, bench, background=[_pulse_counter(dut.overrun, overruns)])
    assert received == [0x11, 0x44]
    assert overruns == [2]


@pytest.mark.parametrize("divisor", [4, 16])
def test_framing_error_drops_the_byte(divisor):
    dut = UARTReceiver(divisor)
    received, errors = [], [0]

    async def sender(ctx):
        line = LineSender(ctx, dut.rx, divisor)
        await line.idle(1)
        await line.send(0xA5, stop=0)
        await line.hold(0, 3 * divisor)  # the line stays low (a break): still one error
        await line.idle(2)
        await line.send(0x3C)
        await line.idle(3)

    collector = _collector(dut.o_data, received, random.Random(0), 1)
    _run(dut, sender, background=[collector, _pulse_counter(dut.error, errors)])
    assert received == [0x3C]
    assert errors == [1]


@pytest.mark.parametrize("divisor", [4, 9, 16])
def test_short_glitch_is_not_a_start_bit(divisor):
    dut = UARTReceiver(divisor)
    received, errors = [], [0]

    async def sender(ctx):
        line = LineSender(ctx, dut.rx, divisor)
        await line.idle(1)
        for width in range(1, divisor // 2):
            await line.hold(0, width)
            await line.idle(2)
        await line.send(0x5A)
        await line.idle(3)

    collector = _collector(dut.o_data, received, random.Random(0), 1)
    _run(dut, sender, background=[collector, _pulse_counter(dut.error, errors)])
    assert received == [0x5A]
    assert errors == [0]


# --- both ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("divisor", [4, 11])
def test_loopback(divisor):
    rng = _rng("loopback", divisor)
    data = [rng.randrange(256) for _ in range(24)]
    uart = UART(divisor)
    m = Module()
    m.submodules.uart = uart
    m.d.comb += uart.rx.eq(uart.tx)
    received, errors, overruns = [], [0], [0]

    async def producer(ctx):
        for byte in data:
            if rng.random() < 0.3:
                await ctx.tick().repeat(rng.randint(1, 3 * divisor))
            await stream_put(ctx, uart.i_data, byte)
        await ctx.tick().repeat(16 * divisor)

    collector = _collector(uart.o_data, received, rng, 4 * divisor)
    _run(
        m,
        producer,
        background=[
            collector,
            _pulse_counter(uart.error, errors),
            _pulse_counter(uart.overrun, overruns),
        ],
    )
    assert received == data
    assert errors == [0] and overruns == [0]


# --- divisor ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock_hz", "baud", "divisor"),
    [(12e6, 115200, 104), (48e6, 3e6, 16), (100e6, 1e6, 100), (12e6, 3e6, 4)],
)
def test_divisor_for_good(clock_hz, baud, divisor):
    assert divisor_for(clock_hz, baud) == divisor


@pytest.mark.parametrize(
    ("clock_hz", "baud", "match"),
    [
        (1e6, 300_000, "divisor 3, below"),
        (10e6, 1.3e6, r"1300000.0: divisor 8 .* error"),
        (0, 115200, "positive"),
        (12e6, -1, "positive"),
    ],
)
def test_divisor_for_bad(clock_hz, baud, match):
    with pytest.raises(ValueError, match=match):
        divisor_for(clock_hz, baud)


@pytest.mark.parametrize("cls", [UARTTransmitter, UARTReceiver, UART])
def test_divisor_below_four_is_refused(cls):
    # The refused object exists before its __init__ raises; collect it while Amaranth's
    # "created but never used" warning is silenced.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ValueError, match="divisor 3"):
            cls(3)
        gc.collect()
