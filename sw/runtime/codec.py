"""The link's codec (docs/link.md): frames and their decoder, command payloads, the link's
errors. Pure functions and data over bytes, with no I/O: `sw.runtime.link.Link` does the talking.
"""

import binascii
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from spikeloom.hw.protocol import (
    ADDRESS_BYTES,
    CRC_BYTES,
    HEADER_BYTES,
    MAX_PAYLOAD,
    REPLY,
    SYNC,
    Command,
    ErrorCode,
    EventsFormat,
)
from spikeloom.sw.errors import SpikeloomError

__all__ = [
    "MAX_FRAME",
    "crc16",
    "encode_frame",
    "Frame",
    "FrameDecoder",
    "LinkError",
    "BadCrc",
    "BadLength",
    "BoardError",
    "SequenceError",
    "LinkTimeout",
    "LinkLost",
    "command_name",
    "pack_write",
    "pack_read",
    "unpack_word",
    "pack_events",
    "unpack_events",
]

#: Longest frame on the wire.
MAX_FRAME = HEADER_BYTES + MAX_PAYLOAD + CRC_BYTES
#: The board's reply to a header whose length field exceeds MAX_PAYLOAD.
OVERLONG_FRAME_ERROR = bytes((ErrorCode.BAD_LENGTH,)) + MAX_PAYLOAD.to_bytes(2, "little")
#: EVENTS payload formats (the payload's first byte).


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """`hw.protocol.crc16`, computed in C: CRC-16/CCITT-FALSE is binascii's CRC-HQX from 0xFFFF."""
    return binascii.crc_hqx(data, crc)


def _check_byte(name: str, value: int):
    if not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise ValueError(f"{name} {value!r} is not a byte (0..255)")


def encode_frame(seq: int, command: int, payload: bytes = b"") -> bytes:
    """The frame carrying `payload` as command `command` numbered `seq`."""
    _check_byte("seq", seq)
    _check_byte("command", command)
    payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD} a frame holds")
    body = bytes((seq, command)) + len(payload).to_bytes(2, "little") + payload
    return bytes((SYNC,)) + body + crc16(body).to_bytes(CRC_BYTES, "little")


@dataclass(frozen=True)
class Frame:
    """One frame that passed its CRC check."""

    seq: int
    command: int
    payload: bytes = b""


# --- errors ---------------------------------------------------------------------------------


def command_name(command: int) -> str:
    """`command`'s name ("READ", "READ reply", "ERROR reply"), or its number in hex."""
    names = {v: k for k, v in vars(Command).items() if not k.startswith("_")}
    base = names.get(command & ~REPLY)
    if base is None:
        return f"0x{command:02x}"
    return base + (" reply" if command & REPLY else "")


class LinkError(SpikeloomError):
    """Something went wrong on the serial link to the board."""


class BadCrc(LinkError):
    """A frame (header as received: `seq`, `command`, `length`) failed its CRC check."""

    def __init__(self, seq: int, command: int, length: int):
        self.seq, self.command, self.length = seq, command, length
        super().__init__(
            f"frame seq {seq}, command {command_name(command)}, {length} bytes: "
            "bad CRC (garbled on the link)"
        )


class BadLength(LinkError):
    """A frame header announced a payload longer than MAX_PAYLOAD (garbage or a garbled length)."""

    def __init__(self, seq: int, command: int, length: int):
        self.seq, self.command, self.length = seq, command, length
        super().__init__(
            f"frame seq {seq}, command {command_name(command)}: length {length} exceeds the "
            f"{MAX_PAYLOAD} bytes a frame holds"
        )


_ERROR_NAMES = {
    ErrorCode.BAD_CRC: "a bad CRC in the frame it received",
    ErrorCode.UNKNOWN_COMMAND: "an unknown command",
    ErrorCode.CAPACITY: "capacity exceeded",
    ErrorCode.SEQUENCE: "a sequence error",
    ErrorCode.BAD_LENGTH: "a bad length",
    ErrorCode.BUSY: "busy",
}


def _describe_error(code: int | None, detail: bytes) -> str:
    if code is None:
        return "an error without a code"
    text = _ERROR_NAMES.get(code, f"error 0x{code:02x}")
    if code == ErrorCode.CAPACITY and len(detail) >= 4:
        text += f": limit {int.from_bytes(detail[:4], 'little')}"
    elif code == ErrorCode.SEQUENCE and len(detail) >= 1:
        text += f": expected seq {detail[0]}"
    elif code == ErrorCode.BAD_LENGTH and len(detail) >= 2:
        text += f": at most {int.from_bytes(detail[:2], 'little')} bytes accepted"
    elif detail:
        text += f" (detail {detail.hex()})"
    return text


class BoardError(LinkError):
    """The board answered with an ERROR reply: `code` (an ErrorCode, or None if the reply had no
    payload) and its `detail` bytes."""

    def __init__(
        self,
        code: int | None,
        detail: bytes = b"",
        *,
        command: int | None = None,
        seq: int | None = None,
    ):
        self.code, self.detail, self.command, self.seq = code, bytes(detail), command, seq
        message = "board reports " + _describe_error(code, self.detail)
        if command is not None:
            message += f" (command {command_name(command)}"
            message += f", seq {seq})" if seq is not None else ")"
        super().__init__(message)

    @classmethod
    def from_payload(cls, payload: bytes, **context) -> "BoardError":
        """The error an ERROR reply's payload describes (SequenceError for a SEQUENCE code)."""
        if not payload:
            return cls(None, b"", **context)
        if payload[0] == ErrorCode.SEQUENCE:
            return SequenceError(payload[1:], **context)
        return cls(payload[0], payload[1:], **context)


class SequenceError(BoardError):
    """The board expected another seq (`expected`, None if the reply did not say)."""

    def __init__(self, detail: bytes = b"", **context):
        super().__init__(ErrorCode.SEQUENCE, detail, **context)
        self.expected = detail[0] if detail else None


class LinkTimeout(LinkError):
    """The board stopped answering."""

    def __init__(self, seconds: float, *, samples_completed: int | None = None, detail: str = ""):
        self.seconds, self.samples_completed = seconds, samples_completed
        message = f"the board stopped answering after {seconds:.3g} s"
        if samples_completed is not None:
            message += f"; samples completed: {samples_completed}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class LinkLost(LinkError):
    """The transport itself failed: the serial port went away (a board unplugged, the other
    side of a pseudo-terminal closed), the simulator ended. Unlike a `LinkTimeout` no retry can
    help; the message names the cause."""


# --- decoding -------------------------------------------------------------------------------


class FrameDecoder:
    """Splits a byte stream into frames and link errors, recovering after any garbage.

    It hunts for SYNC and reads a header; a frame whose CRC fails gives a BadCrc event and a
    header with an oversized length a BadLength event, and either way hunting resumes at the byte
    after that SYNC, so a SYNC inside garbage cannot swallow a following valid frame. At most one
    frame's worth of bytes (MAX_FRAME) stays `pending` between calls.
    """

    def __init__(self):
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back: the start of a frame that has not fully arrived."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame | LinkError]:
        """Frames and errors completed by `data`, in stream order."""
        buf = self._buffer
        buf += data
        events: list[Frame | LinkError] = []
        pos = 0
        while True:
            pos = buf.find(SYNC, pos)
            if pos < 0:
                pos = len(buf)
                break
            if len(buf) - pos < HEADER_BYTES:
                break
            seq, command = buf[pos + 1], buf[pos + 2]
            length = buf[pos + 3] | buf[pos + 4] << 8
            if length > MAX_PAYLOAD:
                events.append(BadLength(seq, command, length))
                pos += 1
                continue
            end = pos + HEADER_BYTES + length + CRC_BYTES
            if len(buf) < end:
                break
            body = bytes(buf[pos + 1 : end - CRC_BYTES])
            if crc16(body) == buf[end - 2] | buf[end - 1] << 8:
                events.append(Frame(seq, command, body[HEADER_BYTES - 1 :]))
                pos = end
            else:
                events.append(BadCrc(seq, command, length))
                pos += 1
        del buf[:pos]
        return events

    def resync(self) -> list[Frame | LinkError]:
        """Give up on the frame now pending (its rest is not coming) and hunt in the bytes after
        its SYNC; the frames and errors found there."""
        if not self._buffer:
            return []
        del self._buffer[:1]
        return self.feed(b"")


# --- payloads -------------------------------------------------------------------------------


def _check_u32(name: str, value: int):
    if not isinstance(value, int) or not 0 <= value < 1 << 32:
        raise ValueError(f"{name} {value!r} does not fit in 32 bits")


def pack_read(space: int, addr: int) -> bytes:
    """READ request payload: space (1), addr (4, LE)."""
    _check_byte("space", space)
    _check_u32("addr", addr)
    return bytes((space,)) + addr.to_bytes(4, "little")


def pack_write(space: int, addr: int, data: int, width: int) -> bytes:
    """WRITE request payload: space (1), addr (4, LE), `data` as a `width`-byte LE word (a
    negative `data` is written in two's complement)."""
    if not isinstance(width, int) or not 1 <= width <= MAX_PAYLOAD - ADDRESS_BYTES:
        raise ValueError(f"word width {width!r} is not 1..{MAX_PAYLOAD - ADDRESS_BYTES} bytes")
    bits = 8 * width
    if not isinstance(data, int) or not -(1 << (bits - 1)) <= data < 1 << bits:
        raise ValueError(f"data {data!r} does not fit in {width} bytes")
    return pack_read(space, addr) + (data & ((1 << bits) - 1)).to_bytes(width, "little")


def unpack_word(payload: bytes, width: int, signed: bool = False) -> int:
    """The word in a READ reply, which must be `width` bytes."""
    if len(payload) != width:
        raise LinkError(f"READ reply of {len(payload)} bytes, expected a {width}-byte word")
    return int.from_bytes(payload, "little", signed=signed)


def pack_events(spikes: Iterable) -> bytes:
    """EVENTS payload for one timestep's spike vector (truthy = spike), in the shorter format:
    u16 LE addresses in ascending order (format 0; preferred on a tie) or a bitmap, neuron i in
    bit i % 8 of byte i // 8 (format 1)."""
    spikes = np.asarray(spikes).reshape(-1).astype(bool)
    addresses = np.flatnonzero(spikes)
    list_bytes = 2 * len(addresses) if len(spikes) <= 1 << 16 else None
    bitmap_bytes = (len(spikes) + 7) // 8
    if list_bytes is not None and list_bytes <= bitmap_bytes:
        payload = bytes((EventsFormat.ADDRESSES,)) + addresses.astype("<u2").tobytes()
    else:
        payload = bytes((EventsFormat.BITMAP,)) + np.packbits(spikes, bitorder="little").tobytes()
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(
            f"a timestep of {len(spikes)} inputs with {len(addresses)} spikes needs an EVENTS "
            f"payload of {len(payload)} bytes, over the {MAX_PAYLOAD} a frame holds"
        )
    return payload


def unpack_events(payload: bytes, inputs: int) -> np.ndarray:
    """The spike vector (uint8, `inputs` long) an EVENTS payload describes; ValueError, naming
    the problem, if it is malformed."""
    if not payload:
        raise ValueError("EVENTS payload is empty (no format byte)")
    form, data = payload[0], bytes(payload[1:])
    spikes = np.zeros(inputs, np.uint8)
    if form == EventsFormat.ADDRESSES:
        if len(data) % 2:
            raise ValueError(f"EVENTS address list of {len(data)} bytes is not whole u16s")
        addresses = np.frombuffer(data, "<u2")
        if len(addresses) and addresses.max() >= inputs:
            raise ValueError(
                f"EVENTS address {addresses.max()} is out of range for {inputs} inputs"
            )
        spikes[addresses] = 1
    elif form == EventsFormat.BITMAP:
        if len(data) != (inputs + 7) // 8:
            raise ValueError(
                f"EVENTS bitmap of {len(data)} bytes, expected {(inputs + 7) // 8} for {inputs} "
                "inputs"
            )
        bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
        if bits[inputs:].any():
            raise ValueError(f"EVENTS bitmap sets bits beyond its {inputs} inputs")
        spikes[:] = bits[:inputs]
    else:
        raise ValueError(f"EVENTS format {form} is neither 0 (addresses) nor 1 (bitmap)")
    return spikes
