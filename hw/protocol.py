"""The serial link protocol, shared by the board's gateware and the host: no Amaranth here.

Every message, in both directions, is one frame:

    SYNC | seq | command | length (2 bytes, little-endian) | payload (length bytes) | crc (2, LE)

`crc` is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no final
xor) over `seq`, `command`, `length` and `payload`, i.e. every byte after SYNC. A receiver hunts
for SYNC, so after any garbage the next valid frame is understood.

The host numbers its commands `seq = 0, 1, 2, ...` (mod 256); the board answers each with the
same `seq`, `command | REPLY` and the command's reply payload, or with `ERROR` and a payload of
one error code plus detail bytes. A command whose `seq` repeats the last one the board carried
out is a retry: the board sends that reply again without acting twice. After reset the board has
carried out nothing, so any first `seq` is new. Once it has, a `seq` that is neither the last nor
the next gets `SEQUENCE` with the expected seq; the host adopts it and sends again.

Error replies to a frame with a good CRC still make its `seq` the last one (the host numbers its
next command after it), but are not stored: a retry of that seq is carried out again, harmless
because the error changed nothing. The exception is an EVENTS `CAPACITY` error, whose timestep
did happen (the bad addresses were dropped): it is stored like a success. `SEQUENCE`, `BAD_CRC`
and a deframer's `BAD_LENGTH` (their seq cannot be trusted) move nothing.

Receivers (both sides) resume hunting at the byte after a SYNC whose frame failed its CRC or
declared a length over MAX_PAYLOAD, and drop a half-received frame after an idle gap of a frame
time, so a stray SYNC in garbage cannot swallow the frames that follow.

Byte orders: every multi-byte field is little-endian. EVENTS format 0 is a list of u16 input
addresses; format 1 is a bitmap, input i in bit i % 8 of byte i // 8. A READ reply's word width is
that of the memory space read (`hw.layout`), which both sides know from the engine's parameters.

The sizes that follow from an engine's parameters (`word_bytes`, `event_bytes`, `counters_bytes`,
`info_payload`, `request_lengths`) are computed here too, from `hw.layout`, which is also plain
Python.
"""

from dataclasses import fields

from . import layout
from .params import EngineParams

__all__ = [
    "SYNC",
    "HEADER_BYTES",
    "CRC_BYTES",
    "MAX_PAYLOAD",
    "REPLY",
    "PROTOCOL_VERSION",
    "Command",
    "ErrorCode",
    "MAX_ERROR_PAYLOAD",
    "EventsFormat",
    "ADDRESS_BYTES",
    "crc16",
    "word_bytes",
    "event_bytes",
    "counters_bytes",
    "info_payload",
    "request_lengths",
]

SYNC = 0xA5
HEADER_BYTES = 5  # SYNC, seq, command, length (2)
CRC_BYTES = 2
#: Longest payload either side sends or accepts; a longer `length` is an error.
MAX_PAYLOAD = 1024
#: Set in a reply's command byte.
REPLY = 0x80


#: Sent first in the INFO reply.
PROTOCOL_VERSION = 2


class Command:
    """Command codes and their payloads. All integers little-endian; `word_bytes` is
    ceil(hw.layout.word_bits(params) / 8) and `event_bytes` ceil(output bits / 8).

    - INFO: -> version (u8), then the engine's EngineParams fields as u32 in dataclass order
      (lanes, max_layers, max_inputs, max_neurons, weight_words, max_v_bits, max_weight_bits,
      max_timesteps, current_bits, sweep_lanes with 0 for "all lanes", max_burst), then the
      clock frequency in Hz (u32).
    - WRITE: space (u8), addr (u32), word (word_bytes) -> nothing. Another length: BAD_LENGTH
      with the expected length (u16) as detail.
    - READ: space (u8), addr (u32) -> the word (word_bytes).
    - RESET: -> nothing. Resets the engine (membranes, buffers, counters) and drops pending
      results; the loaded Program stays.
    - EVENTS: format (u8, `EventsFormat`: 0 = u16 addresses, 1 = bitmap, input i in bit i % 8
      of byte i // 8) and one timestep of input spikes -> nothing; the board adds the
      end-of-timestep marker.
      An address >= max_inputs: CAPACITY with max_inputs (u32) as detail.
    - RESULTS: -> as many whole pending output events (`hw.layout.output_fields`, packed into
      event_bytes each) as fit in MAX_PAYLOAD, oldest first; empty when none are pending.
    - COUNTERS: -> cycles (u32), then layer_cycles, layer_events, layer_synops, layer_stalls,
      max_layers u32 values each: the counters of the sample in progress, or, between samples,
      those of the last sample (captured when its SAMPLE_END left the engine).
    """

    INFO = 0x01
    WRITE = 0x02
    READ = 0x03
    RESET = 0x04
    EVENTS = 0x05
    RESULTS = 0x06
    COUNTERS = 0x07
    #: Reply only (sent as ERROR | REPLY = 0xFF): code (u8), detail.
    ERROR = 0x7F


class ErrorCode:
    BAD_CRC = 0x01
    UNKNOWN_COMMAND = 0x02
    CAPACITY = 0x03  # detail: the limit that was exceeded (u32, LE)
    SEQUENCE = 0x04  # detail: the seq the board expected (1)
    BAD_LENGTH = 0x05  # detail: the length expected, or the largest accepted (u16, LE)
    BUSY = 0x06  # the engine did not take the command in time (EVENTS: the results are full)


#: The longest ERROR payload: the code and a u32 detail.
MAX_ERROR_PAYLOAD = 5


class EventsFormat:
    """An EVENTS payload's first byte."""

    ADDRESSES = 0  # u16 input addresses
    BITMAP = 1  # input i in bit i % 8 of byte i // 8


#: A WRITE's or READ's space (u8) and addr (u32): all of a READ, the start of a WRITE.
ADDRESS_BYTES = 5


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of `data` (check value of b"123456789": 0x29B1)."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def word_bytes(params: EngineParams) -> int:
    """Bytes of a WRITE or READ word: ceil(word_bits / 8)."""
    return -(-layout.word_bits(params) // 8)


def event_bytes(params: EngineParams) -> int:
    """Bytes of one output event in a RESULTS reply."""
    return -(-sum(width for _, width, _ in layout.output_fields(params)) // 8)


def counters_bytes(params: EngineParams) -> int:
    """Bytes of the COUNTERS reply: `hw.layout.counter_fields`, u32 each."""
    return sum(width for _, width, _ in layout.counter_fields(params)) // 8


def info_payload(params: EngineParams, clock_hz: int) -> bytes:
    """The INFO reply: version, every EngineParams field in dataclass order, the clock (u32s).
    An unset (None) field is sent as 0."""
    values = [getattr(params, f.name) or 0 for f in fields(params)] + [clock_hz]
    return bytes((PROTOCOL_VERSION,)) + b"".join(v.to_bytes(4, "little") for v in values)


def request_lengths(params: EngineParams) -> dict[int, int]:
    """The payload length of every command that takes just one; EVENTS takes 1 or more."""
    return {
        Command.INFO: 0,
        Command.WRITE: ADDRESS_BYTES + word_bytes(params),
        Command.READ: ADDRESS_BYTES,
        Command.RESET: 0,
        Command.RESULTS: 0,
        Command.COUNTERS: 0,
    }
