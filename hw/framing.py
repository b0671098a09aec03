"""The board side of the link's framing (hw/protocol.py): bytes to verified frames and back.

Both blocks are `amaranth.lib.stream` stages between the UART's byte streams and the link
controller; the UART itself sits outside.

- `Deframer` turns received bytes into frames that passed their CRC check, and reports frames
  that failed it (or announced too long a payload) on `o_error`, so the controller can answer
  them with an ERROR reply. It follows the receiver rules of hw/protocol.py exactly as the host's
  `sw.runtime.codec.FrameDecoder` does, which the tests use as its reference model.
- `Enframer` wraps a reply that the controller produces byte by byte: SYNC, header, the payload
  as it comes, and the CRC computed on the way.
- `crc16_next` is the CRC-16/CCITT-FALSE update for one byte, as logic.
"""

from functools import reduce
from operator import xor
from types import SimpleNamespace

from amaranth import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .protocol import CRC_BYTES, HEADER_BYTES, MAX_PAYLOAD, SYNC, ErrorCode, crc16
from .ram import ram

__all__ = [
    "FrameHeader",
    "FrameBeat",
    "FrameError",
    "crc16_next",
    "frame_cycles",
    "Deframer",
    "Enframer",
]

#: A frame's header as the wire carries it (without SYNC).
FrameHeader = data.StructLayout({"seq": 8, "command": 8, "length": 16})

#: One beat of a verified frame. Each frame is a `header` beat (its `data` is 0) followed by its
#: `length` payload bytes; `last` marks the frame's final beat (the header beat itself when the
#: payload is empty), and `frame` holds the header on every beat of the frame.
FrameBeat = data.StructLayout({"data": 8, "header": 1, "last": 1, "frame": FrameHeader})

#: A frame that was rejected: `code` is ErrorCode.BAD_CRC or ErrorCode.BAD_LENGTH, `frame` the
#: header as received (for BAD_LENGTH, `length` is the oversized value announced).
FrameError = data.StructLayout({"code": 8, "frame": FrameHeader})


def _crc16_columns() -> list[int]:
    # The per-byte update is linear over GF(2) in (crc, byte): its effect on each of the 24 input
    # bits alone says which inputs every output bit XORs together.
    columns = [crc16(b"\0", 1 << i) for i in range(16)]
    columns += [crc16(bytes((1 << i,)), 0) for i in range(8)]
    return columns


_CRC16_COLUMNS = _crc16_columns()


def crc16_next(crc, byte) -> Value:
    """CRC-16/CCITT-FALSE `crc` (16 bits) updated with `byte` (8 bits): a flat XOR per output
    bit, derived from `hw.protocol.crc16` so that both sides cannot disagree. Start from 0xFFFF."""
    crc, byte = Value.cast(crc), Value.cast(byte)
    inputs = [crc[i] for i in range(16)] + [byte[i] for i in range(8)]
    return Cat(
        *(
            reduce(xor, [bit for bit, col in zip(inputs, _CRC16_COLUMNS) if col >> j & 1])
            for j in range(16)
        )
    )


def frame_cycles(divisor: int, max_payload: int = MAX_PAYLOAD) -> int:
    """Clock cycles the longest frame takes on a UART line of `divisor` cycles per bit: the
    protocol's "frame time", a natural `idle_timeout` for `Deframer`."""
    return (HEADER_BYTES + max_payload + CRC_BYTES) * 10 * divisor


class Deframer(wiring.Component):
    """Bytes from the host on `i_bytes`, verified frames on `o_frame`, rejected ones on `o_error`.

    The CRC comes after the payload, so a frame can only be passed on once it has fully arrived.
    Every received byte therefore goes into `buffer`, a circular Memory of `depth` bytes (the
    next power of two at or above 1.5 longest frames), and a parser reads them back from it, one
    every two cycles. The parser works like `sw.runtime.codec.FrameDecoder`:

    - it hunts for SYNC, then reads seq, command and length;
    - a length over `max_payload` is reported as BAD_LENGTH as soon as it is read;
    - otherwise it reads the payload and CRC. A good CRC releases the frame from the buffer on
      `o_frame`; a bad one is reported as BAD_CRC;
    - after either error, hunting resumes at the byte after that frame's SYNC: the bytes after
      it are still in the buffer and are parsed again. So a SYNC in garbage whose "frame" runs
      over a real frame only costs an error, and the real frame is found on the re-scan;
    - a candidate frame still incomplete `idle_timeout` clock cycles after the last byte came
      in is dropped without a report, and hunting resumes at the byte after its SYNC (as
      `FrameDecoder.resync` does). The timer restarts when it fires, so a long gap drops one
      candidate per `idle_timeout` cycles. `frame_cycles` gives the protocol's frame time.

    A frame's bytes stay in the buffer from its SYNC until it is released or rejected; bytes
    before that are free. `i_bytes.ready` is low only when the buffer is full, which takes at
    least half a longest frame arriving while `o_frame` is held up. At UART speed the parser and
    the release (a byte every two cycles) are far quicker than the line, so a controller that
    takes a frame's beats within a few byte times never makes the UART receiver (which holds one
    byte) overrun.

    Re-scanning costs the parser up to two cycles per byte of a longest frame per rejected
    candidate whose length was plausible (an oversized one is rejected after its header). Line
    noise rarely forms such candidates; should a flood of them ever outrun the parser, the buffer
    fills, the UART drops bytes, and the host's retries cover the loss.

    `o_error` holds one report. One found while the previous one has not been taken is dropped:
    the parser never waits for the controller's error replies, so garbage full of SYNC bytes
    cannot stall the valid frames behind it. A lost report costs the host a timeout and a resend.
    """

    i_bytes: In(stream.Signature(8))
    o_frame: Out(stream.Signature(FrameBeat))
    o_error: Out(stream.Signature(FrameError))

    def __init__(self, *, idle_timeout: int, max_payload: int = MAX_PAYLOAD):
        if not isinstance(max_payload, int) or not 1 <= max_payload <= 0xFFFF:
            raise ValueError(f"max_payload {max_payload!r} must be an int in 1..65535")
        if not isinstance(idle_timeout, int) or idle_timeout < 1:
            raise ValueError(f"idle_timeout {idle_timeout!r} must be an int of at least 1 cycle")
        self.max_payload, self.idle_timeout = max_payload, idle_timeout
        longest = HEADER_BYTES + max_payload + CRC_BYTES
        self.depth = 1 << ceil_log2(longest + longest // 2)
        super().__init__()

    def _buffer(self, m: Module) -> SimpleNamespace:
        """The circular byte buffer, its positions, and the idle timer: what the parser reads."""
        abits = ceil_log2(self.depth)
        # The byte being written is never read in the same cycle: see `here`.
        m.submodules.buffer = buffer = ram(shape=8, depth=self.depth)
        wp = buffer.write_port()
        # Not transparent: a byte written at the address being read is taken a cycle later (see
        # `here`), so the block RAM needs no bypass logic behind its address.
        rp = buffer.read_port()

        # Positions count bytes since reset, with one bit more than the address so that a full
        # buffer (wr - start == depth) differs from an empty one.
        wr = Signal(abits + 1)  # where the next received byte goes
        start = Signal(abits + 1)  # first byte still needed: the candidate frame's SYNC
        ptr = Signal(abits + 1)  # the byte the parser (or the release) is at
        fill = Signal(abits + 1)
        m.d.comb += fill.eq(wr - start)

        take = Signal()
        m.d.comb += [
            self.i_bytes.ready.eq(~fill[abits]),
            take.eq(self.i_bytes.valid & self.i_bytes.ready),
            wp.addr.eq(wr[:abits]),
            wp.data.eq(self.i_bytes.payload),
            wp.en.eq(take),
        ]
        with m.If(take):
            m.d.sync += wr.eq(wr + 1)

        # The read port is addressed by the register `ptr` itself, so no decision (nor the
        # controller's readiness) sits in front of the block RAM's address. Its data is the byte
        # at `ptr` once `ptr` has stayed put for a cycle (`settled`): two cycles a byte, for the
        # parser and the release alike, far quicker than a UART line.
        advance, jump = Signal(), Signal()
        target = Signal.like(ptr)
        m.d.comb += rp.addr.eq(ptr[:abits])
        m.d.sync += ptr.eq(Mux(jump, target, ptr + advance))
        byte, here, settled = rp.data, Signal(), Signal()
        # `here`: the byte at `ptr` had arrived when the data now on the port was read. A byte
        # written in the very cycle it is read shows up a cycle later, when `here` rises too.
        m.d.sync += [here.eq(ptr != wr), settled.eq(~advance & ~jump)]

        # Cycles since the last byte came in, saturating at idle_timeout.
        idle = Signal(range(self.idle_timeout + 1))
        expired = idle == self.idle_timeout
        with m.If(take):
            m.d.sync += idle.eq(0)
        with m.Elif(~expired):
            m.d.sync += idle.eq(idle + 1)
        return SimpleNamespace(
            ptr=ptr,
            start=start,
            advance=advance,
            jump=jump,
            target=target,
            byte=byte,
            here=here,
            settled=settled,
            idle=idle,
            expired=expired,
        )

    def elaborate(self, platform):
        m = Module()
        window = self._buffer(m)
        ptr, start, byte, here, settled = (
            window.ptr,
            window.start,
            window.byte,
            window.here,
            window.settled,
        )
        advance, jump, target = window.advance, window.jump, window.target
        idle, expired = window.idle, window.expired

        seq, command = Signal(8), Signal(8)
        length = Signal(16)
        count = Signal(range(self.max_payload + 1))  # payload bytes still to read or release
        crc, crc_low = Signal(16, init=0xFFFF), Signal(8)

        # A rejected frame, loaded into `o_error` unless a report is still waiting there.
        report, report_code, report_length = Signal(), Signal(8), Signal(16)
        error = self.o_error
        with m.If(error.ready):
            m.d.sync += error.valid.eq(0)
        with m.If(report & (~error.valid | error.ready)):
            m.d.sync += [
                error.valid.eq(1),
                error.payload.code.eq(report_code),
                error.payload.frame.seq.eq(seq),
                error.payload.frame.command.eq(command),
                error.payload.frame.length.eq(report_length),
            ]

        beat = self.o_frame.payload
        m.d.comb += [
            beat.frame.seq.eq(seq),
            beat.frame.command.eq(command),
            beat.frame.length.eq(length),
        ]

        def rehunt():
            """Give up on this candidate: hunt again from the byte after its SYNC."""
            m.d.comb += [jump.eq(1), target.eq(start + 1)]
            m.next = "HUNT"

        def read_byte(next_state: str):
            """Take the byte at `ptr` into the CRC if it has arrived; drop the candidate if it
            has not and the line has been idle too long."""
            with m.If(settled & here):
                m.d.comb += advance.eq(1)
                m.d.sync += crc.eq(crc16_next(crc, byte))
                m.next = next_state
            with m.Elif(settled & expired):
                m.d.sync += idle.eq(0)  # one drop per idle_timeout cycles
                rehunt()

        with m.FSM():
            with m.State("HUNT"):
                m.d.sync += start.eq(ptr)  # nothing before this byte is needed any more
                with m.If(settled & here):
                    m.d.comb += advance.eq(1)
                    with m.If(byte == SYNC):
                        m.d.sync += crc.eq(0xFFFF)
                        m.next = "SEQ"
            with m.State("SEQ"):
                read_byte("COMMAND")
                with m.If(settled & here):
                    m.d.sync += seq.eq(byte)
            with m.State("COMMAND"):
                read_byte("LENGTH_LOW")
                with m.If(settled & here):
                    m.d.sync += command.eq(byte)
            with m.State("LENGTH_LOW"):
                read_byte("LENGTH_HIGH")
                with m.If(settled & here):
                    m.d.sync += length[:8].eq(byte)
            with m.State("LENGTH_HIGH"):
                announced = Cat(length[:8], byte)
                read_byte("PAYLOAD")
                with m.If(settled & here):
                    m.d.sync += [length.eq(announced), count.eq(announced)]
                    with m.If(announced > self.max_payload):
                        m.d.comb += [
                            report.eq(1),
                            report_code.eq(ErrorCode.BAD_LENGTH),
                            report_length.eq(announced),
                        ]
                        rehunt()
                    with m.Elif(announced == 0):
                        m.next = "CRC_LOW"
            with m.State("PAYLOAD"):
                read_byte("PAYLOAD")
                with m.If(settled & here):
                    m.d.sync += count.eq(count - 1)
                    with m.If(count == 1):
                        m.next = "CRC_LOW"
            with m.State("CRC_LOW"):
                with m.If(settled & here):
                    m.d.comb += advance.eq(1)
                    m.d.sync += crc_low.eq(byte)
                    m.next = "CRC_HIGH"
                with m.Elif(settled & expired):
                    m.d.sync += idle.eq(0)
                    rehunt()
            with m.State("CRC_HIGH"):
                with m.If(settled & here):
                    with m.If(Cat(crc_low, byte) == crc):
                        # Release the payload from the buffer, from the byte after the header.
                        m.d.comb += [jump.eq(1), target.eq(start + HEADER_BYTES)]
                        m.d.sync += count.eq(length)
                        m.next = "RELEASE_HEADER"
                    with m.Else():
                        m.d.comb += [
                            report.eq(1),
                            report_code.eq(ErrorCode.BAD_CRC),
                            report_length.eq(length),
                        ]
                        rehunt()
                with m.Elif(settled & expired):
                    m.d.sync += idle.eq(0)
                    rehunt()
            with m.State("RELEASE_HEADER"):
                m.d.comb += [
                    self.o_frame.valid.eq(1),
                    beat.header.eq(1),
                    beat.last.eq(length == 0),
                ]
                with m.If(self.o_frame.ready):
                    with m.If(length == 0):
                        m.d.comb += [jump.eq(1), target.eq(ptr + CRC_BYTES)]
                        m.next = "HUNT"
                    with m.Else():
                        m.next = "RELEASE_PAYLOAD"
            with m.State("RELEASE_PAYLOAD"):
                m.d.comb += [
                    self.o_frame.valid.eq(settled),
                    beat.data.eq(byte),
                    beat.last.eq(count == 1),
                ]
                with m.If(settled & self.o_frame.ready):
                    m.d.sync += count.eq(count - 1)
                    with m.If(count == 1):
                        # Past the CRC: the next frame may start right after it.
                        m.d.comb += [jump.eq(1), target.eq(ptr + 1 + CRC_BYTES)]
                        m.next = "HUNT"
                    with m.Else():
                        m.d.comb += advance.eq(1)
        return m


class Enframer(wiring.Component):
    """Sends one frame for each header taken on `i_header`: SYNC, the header, then exactly
    `length` payload bytes taken from `i_payload` as they come, then the CRC.

    A controller can thus stream a reply it produces byte by byte, as long as it knows the length
    up front (the header goes out first). It must supply exactly `length` bytes and keep `length`
    within the receiver's MAX_PAYLOAD; nothing here checks either. `o_bytes` comes from a
    register, one byte every two cycles at most (far quicker than a UART line), and frames follow
    each other without a gap.
    """

    i_header: In(stream.Signature(FrameHeader))
    i_payload: In(stream.Signature(8))
    o_bytes: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        out = self.o_bytes
        header = Signal(FrameHeader)
        crc = Signal(16)
        count = Signal(16)  # payload bytes still to send

        # `load` puts `byte` into the output register once it is empty. Not also "being taken":
        # then the UART's readiness would reach through here into the controller in one cycle.
        room, load, byte, covered = Signal(), Signal(), Signal(8), Signal()
        m.d.comb += room.eq(~out.valid)
        with m.If(out.ready):
            m.d.sync += out.valid.eq(0)
        with m.If(load):
            m.d.sync += [out.valid.eq(1), out.payload.eq(byte)]
            with m.If(covered):  # the CRC covers every byte after SYNC up to itself
                m.d.sync += crc.eq(crc16_next(crc, byte))

        def send(value, next_state: str, crc_covered=True):
            m.d.comb += [byte.eq(value), load.eq(room), covered.eq(crc_covered)]
            with m.If(room):
                m.next = next_state

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [
                    self.i_header.ready.eq(room),
                    byte.eq(SYNC),
                    load.eq(self.i_header.valid & room),
                ]
                with m.If(self.i_header.valid & room):
                    m.d.sync += [header.eq(self.i_header.payload), crc.eq(0xFFFF)]
                    m.next = "SEQ"
            with m.State("SEQ"):
                send(header.seq, "COMMAND")
            with m.State("COMMAND"):
                send(header.command, "LENGTH_LOW")
            with m.State("LENGTH_LOW"):
                send(header.length[:8], "LENGTH_HIGH")
            with m.State("LENGTH_HIGH"):
                send(header.length[8:], "PAYLOAD")
                m.d.sync += count.eq(header.length)
                with m.If(room & (header.length == 0)):
                    m.next = "CRC_LOW"
            with m.State("PAYLOAD"):
                m.d.comb += [
                    self.i_payload.ready.eq(room),
                    byte.eq(self.i_payload.payload),
                    load.eq(self.i_payload.valid & room),
                    covered.eq(1),
                ]
                with m.If(self.i_payload.valid & room):
                    m.d.sync += count.eq(count - 1)
                    with m.If(count == 1):
                        m.next = "CRC_LOW"
            with m.State("CRC_LOW"):
                send(crc[:8], "CRC_HIGH", crc_covered=False)
            with m.State("CRC_HIGH"):
                send(crc[8:], "IDLE", crc_covered=False)
        return m
