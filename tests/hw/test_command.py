"""The command processor (hw/command/) through the byte-level `SerialEngine`, driven by the
host's own `Link` over a transport that runs the simulation: the protocol's rules (retries,
sequence numbers, errors, garbage) as the host sees them, with random stalls on both byte streams.

SPIKELOOM_SEED replays a failure: every test prints the seed its random numbers come from.
"""

import os
import random

import pytest
from spikeloom.hw import layout
from spikeloom.hw.params import EngineParams
from spikeloom.hw.protocol import (
    ADDRESS_BYTES,
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    REPLY,
    SYNC,
    Command,
    ErrorCode,
    EventsFormat,
    event_bytes,
    info_payload,
    word_bytes,
)
from spikeloom.hw.serial_engine import SerialEngine
from spikeloom.sim.amaranth_transport import AmaranthTransport
from spikeloom.sw.runtime.codec import (
    BoardError,
    Frame,
    FrameDecoder,
    encode_frame,
    pack_events,
    pack_read,
    pack_write,
    unpack_word,
)
from spikeloom.sw.runtime.link import Link

SEED = int(os.environ.get("SPIKELOOM_SEED", "7"))

#: A small engine, so that the simulations stay quick; every random Program of the tests fits.
PARAMS = EngineParams(
    lanes=4,
    max_layers=2,
    max_inputs=12,
    max_neurons=12,
    weight_words=80,
    max_v_bits=12,
    max_weight_bits=8,
    max_timesteps=3,
    current_bits=16,
)
CLOCK_HZ = 1_000_000
#: Simulated seconds per clock cycle.
PERIOD = 1 / CLOCK_HZ
WORD = word_bytes(PARAMS)


def _rng(test: str, *params) -> random.Random:
    print(f"SPIKELOOM_SEED={SEED} ({test} {params})")
    return random.Random(f"{SEED}/{test}/{params}")


def make_board(**overrides) -> SerialEngine:
    options = dict(uart=False, fifo_depth=32, idle_timeout=2000, busy_cycles=400)
    options.update(overrides)
    return SerialEngine(PARAMS, CLOCK_HZ, 4, **options)


def make_link(test: str, *params, stall: float = 0.3, **overrides):
    rng = _rng(test, *params)
    transport = AmaranthTransport(make_board(**overrides), rng, stall)
    return Link(transport, clock=transport.clock), transport, rng


def exchange(transport: AmaranthTransport, frame: bytes, cycles: int = 3000) -> list:
    """Send raw bytes and return what the board sent back within `cycles`."""
    transport.write(frame)
    transport.run(cycles)
    data = transport.read(1 << 20, 0)
    return FrameDecoder().feed(data)


def error_reply(seq: int, code: int, detail: bytes = b"") -> Frame:
    return Frame(seq, Command.ERROR | REPLY, bytes((code,)) + detail)


# --- tests ----------------------------------------------------------------------------------


def test_info():
    link, _, _ = make_link("info")
    payload = link.request(Command.INFO, timeout_s=0.01)
    assert payload == info_payload(PARAMS, CLOCK_HZ)
    assert payload[0] == PROTOCOL_VERSION
    assert int.from_bytes(payload[1:5], "little") == PARAMS.lanes
    assert int.from_bytes(payload[-4:], "little") == CLOCK_HZ


def test_write_read_and_lengths():
    link, transport, rng = make_link("write_read")
    words = {}
    for _ in range(6):
        space = rng.choice([layout.SPACE_WEIGHTS, layout.SPACE_NEURONS, layout.SPACE_LAYERS])
        depth = {0: PARAMS.weight_words, 1: PARAMS.neuron_words, 2: PARAMS.max_layers}[space]
        addr = rng.randrange(depth)
        bits = {0: PARAMS.lanes * PARAMS.max_weight_bits, 1: PARAMS.lanes * 2 * 12}.get(
            space, sum(w for _, w, _ in layout.layer_fields(PARAMS))
        )
        words[space, addr] = rng.getrandbits(bits)
        assert link.request(Command.WRITE, pack_write(space, addr, words[space, addr], WORD)) == b""
    for (space, addr), word in words.items():
        assert unpack_word(link.request(Command.READ, pack_read(space, addr)), WORD) == word
    # A word one byte short: BAD_LENGTH with the expected length, and nothing written.
    with pytest.raises(BoardError) as error:
        link.request(Command.WRITE, pack_write(0, 0, 1, WORD)[:-1])
    assert error.value.code == ErrorCode.BAD_LENGTH
    assert error.value.detail == (ADDRESS_BYTES + WORD).to_bytes(2, "little")
    with pytest.raises(BoardError) as error:
        link.request(Command.READ, pack_read(0, 0) + b"\0")
    assert (error.value.code, error.value.detail) == (ErrorCode.BAD_LENGTH, b"\5\0")
    with pytest.raises(BoardError) as error:
        link.request(Command.INFO, b"x")
    assert (error.value.code, error.value.detail) == (ErrorCode.BAD_LENGTH, b"\0\0")
    # Addresses beyond a space, and unknown spaces: CAPACITY with the limit.
    with pytest.raises(BoardError) as error:
        link.request(Command.WRITE, pack_write(0, PARAMS.weight_words, 0, WORD))
    assert error.value.code == ErrorCode.CAPACITY
    assert error.value.detail == PARAMS.weight_words.to_bytes(4, "little")
    with pytest.raises(BoardError) as error:
        link.request(Command.READ, pack_read(7, 0))
    assert (error.value.code, error.value.detail) == (ErrorCode.CAPACITY, (4).to_bytes(4, "little"))
    # The errors moved the expected seq on, so the host's numbering still works.
    assert link.request(Command.INFO) == info_payload(PARAMS, CLOCK_HZ)


def test_unknown_command():
    link, transport, _ = make_link("unknown")
    with pytest.raises(BoardError) as error:
        link.request(0x33, b"abc")
    assert error.value.code == ErrorCode.UNKNOWN_COMMAND
    with pytest.raises(BoardError) as error:
        link.request(Command.EVENTS, bytes((9, 1, 2)))  # unknown EVENTS format
    assert error.value.code == ErrorCode.UNKNOWN_COMMAND
    with pytest.raises(BoardError) as error:
        link.request(Command.EVENTS, bytes((EventsFormat.ADDRESSES, 1)))  # half an address
    # The detail is the longest acceptable length up to the one sent.
    assert (error.value.code, error.value.detail) == (ErrorCode.BAD_LENGTH, b"\1\0")
    with pytest.raises(BoardError) as error:
        link.request(Command.EVENTS, b"")
    assert (error.value.code, error.value.detail) == (ErrorCode.BAD_LENGTH, b"\1\0")
    assert link.request(Command.INFO) == info_payload(PARAMS, CLOCK_HZ)


def test_retry_resends_without_acting_twice():
    """A repeated seq gets the stored reply again; a WRITE or EVENTS is not carried out twice."""
    _, transport, _ = make_link("retry", stall=0.2)
    write = pack_write(layout.SPACE_WEIGHTS, 3, 0x1234, WORD)
    assert exchange(transport, encode_frame(10, Command.WRITE, write)) == [
        Frame(10, Command.WRITE | REPLY)
    ]
    # The same seq with another payload is a retry: the old reply, and no write happens.
    other = pack_write(layout.SPACE_WEIGHTS, 3, 0x5678, WORD)
    assert exchange(transport, encode_frame(10, Command.WRITE, other)) == [
        Frame(10, Command.WRITE | REPLY)
    ]
    read = exchange(transport, encode_frame(11, Command.READ, pack_read(0, 3)))
    assert read == [Frame(11, Command.READ | REPLY, (0x1234).to_bytes(WORD, "little"))]
    assert exchange(transport, encode_frame(11, Command.READ, pack_read(0, 4))) == read
    # EVENTS twice with one seq is one timestep: the engine's receiver counts its end markers.
    events = encode_frame(12, Command.EVENTS, pack_events([1, 0, 1]))
    assert exchange(transport, events) == [Frame(12, Command.EVENTS | REPLY)]
    assert exchange(transport, events) == [Frame(12, Command.EVENTS | REPLY)]
    assert transport.value(transport.board.engine.i_events.ready) == 1
    assert exchange(transport, encode_frame(13, Command.EVENTS, pack_events([1]))) == [
        Frame(13, Command.EVENTS | REPLY)
    ]
    # Two timesteps in: without a Program the engine never finishes its first one, so both input
    # buffers are full now, and a third EVENTS waits, then gets BUSY, which is not remembered.
    assert transport.value(transport.board.engine.i_events.ready) == 0
    busy = exchange(transport, encode_frame(14, Command.EVENTS, pack_events([1])))
    assert busy == [error_reply(14, ErrorCode.BUSY)]


def test_sequence_error():
    _, transport, _ = make_link("sequence", stall=0.2)
    # After reset any seq is new.
    assert exchange(transport, encode_frame(200, Command.INFO))[0].command == Command.INFO | REPLY
    assert exchange(transport, encode_frame(202, Command.INFO)) == [
        error_reply(202, ErrorCode.SEQUENCE, bytes((201,)))
    ]
    # The SEQUENCE error moved nothing: 201 is still the one expected, and wraps at 255.
    for seq in (201, 202, *range(203, 256), 0):
        assert exchange(transport, encode_frame(seq, Command.RESET), 200) == [
            Frame(seq, Command.RESET | REPLY)
        ]
    # A host that counts from elsewhere adopts the board's expected seq and carries on.
    link = Link(transport, clock=transport.clock)
    link.next_seq = 5
    assert link.request(Command.INFO) == info_payload(PARAMS, CLOCK_HZ)
    assert link.next_seq == 2


def test_bad_crc_and_bad_length_then_next_frame():
    _, transport, _ = make_link("bad_crc", stall=0.2)
    good = encode_frame(5, Command.READ, pack_read(0, 1))
    corrupt = bytearray(good)
    corrupt[6] ^= 0x40
    replies = exchange(transport, bytes(corrupt) + good)
    assert replies == [
        error_reply(5, ErrorCode.BAD_CRC),
        Frame(5, Command.READ | REPLY, bytes(WORD)),
    ]
    # A header announcing too long a payload: BAD_LENGTH with the longest accepted.
    oversized = bytes((SYNC, 6, Command.WRITE)) + (MAX_PAYLOAD + 1).to_bytes(2, "little")
    replies = exchange(transport, oversized + encode_frame(6, Command.INFO))
    assert replies == [
        error_reply(6, ErrorCode.BAD_LENGTH, MAX_PAYLOAD.to_bytes(2, "little")),
        Frame(6, Command.INFO | REPLY, info_payload(PARAMS, CLOCK_HZ)),
    ]


@pytest.mark.parametrize("round_", range(3))
def test_garbage_then_valid_frame(round_):
    """Whatever garbage came before, the board answers the next valid frame (after the idle
    timeout has dropped any candidate frame the garbage started)."""
    _, transport, rng = make_link("garbage", round_, stall=0.1)
    garbage = bytes(rng.choice([SYNC, rng.randrange(256)]) for _ in range(rng.randint(1, 60)))
    transport.write(garbage)
    transport.run(2 * 2000 + 200)  # two idle timeouts: every candidate is dropped
    link = Link(transport, clock=transport.clock)
    link.next_seq = rng.randrange(256)
    # Replies to garbage frames may precede ours; the Link skips them as stale.
    assert link.request(Command.INFO, timeout_s=0.01) == info_payload(PARAMS, CLOCK_HZ)


def test_events_capacity_keeps_the_timestep():
    """Out-of-range addresses are dropped, the timestep still ends, and the CAPACITY reply is
    stored: a retry gets it again without a second timestep."""
    _, transport, _ = make_link("capacity", stall=0.2)
    bad = bytes((EventsFormat.ADDRESSES,)) + b"".join(
        a.to_bytes(2, "little") for a in (1, PARAMS.max_inputs, 2)
    )
    capacity = error_reply(1, ErrorCode.CAPACITY, PARAMS.max_inputs.to_bytes(4, "little"))
    assert exchange(transport, encode_frame(1, Command.EVENTS, bad)) == [capacity]
    assert exchange(transport, encode_frame(1, Command.EVENTS, bad)) == [capacity]
    bitmap = bytes((EventsFormat.BITMAP, 0, 0x10))  # input 12 of 12: out of range
    capacity2 = error_reply(2, ErrorCode.CAPACITY, PARAMS.max_inputs.to_bytes(4, "little"))
    assert exchange(transport, encode_frame(2, Command.EVENTS, bitmap)) == [capacity2]
    # Two timesteps went in (both input buffers full), not three.
    assert transport.value(transport.board.engine.i_events.ready) == 0


def test_results_empty_and_counters_shape():
    link, _, _ = make_link("results_empty")
    assert link.request(Command.RESULTS) == b""
    counters = link.request(Command.COUNTERS)
    assert counters == bytes(4 * (1 + 4 * PARAMS.max_layers))
    fields = layout.output_fields(PARAMS)
    assert event_bytes(PARAMS) == -(-sum(w for _, w, _ in fields) // 8)
