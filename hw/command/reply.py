"""The reply buffer: every reply is built here, then sent, and the last one stays for retries."""

from amaranth import Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..framing import FrameHeader
from ..protocol import MAX_ERROR_PAYLOAD, MAX_PAYLOAD
from ..ram import ram
from .error import DirectReply

__all__ = ["Source", "ReplyBuffer"]


class Source(enum.Enum, shape=2):
    """Where `ReplyBuffer` copies an append's bytes from."""

    STAGE = 0  # the append's `value`, low byte first
    INFO = 1  # the INFO reply, by byte index
    COUNTERS = 2  # the `counters` input, by byte index


class _State(enum.Enum, shape=2):
    IDLE = 0
    COPY = 1  # copying an append into the buffer
    HEADER = 2  # sending the header
    PAYLOAD = 3  # sending the payload


class ReplyBuffer(wiring.Component):
    """The reply to the frame being carried out: built in a Memory of `max_payload` bytes, then
    sent; the reply last stored stays there, with its command and length, for a retry.

    Building (`length` bytes so far):

    - `new`: start an empty reply.
    - `i_append`: copy `count` bytes after what is there, one a cycle: from `value`, low byte
      first, or by byte index from `info` (the INFO reply) or the `counters` input. `appended`
      is high in the cycle the last one goes in.

    Choosing what to send (the header is kept in a register until the next choice):

    - `store`: the reply built is complete: remember it as the reply to `seq`, with `command`,
      and make it the one to send. `stored` stays high until `forget`.
    - `resend`: make the stored reply the one to send, with `seq`.
    - `i_error`: make this error reply the one to send, straight from a register: it is not
      stored, so a retry of the previous command still finds its reply.

    Sending: `send` starts it; `o_header` then `o_payload` carry the reply, and `sent` is high in
    the cycle its last beat is taken.

    `i_append`, `i_error` and the strobes are taken in any cycle they are offered, and are
    offered only between copies and sends: the processor asks for one thing at a time.
    """

    def __init__(
        self,
        *,
        info: bytes,
        counters_bytes: int,
        value_bytes: int,
        max_payload: int = MAX_PAYLOAD,
    ):
        self.info, self.max_payload = info, max_payload
        # A register whose low byte is the next byte to copy into the buffer or to send. The long
        # replies (INFO, COUNTERS) are copied by byte index instead: a byte multiplexer costs far
        # less logic than a shift register as wide as they are, on every bit of which each
        # source of `stage` would add a multiplexer input.
        self.stage_bits = 8 * max(value_bytes, MAX_ERROR_PAYLOAD)
        self.copy_bytes = max(self.stage_bits // 8, len(info), counters_bytes)
        append = data.StructLayout(
            {"source": Source, "count": range(self.copy_bytes + 1), "value": self.stage_bits}
        )
        super().__init__(
            {
                "new": In(1),
                "i_append": In(stream.Signature(append, always_ready=True)),
                "appended": Out(1),
                "length": Out(range(max_payload + 1)),
                "counters": In(8 * counters_bytes),
                "store": In(1),
                "forget": In(1),
                "stored": Out(1),
                "resend": In(1),
                "seq": In(8),
                "command": In(8),
                "i_error": In(stream.Signature(DirectReply, always_ready=True)),
                "send": In(1),
                "sent": Out(1),
                "o_header": Out(stream.Signature(FrameHeader)),
                "o_payload": Out(stream.Signature(8)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        # A reply is either being built (written) or being sent (read), never both.
        m.submodules.memory = memory = ram(shape=8, depth=self.max_payload)
        wp, rp = memory.write_port(), memory.read_port()
        widx = Signal(range(self.max_payload + 1))  # bytes written so far: the reply's length
        m.d.comb += [wp.addr.eq(widx), self.length.eq(widx)]

        stage = Signal(self.stage_bits)
        copy_left = Signal(range(self.copy_bytes + 1))
        copy_index = Signal(range(self.copy_bytes))
        copy_from = Signal(Source)
        info_byte, counts_byte = Signal(8), Signal(8)
        with m.Switch(copy_index):
            for index, byte in enumerate(self.info):
                with m.Case(index):
                    m.d.comb += info_byte.eq(byte)
        m.d.comb += counts_byte.eq(self.counters.word_select(copy_index, 8))

        stored = Signal()  # the buffer holds the reply to the last seq
        stored_cmd, stored_len = Signal(8), Signal(16)
        out = Signal(FrameHeader)  # header of the reply to send
        direct = Signal()  # send the payload from `stage` (errors), not from the buffer
        m.d.comb += self.stored.eq(stored)

        # The state is kept by hand rather than with `m.FSM`, so that the strobes that start a
        # copy or a send (the processor's decisions, the deepest logic here) can come last,
        # in front of the state register, rather than inside the state multiplexer.
        state = Signal(_State)
        copying, in_header, in_payload = (
            state == s for s in (_State.COPY, _State.HEADER, _State.PAYLOAD)
        )

        with m.If(copying):
            with m.Switch(copy_from):
                with m.Case(Source.INFO):
                    m.d.comb += wp.data.eq(info_byte)
                with m.Case(Source.COUNTERS):
                    m.d.comb += wp.data.eq(counts_byte)
                with m.Default():
                    m.d.comb += wp.data.eq(stage[:8])
            m.d.comb += wp.en.eq(1)
            m.d.sync += [
                stage.eq(stage[8:]),
                copy_index.eq(copy_index + 1),
                widx.eq(widx + 1),
                copy_left.eq(copy_left - 1),
            ]
            with m.If(copy_left == 1):
                m.d.sync += state.eq(_State.IDLE)
        m.d.comb += self.appended.eq(copying & (copy_left == 1))

        with m.If(in_header):
            m.d.comb += [
                self.o_header.valid.eq(1),
                self.o_header.payload.eq(out),
                rp.addr.eq(0),  # the first payload byte is read while the header goes out
            ]
            m.d.sync += widx.eq(0)
            with m.If(self.o_header.ready):
                with m.If(out.length == 0):
                    m.d.sync += state.eq(_State.IDLE)
                with m.Else():
                    m.d.sync += state.eq(_State.PAYLOAD)

        # `rp.data` is the byte at `widx`: the read port is addressed with the next index.
        payload = self.o_payload
        taken = payload.valid & payload.ready
        last = widx + 1 == out.length
        with m.If(in_payload):
            nxt = Signal.like(widx)
            m.d.comb += [
                payload.valid.eq(1),
                payload.payload.eq(Mux(direct, stage[:8], rp.data)),
                nxt.eq(widx + taken),
                rp.addr.eq(nxt),
            ]
            m.d.sync += widx.eq(nxt)
            with m.If(taken):
                m.d.sync += stage.eq(stage[8:])
                with m.If(last):
                    m.d.sync += state.eq(_State.IDLE)
        m.d.comb += self.sent.eq(
            (in_header & self.o_header.ready & (out.length == 0)) | (in_payload & taken & last)
        )

        # The loads come last, so that they are the last multiplexers in front of the registers:
        # their selects (the processor's decisions) and an error's payload are the deepest
        # logic here. They never coincide with each other or with a copy or a send.
        with m.If(self.new):
            m.d.sync += widx.eq(0)
        with m.If(self.forget):
            m.d.sync += stored.eq(0)
        with m.If(self.resend):
            m.d.sync += [
                out.seq.eq(self.seq),
                out.command.eq(stored_cmd),
                out.length.eq(stored_len),
                direct.eq(0),
            ]
        with m.If(self.store):
            m.d.sync += [
                stored.eq(1),
                stored_cmd.eq(self.command),
                stored_len.eq(widx),
                out.seq.eq(self.seq),
                out.command.eq(self.command),
                out.length.eq(widx),
                direct.eq(0),
            ]
        with m.If(self.i_append.valid):
            append = self.i_append.payload
            m.d.sync += [
                state.eq(_State.COPY),
                stage.eq(append.value),
                copy_left.eq(append.count),
                copy_index.eq(0),
                copy_from.eq(append.source),
            ]
        with m.If(self.i_error.valid):
            error = self.i_error.payload
            m.d.sync += [out.eq(error.header), stage.eq(error.payload), direct.eq(1)]
        with m.If(self.send):
            m.d.sync += state.eq(_State.HEADER)
        return m
