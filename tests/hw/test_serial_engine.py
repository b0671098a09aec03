"""The serial engine (hw/serial_engine.py) against the golden model, driven by the host's `Link`:
load a random Program with WRITEs and verify it with READs, stream samples with EVENTS and
RESULTS, compare exactly with the golden model, check COUNTERS and RESET. The byte-level serial
engine runs most tests; one goes through the UART pins with a bit-level line model.

SPIKELOOM_SEED replays a failure: every test prints the seed its random numbers come from.
"""

import numpy as np
import pytest
from spikeloom.hw import layout
from spikeloom.hw.protocol import Command, ErrorCode, EventsFormat, event_bytes, info_payload
from spikeloom.hw.serial_engine import SerialEngine
from spikeloom.sw.compiler.fit import check_fits
from spikeloom.sw.compiler.random_program import random_program, random_spikes
from spikeloom.sw.runtime.codec import BoardError, pack_events, pack_read, pack_write, unpack_word
from spikeloom.sw.runtime.engine_stream import OutputDecoder, config_writes, read_requests
from spikeloom.sw.runtime.link import Link

from tests.golden_check import assert_matches_golden
from tests.hw.test_command import (
    CLOCK_HZ,
    PARAMS,
    SEED,
    WORD,
    AmaranthTransport,
    _rng,
    make_board,
)

EVENT = event_bytes(PARAMS)


def _program(test: str, index: int):
    seed = SEED * 1000 + index
    print(f"SPIKELOOM_SEED={SEED} ({test} program {index}, numpy seed {seed})")
    rng = np.random.default_rng(seed)
    program = random_program(rng, max_layers=2, max_width=12, max_timesteps=3, max_v_bits=12)
    assert check_fits(program, PARAMS)[0]
    return program, random_spikes(rng, program, 3)


def load(link: Link, program, verify: bool = True):
    """Write every configuration word of `program` (as `config_writes` packs them for the engine's
    port), then read each back."""
    fields = layout.write_fields(PARAMS)
    for word in config_writes(program, PARAMS):
        write = layout.unpack(fields, word)
        payload = pack_write(write["space"], write["addr"], write["data"], WORD)
        assert link.request(Command.WRITE, payload, timeout_s=0.01) == b""
    if verify:
        read = layout.read_fields(PARAMS)
        for request, expected in read_requests(program, PARAMS):
            where = layout.unpack(read, request)
            reply = link.request(Command.READ, pack_read(where["space"], where["addr"]))
            assert unpack_word(reply, WORD) == expected, where


def collect_results(link: Link, decoder: OutputDecoder) -> bool:
    """One RESULTS request fed to `decoder`; True when it held a SAMPLE_END."""
    payload = link.request(Command.RESULTS, timeout_s=0.01)
    assert len(payload) % EVENT == 0
    done = False
    for start in range(0, len(payload), EVENT):
        done = decoder.feed(int.from_bytes(payload[start : start + EVENT], "little")) or done
    return done


def address_list(step) -> bytes:
    """EVENTS format 0 (u16 addresses) whatever its length: `pack_events` prefers the bitmap for
    these narrow inputs, and both formats must give the same timestep."""
    return bytes((EventsFormat.ADDRESSES,)) + np.flatnonzero(step).astype("<u2").tobytes()


def run_sample(link: Link, decoder: OutputDecoder, sample, addresses: bool = False) -> int:
    """Stream one sample's timesteps, then collect results up to its SAMPLE_END. A BUSY EVENTS
    (the engine waits on a full result FIFO) is answered by reading results and sending again.
    Returns the number of BUSY replies."""
    busy, done = 0, False
    for step in sample:
        while True:
            try:
                payload = address_list(step) if addresses else pack_events(step)
                link.request(Command.EVENTS, payload, timeout_s=0.01)
                break
            except BoardError as error:
                assert error.code == ErrorCode.BUSY
                busy += 1
                done = collect_results(link, decoder) or done
    while not done:
        done = collect_results(link, decoder)
    return busy


def counters(link: Link) -> tuple[int, dict[str, list[int]]]:
    payload = link.request(Command.COUNTERS)
    values = [int.from_bytes(payload[i : i + 4], "little") for i in range(0, len(payload), 4)]
    layers = PARAMS.max_layers
    names = ("layer_cycles", "layer_events", "layer_synops", "layer_stalls")
    assert len(values) == 1 + len(names) * layers
    return values[0], {
        n: values[1 + i * layers : 1 + (i + 1) * layers] for i, n in enumerate(names)
    }


@pytest.mark.parametrize("index", range(2))
def test_program_runs_like_golden(index):
    """Load, verify, run samples with stalls and a small result FIFO; compare with golden, and
    compare COUNTERS with the engine's own counters after each sample."""
    program, spikes = _program("golden", index)
    board = make_board(fifo_depth=8)
    transport = AmaranthTransport(board, _rng("golden", index), stall=0.2)
    ends = []  # the engine's counters as each SAMPLE_END left it

    async def probe(ctx):
        engine = board.engine
        out = engine.o_events
        async for _clk, _rst, valid, ready, kind, total, events in ctx.tick().sample(
            out.valid,
            out.ready,
            out.payload.kind,
            engine.counters.cycles,
            engine.counters.layer_events.as_value(),
        ):
            if valid and ready and kind == layout.KIND_SAMPLE_END:
                ends.append((total, [events >> (32 * i) & 0xFFFFFFFF for i in range(2)]))

    transport.sim.add_testbench(probe, background=True)
    link = Link(transport, clock=transport.clock)
    load(link, program)
    decoder = OutputDecoder(program, PARAMS)
    cycles = []
    for number, sample in enumerate(spikes):
        run_sample(link, decoder, sample, addresses=number % 2 == 1)
        total, per_layer = counters(link)
        assert total > 0 and (total, per_layer["layer_events"]) == ends[-1]
        assert per_layer["layer_events"][0] == int(sample.sum())
        cycles.append(total)
    assert_matches_golden(program, spikes, decoder.result(cycles), f"program {index}")
    # Nothing is left over.
    assert link.request(Command.RESULTS) == b""


def test_reset_mid_sample():
    """RESET in the middle of a sample drops its pending results and restarts the engine; the
    Program (global settings included) stays, and the next sample equals golden."""
    program, spikes = _program("reset", 5)
    transport = AmaranthTransport(make_board(), _rng("reset"), stall=0.2)
    link = Link(transport, clock=transport.clock)
    load(link, program, verify=False)
    link.request(Command.EVENTS, pack_events(spikes[0][0]))
    transport.run(300)  # the engine computes the first timestep, results pile up
    assert link.request(Command.RESET) == b""
    assert counters(link)[0] == 0
    assert link.request(Command.RESULTS) == b""
    decoder = OutputDecoder(program, PARAMS)
    for sample in spikes[1:]:
        run_sample(link, decoder, sample)
    assert_matches_golden(program, spikes[1:], decoder.result([1] * len(spikes[1:])), "after RESET")


async def _ticks(ctx, count: int):
    # Plain ticks: `repeat` leaves an async generator open that a background testbench, stopped
    # mid-wait when the test ends, cannot close cleanly.
    for _ in range(count):
        await ctx.tick()


class PinTransport(AmaranthTransport):
    """The transport on the UART pins: bytes become 8N1 frames of `divisor`-cycle bits on `rx`,
    and frames on `tx` are sampled mid-bit back into bytes."""

    async def _feed(self, ctx):
        rx, bit = self.board.rx, self.board.divisor
        ctx.set(rx, 1)
        while True:
            if not self.to_board:
                await ctx.tick()
                continue
            byte = self.to_board.popleft()
            for level in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                ctx.set(rx, level)
                await _ticks(ctx, bit)
            if self.rng.random() < self.stall:
                await _ticks(ctx, self.rng.randint(1, 3 * bit))

    async def _take(self, ctx):
        tx, bit = self.board.tx, self.board.divisor
        while True:
            *_, level = await ctx.tick().sample(tx)
            for signal in self.watch:
                self.values[id(signal)] = ctx.get(signal)
            if level:
                continue
            # The start bit's first cycle: sample every bit in its middle.
            await _ticks(ctx, bit // 2)
            byte = 0
            for i in range(8):
                await _ticks(ctx, bit)
                byte |= ctx.get(tx) << i
            await _ticks(ctx, bit)
            assert ctx.get(tx) == 1, "stop bit"
            self.from_board.append(byte)


def test_uart_pins():
    board = SerialEngine(PARAMS, CLOCK_HZ, 4, uart=True, fifo_depth=8)
    transport = PinTransport(board, _rng("uart"), stall=0.3)
    link = Link(transport, clock=transport.clock)
    assert link.request(Command.INFO, timeout_s=0.01) == info_payload(PARAMS, CLOCK_HZ)
    word = (1 << (8 * WORD - 1)) | 0xA55A
    assert link.request(Command.WRITE, pack_write(layout.SPACE_NEURONS, 2, word, WORD)) == b""
    reply = link.request(Command.READ, pack_read(layout.SPACE_NEURONS, 2), timeout_s=0.01)
    assert unpack_word(reply, WORD) == word & ((1 << layout.word_bits(PARAMS)) - 1)
