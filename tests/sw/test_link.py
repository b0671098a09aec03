"""The host side of the serial link: frames survive any stream, requests survive a lossy link."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from spikeloom.hw import protocol
from spikeloom.hw.protocol import MAX_PAYLOAD, REPLY, SYNC, Command, ErrorCode, EventsFormat
from spikeloom.sw.errors import SpikeloomError
from spikeloom.sw.runtime.codec import (
    MAX_FRAME,
    BadCrc,
    BadLength,
    BoardError,
    Frame,
    FrameDecoder,
    LinkError,
    LinkLost,
    LinkTimeout,
    SequenceError,
    crc16,
    encode_frame,
    pack_events,
    pack_read,
    pack_write,
    unpack_events,
    unpack_word,
)
from spikeloom.sw.runtime.link import Link

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Enough bytes without SYNC to complete any frame a stray SYNC may have started.
PADDING = bytes(MAX_FRAME)

seqs = st.integers(0, 255)
commands = st.integers(0, 255)
payloads = st.binary(max_size=64) | st.binary(min_size=MAX_PAYLOAD - 2, max_size=MAX_PAYLOAD)
frames = st.builds(Frame, seqs, commands, payloads)


def encode(frame: Frame) -> bytes:
    return encode_frame(frame.seq, frame.command, frame.payload)


def decoded_frames(data: bytes) -> list[Frame]:
    return [e for e in FrameDecoder().feed(data) if isinstance(e, Frame)]


def holds_no_frame(data: bytes) -> bool:
    return not decoded_frames(bytes(data) + PADDING)


def feed_in_chunks(decoder: FrameDecoder, data: bytes, sizes: list[int]) -> list:
    events, pos, i = [], 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)] if sizes else len(data)
        events += decoder.feed(data[pos : pos + size])
        assert decoder.pending <= MAX_FRAME
        pos, i = pos + size, i + 1
    return events


# --- CRC and frames -------------------------------------------------------------------------


def test_crc_check_value():
    assert protocol.crc16(b"123456789") == 0x29B1
    assert crc16(b"123456789") == 0x29B1


@SETTINGS
@given(st.binary(max_size=300))
def test_fast_crc_matches_the_protocol(data):
    assert crc16(data) == protocol.crc16(data)


def test_frame_layout():
    frame = encode_frame(7, Command.READ, b"\x01\x02")
    body = bytes((7, Command.READ, 2, 0, 1, 2))
    assert frame == bytes((SYNC,)) + body + protocol.crc16(body).to_bytes(2, "little")


@pytest.mark.parametrize(
    "args, message",
    [
        ((256, 1), "seq 256 is not a byte"),
        ((-1, 1), "seq -1 is not a byte"),
        ((0, 300), "command 300 is not a byte"),
        ((0, 1, bytes(MAX_PAYLOAD + 1)), f"1025 bytes exceeds the {MAX_PAYLOAD}"),
    ],
)
def test_encode_frame_rejects_bad_fields(args, message):
    with pytest.raises(ValueError, match=message):
        encode_frame(*args)


@SETTINGS
@given(frames)
def test_round_trip(frame):
    decoder = FrameDecoder()
    assert decoder.feed(encode(frame)) == [frame]
    assert decoder.pending == 0


@SETTINGS
@given(st.lists(frames, max_size=5), st.lists(st.integers(1, 40), max_size=8))
def test_frames_in_order_whatever_the_chunks(sent, sizes):
    stream = b"".join(map(encode, sent))
    assert feed_in_chunks(FrameDecoder(), stream, sizes) == sent


# --- a hostile stream -----------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=2000), st.lists(st.integers(1, 300), max_size=8))
def test_any_bytes_never_raise_and_stay_bounded(data, sizes):
    decoder = FrameDecoder()
    for event in feed_in_chunks(decoder, data, sizes):
        assert isinstance(event, Frame | LinkError)
    decoder.feed(PADDING)
    assert decoder.pending == 0


garbage = st.binary(max_size=80).filter(holds_no_frame) | st.sampled_from(
    [bytes((SYNC,)), bytes((SYNC, 1, 2, 0xFF, 0x03)), bytes((SYNC, 0, 0, 0x00, 0x04))]
)


@SETTINGS
@given(st.lists(st.tuples(garbage, frames), max_size=4), garbage, st.lists(st.integers(1, 50)))
def test_every_frame_after_garbage_is_recovered(pieces, tail, sizes):
    stream = b"".join(g + encode(f) for g, f in pieces) + tail + PADDING
    events = feed_in_chunks(FrameDecoder(), stream, sizes)
    assert [e for e in events if isinstance(e, Frame)] == [f for _, f in pieces]


@SETTINGS
@given(frames, frames, st.data())
def test_corrupted_byte_gives_bad_crc_and_the_next_frame_survives(frame, after, data):
    assume(holds_no_frame(frame.payload))
    wire = bytearray(encode(frame))
    index = data.draw(st.integers(0, len(wire) - 1), label="index")
    wire[index] ^= data.draw(st.integers(1, 255), label="flip")
    events = FrameDecoder().feed(bytes(wire) + encode(after) + PADDING)
    assert [e for e in events if isinstance(e, Frame)] == [after]
    if index == 0:
        return  # SYNC hit: the frame vanishes
    first = events[0]
    assert isinstance(first, BadCrc | BadLength)
    assert (first.seq, first.command) == (wire[1], wire[2])
    if index not in (3, 4):  # the length is intact
        assert isinstance(first, BadCrc) and first.length == len(frame.payload)


@SETTINGS
@given(frames, frames, st.data())
def test_truncated_frame_then_a_valid_one(frame, after, data):
    assume(holds_no_frame(frame.payload))
    wire = encode(frame)
    cut = wire[: data.draw(st.integers(1, len(wire) - 1), label="cut")]
    events = FrameDecoder().feed(cut + encode(after) + PADDING)
    assert [e for e in events if isinstance(e, Frame)] == [after]
    # Without the padding, giving up on the truncated frame finds the valid one at once.
    decoder = FrameDecoder()
    found = decoder.feed(cut + encode(after))
    while decoder.pending and after not in found:
        found += decoder.resync()
    assert [e for e in found if isinstance(e, Frame)] == [after]


def test_oversized_length_is_reported_and_skipped():
    after = Frame(3, Command.INFO | REPLY, b"ok")
    events = FrameDecoder().feed(bytes((SYNC, 9, 2, 0x01, 0x04)) + encode(after))
    assert isinstance(events[0], BadLength)
    assert events[0].length == MAX_PAYLOAD + 1 and "1025 exceeds the 1024" in str(events[0])
    assert events[-1] == after


def test_sync_in_garbage_cannot_swallow_a_frame():
    after = Frame(1, Command.READ | REPLY, b"\x2a\x00")
    # A stray SYNC whose "length" covers the real frame: it waits for more bytes...
    decoder = FrameDecoder()
    assert decoder.feed(bytes((SYNC, 0, 0, 20, 0)) + encode(after)) == []
    assert decoder.pending == 5 + 9
    # ...and once they come its CRC fails and the hunt resumes inside it.
    events = decoder.feed(PADDING)
    assert isinstance(events[0], BadCrc) and events[1:] == [after]
    events = FrameDecoder().feed(bytes((SYNC, 0, 0, 4, 0)) + encode(after))
    assert isinstance(events[0], BadCrc) and events[1:] == [after]


# --- Link against a small board model -------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeBoard:
    """Answers frames like the board (retry = same seq: replay the last reply without acting).

    `faults` is consumed one per frame written: "ok", "drop_request", "corrupt_request",
    "drop_reply", "corrupt_reply", "garbage" (noise before the reply), "stale" (an old reply
    first)."""

    WIDTH = 4

    def __init__(self, clock: FakeClock, faults=(), chunk=7):
        self.clock, self.faults, self.chunk = clock, list(faults), chunk
        self.decoder = FrameDecoder()
        self.out = bytearray()
        self.memory: dict[tuple[int, int], int] = {}
        self.last_seq, self.last_reply = None, b""
        self.seen: list[int] = []  # seq of every frame received intact
        self.acted = 0
        self.error: bytes | None = None  # answer everything with this ERROR payload

    def write(self, data: bytes):
        fault = self.faults.pop(0) if self.faults else "ok"
        if fault == "drop_request":
            return
        if fault == "corrupt_request":
            data = data[:-1] + bytes((data[-1] ^ 0x55,))
        events = self.decoder.feed(data)
        while self.decoder.pending:  # an idle gap follows every write: drop a partial frame
            events += self.decoder.resync()
        for event in events:
            if isinstance(event, BadCrc):
                self._send(
                    encode_frame(event.seq, Command.ERROR | REPLY, bytes((ErrorCode.BAD_CRC,))),
                    fault,
                )
            elif isinstance(event, Frame):
                self.seen.append(event.seq)
                if event.seq != self.last_seq:
                    self.last_seq, self.last_reply = event.seq, self._act(event)
                self._send(self.last_reply, fault)

    def _act(self, frame: Frame) -> bytes:
        self.acted += 1
        if self.error is not None:
            return encode_frame(frame.seq, Command.ERROR | REPLY, self.error)
        p = frame.payload
        reply = b""
        if frame.command == Command.WRITE:
            self.memory[p[0], int.from_bytes(p[1:5], "little")] = int.from_bytes(p[5:], "little")
        elif frame.command == Command.READ:
            word = self.memory.get((p[0], int.from_bytes(p[1:5], "little")), 0)
            reply = word.to_bytes(self.WIDTH, "little")
        return encode_frame(frame.seq, frame.command | REPLY, reply)

    def _send(self, reply: bytes, fault: str):
        if fault == "drop_reply":
            return
        if fault == "corrupt_reply":
            reply = reply[:-1] + bytes((reply[-1] ^ 0x01,))
        elif fault == "garbage":
            reply = bytes((0x13, SYNC, 1, 2, 0xFF, 0xFF, SYNC)) + reply
        elif fault == "stale":
            old = ((self.last_seq or 0) - 1) & 0xFF
            reply = encode_frame(old, Command.READ | REPLY, b"old") + reply
        self.out += reply

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        if not self.out:
            self.clock.now += timeout_s
            return b""
        data = bytes(self.out[: min(max_bytes, self.chunk)])
        del self.out[: len(data)]
        return data


def make_link(faults=(), **kwargs):
    clock = FakeClock()
    board = FakeBoard(clock, faults, **kwargs)
    return Link(board, clock=clock), board


def read_word(link: Link, addr: int, **kwargs) -> int:
    return unpack_word(link.request(Command.READ, pack_read(0, addr), **kwargs), FakeBoard.WIDTH)


def test_request_reply_and_byte_counts():
    link, board = make_link()
    assert link.request(Command.WRITE, pack_write(1, 2, 0xDEADBEEF, 4)) == b""
    assert unpack_word(link.request(Command.READ, pack_read(1, 2)), 4) == 0xDEADBEEF
    assert board.seen == [0, 1] and link.retries == 0
    assert link.bytes_sent == (7 + 9) + (7 + 5)
    assert link.bytes_received == (7 + 0) + (7 + 4)


@pytest.mark.parametrize(
    "fault", ["corrupt_reply", "drop_reply", "corrupt_request", "drop_request"]
)
def test_retry_resends_the_same_seq_and_the_board_acts_once(fault):
    link, board = make_link()
    link.request(Command.RESET)
    board.faults = [fault]
    link.request(Command.WRITE, pack_write(0, 5, 99, 4))
    assert link.retries == 1
    assert board.seen[-1] == 1 and board.acted == 2
    assert read_word(link, 5) == 99 and board.seen[-1] == 2


def test_timeout_after_retries():
    link, board = make_link(faults=["drop_reply"] * 4)
    with pytest.raises(LinkTimeout) as error:
        link.request(Command.READ, pack_read(0, 0), timeout_s=0.5, retries=3)
    assert str(error.value) == (
        "the board stopped answering after 2 s (READ seq 0: 4 attempts, last: no reply)"
    )
    assert board.seen == [0, 0, 0, 0] and board.acted == 1
    assert isinstance(error.value, LinkError) and isinstance(error.value, SpikeloomError)


def test_garbled_replies_until_the_retries_are_spent():
    link, _ = make_link(faults=["corrupt_reply"] * 3)
    with pytest.raises(LinkTimeout, match="3 attempts, last: garbled reply"):
        link.request(Command.READ, pack_read(0, 0), retries=2)


def test_link_timeout_names_samples_completed():
    message = str(LinkTimeout(12.5, samples_completed=40))
    assert message == "the board stopped answering after 12.5 s; samples completed: 40"


def test_error_reply_raises_board_error():
    link, board = make_link()
    board.error = bytes((ErrorCode.CAPACITY,)) + (1024).to_bytes(4, "little")
    with pytest.raises(BoardError) as error:
        link.request(Command.WRITE, pack_write(0, 0, 1, 4))
    assert str(error.value).startswith("board reports capacity exceeded: limit 1024")
    assert "WRITE, seq 0" in str(error.value)
    assert error.value.code == ErrorCode.CAPACITY and link.retries == 0


def test_an_overlong_length_reported_by_the_board_is_resent_then_given_up():
    """The host never sends more than MAX_PAYLOAD, so the board seeing that means the line
    garbled the length field: resend, like a bad CRC."""
    link, board = make_link()
    board.error = bytes((ErrorCode.BAD_LENGTH,)) + MAX_PAYLOAD.to_bytes(2, "little")
    with pytest.raises(LinkTimeout):
        link.request(Command.RESET, retries=2)
    assert link.retries == 2


@pytest.mark.parametrize(
    "payload, message",
    [
        (bytes((ErrorCode.UNKNOWN_COMMAND,)), "board reports an unknown command"),
        (bytes((ErrorCode.BAD_LENGTH, 0, 4)), "board reports a bad length: at most 1024 bytes"),
        (bytes((ErrorCode.BUSY,)), "board reports busy"),
        (bytes((0x42, 1, 2)), "board reports error 0x42 \\(detail 0102\\)"),
        (b"", "board reports an error without a code"),
    ],
)
def test_board_error_messages(payload, message):
    with pytest.raises(BoardError, match=message):
        raise BoardError.from_payload(payload)


def test_sequence_error():
    link, board = make_link()
    board.error = bytes((ErrorCode.SEQUENCE, 17))
    with pytest.raises(SequenceError, match="board reports a sequence error: expected seq 17"):
        link.request(Command.RESET)


def test_stale_and_noisy_replies_are_ignored():
    link, board = make_link(faults=["ok", "stale", "garbage"], chunk=3)
    link.request(Command.WRITE, pack_write(0, 1, 7, 4))
    assert read_word(link, 1) == 7
    assert read_word(link, 1) == 7
    assert link.stale_replies == 1 and link.retries == 0


def test_seq_wraps_around():
    link, board = make_link()
    for _ in range(300):
        link.request(Command.RESET)
    assert board.seen == [i % 256 for i in range(300)] and board.acted == 300


faults = st.sampled_from(
    ["ok", "drop_request", "corrupt_request", "drop_reply", "corrupt_reply", "garbage", "stale"]
)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.lists(faults, max_size=3)), max_size=8))
def test_writes_and_reads_survive_a_lossy_link(ops):
    link, board = make_link()
    for i, (value, problems) in enumerate(ops):
        board.faults = problems + ["ok"]
        link.request(Command.WRITE, pack_write(0, i, value, 4), retries=3)
        board.faults = list(reversed(problems)) + ["ok"]
        assert read_word(link, i, retries=3) == value
    assert board.acted == 2 * len(ops)


class BrokenPipeTransport:
    """A transport whose other end has gone: writes fail, or reads find the end of the input."""

    def __init__(self, failing: str):
        self.failing = failing

    def write(self, data: bytes):
        if self.failing == "write":
            raise BrokenPipeError(32, "Broken pipe")

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        raise EOFError


@pytest.mark.parametrize(
    "failing, cause", [("write", "[Errno 32] Broken pipe"), ("read", "EOFError")]
)
def test_a_failing_transport_is_a_link_lost_naming_the_cause(failing, cause):
    link = Link(BrokenPipeTransport(failing))
    with pytest.raises(LinkLost) as raised:
        link.request(Command.INFO)
    assert str(raised.value) == f"the link's transport (BrokenPipeTransport) failed: {cause}"
    assert isinstance(raised.value, LinkError) and link.retries == 0


def test_request_rejects_a_reply_command():
    link, _ = make_link()
    with pytest.raises(ValueError, match="REPLY bit"):
        link.request(Command.READ | REPLY)


# --- payloads -------------------------------------------------------------------------------


def test_write_and_read_payloads():
    assert pack_read(2, 0x01020304) == bytes((2, 4, 3, 2, 1))
    assert pack_write(1, 3, 0x0A0B, 2) == bytes((1, 3, 0, 0, 0, 0x0B, 0x0A))
    assert pack_write(0, 0, -2, 2)[-2:] == b"\xfe\xff"
    assert unpack_word(b"\xfe\xff", 2, signed=True) == -2
    with pytest.raises(ValueError, match="data 65536 does not fit in 2 bytes"):
        pack_write(0, 0, 1 << 16, 2)
    with pytest.raises(ValueError, match="addr 4294967296 does not fit in 32 bits"):
        pack_read(0, 1 << 32)
    with pytest.raises(ValueError, match="space 256 is not a byte"):
        pack_read(256, 0)
    with pytest.raises(LinkError, match="READ reply of 3 bytes, expected a 4-byte word"):
        unpack_word(b"abc", 4)


@st.composite
def spike_vectors(draw):
    n = draw(st.integers(0, 9000))
    density = draw(st.sampled_from([0.0, 0.01, 0.05, 0.2, 0.6]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (rng.random(n) < density).astype(np.uint8)


@SETTINGS
@given(spike_vectors())
def test_events_payload_is_the_shorter_encoding_and_round_trips(spikes):
    n, k = len(spikes), int(spikes.sum())
    shortest = 1 + min(2 * k, (n + 7) // 8)
    if shortest > MAX_PAYLOAD:
        with pytest.raises(ValueError, match=f"over the {MAX_PAYLOAD} a frame holds"):
            pack_events(spikes)
        return
    payload = pack_events(spikes)
    assert len(payload) == shortest
    assert payload[0] == (EventsFormat.ADDRESSES if 2 * k <= (n + 7) // 8 else EventsFormat.BITMAP)
    np.testing.assert_array_equal(unpack_events(payload, n), spikes)


def test_events_formats():
    assert pack_events([0] * 16) == b"\x00"
    assert pack_events([0, 0, 0, 1] + [0] * 12) == b"\x00\x03\x00"  # tie: addresses
    assert pack_events([1, 0, 1] + [0] * 5 + [1]) == b"\x01\x05\x01"


@pytest.mark.parametrize(
    "payload, inputs, message",
    [
        (b"", 8, "empty"),
        (b"\x02", 8, "format 2 is neither"),
        (b"\x00\x01", 8, "1 bytes is not whole u16s"),
        (b"\x00\x08\x00", 8, "address 8 is out of range for 8 inputs"),
        (b"\x01\x00", 9, "bitmap of 1 bytes, expected 2 for 9 inputs"),
        (b"\x01\x80", 7, "bits beyond its 7 inputs"),
    ],
)
def test_malformed_events_payloads(payload, inputs, message):
    with pytest.raises(ValueError, match=message):
        unpack_events(payload, inputs)
