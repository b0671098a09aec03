"""The gateware's framing against the host's codec: `Enframer` must produce `encode_frame`'s
bytes, and `Deframer` must find the frames and errors `FrameDecoder` finds in the same stream
(garbage, stray SYNC bytes, truncated and corrupted frames, idle gaps), with random stalls.

SPIKELOOM_SEED replays a failure: every test prints the seed its random numbers come from.
"""

import os
import random
from dataclasses import dataclass

import pytest
from amaranth import Module, Signal
from amaranth.lib.wiring import connect
from amaranth.sim import Simulator
from spikeloom.hw.framing import Deframer, Enframer, crc16_next, frame_cycles
from spikeloom.hw.protocol import MAX_PAYLOAD, SYNC, ErrorCode, crc16
from spikeloom.sim.amaranth_backend import stream_put
from spikeloom.sw.runtime import codec as host_codec
from spikeloom.sw.runtime.codec import BadCrc, BadLength, Frame, FrameDecoder, encode_frame

from tests.sim_helpers import run_sim as _run

SEED = int(os.environ.get("SPIKELOOM_SEED", "7"))

#: Most tests use a small buffer to keep the simulation quick; one runs the protocol's default.
SMALL = 64
#: Idle timeout of the fuzz tests, and the gap that makes the Deframer drop a candidate exactly
#: once: at least the timeout plus the time to re-scan what is buffered, under twice the timeout.
TIMEOUT = 1000
GAP = 2 * TIMEOUT - 10


def _rng(test: str, *params) -> random.Random:
    print(f"SPIKELOOM_SEED={SEED} ({test} {params})")
    return random.Random(f"{SEED}/{test}/{params}")


@dataclass(frozen=True)
class Gap:
    """`cycles` clock cycles with no byte offered: the line is idle."""

    cycles: int = GAP


def _taker(stream, rng, stall: float, on_beat):
    """A consumer of `stream` that calls `on_beat(payload)` for each beat taken and, with
    probability `stall` after each cycle, holds `ready` low for 1..4 cycles. It polls every cycle,
    because a background testbench is left where it is when the simulation ends."""

    async def bench(ctx):
        wait = 0
        ctx.set(stream.ready, 1)
        async for _clk, _rst, valid, ready, payload in ctx.tick().sample(
            stream.valid, stream.ready, stream.payload
        ):
            if valid and ready:
                on_beat(payload)
            if wait:
                wait -= 1
            elif rng.random() < stall:
                wait = rng.randint(1, 4)
            ctx.set(stream.ready, wait == 0)

    return bench


class FrameCollector:
    """Rebuilds `Frame`s from a Deframer's `o_frame` beats, checking how the beats are framed."""

    def __init__(self):
        self.frames: list[Frame] = []
        self._open = None

    def __call__(self, beat):
        head = (beat.frame.seq, beat.frame.command, beat.frame.length)
        if beat.header:
            assert self._open is None, "header beat inside a frame"
            assert beat.data == 0
            self._open = (head, bytearray())
        else:
            assert self._open is not None, "payload beat before a header beat"
            assert self._open[0] == head, "header fields changed within a frame"
            self._open[1].append(beat.data)
        (seq, command, length), payload = self._open
        assert bool(beat.last) == (len(payload) == length), f"`last` wrong at byte {len(payload)}"
        if beat.last:
            self.frames.append(Frame(seq, command, bytes(payload)))
            self._open = None


def _error_tuple(event) -> tuple:
    code = ErrorCode.BAD_CRC if isinstance(event, BadCrc) else ErrorCode.BAD_LENGTH
    return (code, event.seq, event.command, event.length)


def _reference(items) -> tuple[list[Frame], list[tuple]]:
    """What the host decoder finds in `items` (bytes and Gaps; a gap is one `resync`)."""
    decoder, events = FrameDecoder(), []
    for item in items:
        events += decoder.resync() if isinstance(item, Gap) else decoder.feed(bytes((item,)))
    frames = [e for e in events if isinstance(e, Frame)]
    errors = [_error_tuple(e) for e in events if isinstance(e, BadCrc | BadLength)]
    assert len(frames) + len(errors) == len(events)
    return frames, errors


def _deframe(items, rng, *, max_payload=SMALL, idle_timeout=TIMEOUT, stall=0.2, error_stall=0.0):
    """Feeds `items` (bytes and Gaps) to a Deframer with random stalls on every stream; returns
    the frames and errors it reports, once the reference's count of each is reached (plus a
    margin to catch extra ones) or a generous time has passed."""
    dut = Deframer(max_payload=max_payload, idle_timeout=idle_timeout)
    collector, errors = FrameCollector(), []
    want_frames, want_errors = _reference(items)

    def on_error(payload):
        errors.append(
            (payload.code, payload.frame.seq, payload.frame.command, payload.frame.length)
        )

    async def feeder(ctx):
        for item in items:
            if isinstance(item, Gap):
                await ctx.tick().repeat(item.cycles)
                continue
            if rng.random() < stall:
                await ctx.tick().repeat(rng.randint(1, 3))
            await stream_put(ctx, dut.i_bytes, item)
        for _ in range(20 * (max_payload + 16)):
            if len(collector.frames) >= len(want_frames) and len(errors) >= len(want_errors):
                break
            await ctx.tick()
        await ctx.tick().repeat(50)

    _run(
        dut,
        feeder,
        background=[
            _taker(dut.o_frame, rng, stall, collector),
            _taker(dut.o_error, rng, error_stall, on_error),
        ],
    )
    assert collector._open is None, "a frame was left half released"
    return collector.frames, errors, want_frames, want_errors


def _payload(rng, max_len) -> bytes:
    length = rng.choice([0, 1, 2, rng.randint(3, max_len), max_len])
    # SYNC is common in payloads so that a frame's own bytes tempt the hunt.
    return bytes(SYNC if rng.random() < 0.1 else rng.randrange(256) for _ in range(length))


def _random_frame(rng, max_len=SMALL) -> bytes:
    return encode_frame(rng.randrange(256), rng.randrange(256), _payload(rng, max_len))


# --- CRC ----------------------------------------------------------------------------------------


def test_crc16_next_matches_protocol():
    rng = _rng("crc16_next")
    m = Module()
    crc, byte, result = Signal(16), Signal(8), Signal(16)
    m.d.comb += result.eq(crc16_next(crc, byte))
    cases = [(0xFFFF, 0x31), (0, 0), (0xFFFF, 0xFF)]
    cases += [(rng.randrange(1 << 16), rng.randrange(256)) for _ in range(300)]

    async def bench(ctx):
        for c, b in cases:
            ctx.set(crc, c)
            ctx.set(byte, b)
            assert ctx.get(result) == crc16(bytes((b,)), c), (hex(c), hex(b))
        value = 0xFFFF
        for b in b"123456789":
            ctx.set(crc, value)
            ctx.set(byte, b)
            value = ctx.get(result)
        assert value == 0x29B1  # the CRC's check value

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


def test_frame_cycles():
    assert frame_cycles(4, 64) == (5 + 64 + 2) * 10 * 4
    assert frame_cycles(104) == (5 + MAX_PAYLOAD + 2) * 10 * 104


# --- Enframer -----------------------------------------------------------------------------------


def _enframe(frames, rng, stall):
    """Bytes an Enframer sends for `frames` [(seq, command, payload)], with random stalls."""
    dut = Enframer()
    sent = []
    total = sum(len(encode_frame(*f)) for f in frames)

    async def producer(ctx):
        for seq, command, payload in frames:
            if rng.random() < stall:
                await ctx.tick().repeat(rng.randint(1, 4))
            header = {"seq": seq, "command": command, "length": len(payload)}
            await stream_put(ctx, dut.i_header, header)
            for byte in payload:
                if rng.random() < stall:
                    await ctx.tick().repeat(rng.randint(1, 3))
                await stream_put(ctx, dut.i_payload, byte)
        for _ in range(10 * total + 100):
            if len(sent) == total:
                break
            await ctx.tick()
        await ctx.tick().repeat(20)  # nothing more may come

    _run(dut, producer, background=[_taker(dut.o_bytes, rng, stall, sent.append)])
    return bytes(sent)


@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_enframer_matches_encode_frame(stall):
    rng = _rng("enframer", stall)
    frames = [(0, 1, b""), (255, 0x81, b"\xa5"), (7, 3, bytes(range(64)))]
    frames += [(rng.randrange(256), rng.randrange(256), _payload(rng, SMALL)) for _ in range(25)]
    assert _enframe(frames, rng, stall) == b"".join(encode_frame(*f) for f in frames)


# --- Deframer -----------------------------------------------------------------------------------


@pytest.fixture
def small_max(monkeypatch):
    """The host decoder, as reference, with the small MAX_PAYLOAD the Deframers here use."""
    monkeypatch.setattr(host_codec, "MAX_PAYLOAD", SMALL)


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_deframer_passes_valid_frames(small_max, stall):
    rng = _rng("valid frames", stall)
    raw = [encode_frame(1, 2), encode_frame(3, 4, bytes(SMALL)), encode_frame(5, 6, b"\xa5" * 9)]
    raw += [_random_frame(rng) for _ in range(30)]
    frames, errors, want, _ = _deframe(list(b"".join(raw)), rng, stall=stall)
    assert frames == want and len(want) == len(raw)
    assert errors == []


def test_deframer_default_max_payload():
    """MAX_PAYLOAD itself: the longest frame passes, one byte more is BAD_LENGTH."""
    rng = _rng("default max")
    longest = bytes(rng.randrange(256) for _ in range(MAX_PAYLOAD))
    too_long = bytes((SYNC, 9, 2)) + (MAX_PAYLOAD + 1).to_bytes(2, "little")
    stream = encode_frame(1, 2, longest) + too_long + encode_frame(3, 4, b"ok")
    frames, errors, want, want_errors = _deframe(
        list(stream), rng, max_payload=MAX_PAYLOAD, idle_timeout=frame_cycles(4)
    )
    assert frames == want == [Frame(1, 2, longest), Frame(3, 4, b"ok")]
    assert errors == want_errors == [(ErrorCode.BAD_LENGTH, 9, 2, MAX_PAYLOAD + 1)]


def test_bad_length_and_bad_crc_are_reported(small_max):
    rng = _rng("errors")
    corrupted = bytearray(encode_frame(42, 3, b"hello"))
    corrupted[7] ^= 0x10  # a payload byte
    stream = (
        bytes((SYNC, 17, 5)) + (SMALL + 1).to_bytes(2, "little")  # too long
        + bytes(corrupted)
        + encode_frame(43, 3, b"again")
    )  # fmt: skip
    frames, errors, want, want_errors = _deframe(list(stream), rng)
    assert (
        errors
        == want_errors
        == [
            (ErrorCode.BAD_LENGTH, 17, 5, SMALL + 1),
            (ErrorCode.BAD_CRC, 42, 3, 5),
        ]
    )
    assert frames == want == [Frame(43, 3, b"again")]


def test_stray_sync_cannot_swallow_the_next_frame(small_max):
    """A SYNC in garbage announces 20 bytes, which run over the real frames behind it: its CRC
    fails and the re-scan from the byte after it still finds them."""
    rng = _rng("stray sync")
    real = [encode_frame(1, 5, b"abc"), encode_frame(2, 5, b"defgh"), encode_frame(3, 6, b"")]
    stream = b"\x00\x13" + bytes((SYNC, 0, 0, 20, 0)) + b"".join(real) + encode_frame(4, 1, b"z")
    frames, errors, want, want_errors = _deframe(list(stream), rng)
    assert errors == want_errors == [(ErrorCode.BAD_CRC, 0, 0, 20)]
    assert frames == want and [f.seq for f in frames] == [1, 2, 3, 4]


def test_idle_gap_drops_a_truncated_frame(small_max):
    """A frame cut short would swallow the next one; a gap of idle_timeout drops it first."""
    rng = _rng("idle gap")
    cut = encode_frame(1, 2, bytes(40))[:20]
    after = encode_frame(2, 2, b"next")
    frames, errors, want, _ = _deframe(list(cut) + [Gap()] + list(after), rng)
    assert frames == want == [Frame(2, 2, b"next")]
    assert errors == []
    # Without the gap the truncated frame runs over the next one, which then is not complete.
    frames, _, want, _ = _deframe(list(cut + after), rng)
    assert frames == want == []


def _fuzz_items(rng, segments: int) -> list:
    """A byte stream of valid frames between garbage, stray and oversized headers, truncated and
    corrupted frames, and idle gaps; it ends with a valid frame and the gaps needed to let it
    out (the host decoder says when there is nothing pending any more)."""
    items = []
    for _ in range(segments):
        kind = rng.choice(["valid", "valid", "garbage", "stray", "long", "cut", "corrupt", "gap"])
        if kind == "valid":
            items += _random_frame(rng)
        elif kind == "garbage":
            items += [SYNC if rng.random() < 0.15 else rng.randrange(256) for _ in range(12)]
        elif kind == "stray":  # a plausible header whose frame never was
            items += [SYNC, rng.randrange(256), rng.randrange(256), rng.randint(0, SMALL), 0]
        elif kind == "long":
            length = rng.randint(SMALL + 1, 0xFFFF)
            items += [SYNC, rng.randrange(256), rng.randrange(256), length & 0xFF, length >> 8]
        elif kind == "cut":
            frame = _random_frame(rng)
            items += frame[: rng.randrange(1, len(frame))]
        elif kind == "corrupt":
            frame = bytearray(_random_frame(rng))
            frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
            items += frame
        else:
            items.append(Gap())
    items += encode_frame(0x5A, 0x01, b"final")
    decoder = FrameDecoder()
    for item in items:
        decoder.resync() if isinstance(item, Gap) else decoder.feed(bytes((item,)))
    while decoder.pending:
        decoder.resync()
        items.append(Gap())
    return items


@pytest.mark.parametrize("trial", range(4))
def test_deframer_fuzz_matches_host_decoder(small_max, trial):
    rng = _rng("fuzz", trial)
    items = _fuzz_items(rng, 40)
    # In trial 3 the error consumer is slow, so some reports are dropped; frames never are.
    error_stall = 0.6 if trial == 3 else 0.0
    frames, errors, want, want_errors = _deframe(items, rng, stall=0.2, error_stall=error_stall)
    assert frames == want
    assert frames[-1] == Frame(0x5A, 0x01, b"final"), "the board must answer the next frame"
    if error_stall:
        remaining = iter(want_errors)
        assert all(error in remaining for error in errors), "errors out of order or invented"
    else:
        assert errors == want_errors
    print(f"{len(items)} items: {len(frames)} frames, {len(errors)} errors")


# --- both ---------------------------------------------------------------------------------------


def test_round_trip(small_max):
    rng = _rng("round trip")
    frames = [(rng.randrange(256), rng.randrange(256), _payload(rng, SMALL)) for _ in range(30)]
    m = Module()
    m.submodules.enframer = enframer = Enframer()
    m.submodules.deframer = deframer = Deframer(max_payload=SMALL, idle_timeout=TIMEOUT)
    connect(m, enframer.o_bytes, deframer.i_bytes)
    collector, errors = FrameCollector(), []

    async def producer(ctx):
        for seq, command, payload in frames:
            header = {"seq": seq, "command": command, "length": len(payload)}
            await stream_put(ctx, enframer.i_header, header)
            for byte in payload:
                if rng.random() < 0.2:
                    await ctx.tick().repeat(rng.randint(1, 3))
                await stream_put(ctx, enframer.i_payload, byte)
        for _ in range(5000):
            if len(collector.frames) == len(frames):
                break
            await ctx.tick()

    _run(
        m,
        producer,
        background=[
            _taker(deframer.o_frame, rng, 0.3, collector),
            _taker(deframer.o_error, rng, 0.0, errors.append),
        ],
    )
    assert collector.frames == [Frame(*f) for f in frames]
    assert errors == []
