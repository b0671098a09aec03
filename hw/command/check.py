"""The frame checks: what to do with a frame, from its header and the sequence numbers so far."""

from amaranth import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..framing import FrameHeader
from ..params import EngineParams
from ..protocol import Command, request_lengths

__all__ = ["Verdict", "FrameCheck"]

#: What `FrameCheck` makes of the header offered. At most one of `retry`, `sequence` and `new`
#: is set; `bad_length` and `unknown` describe a new frame.
Verdict = data.StructLayout(
    {
        "retry": 1,  # the seq of the reply stored: send that reply again, do nothing else
        "sequence": 1,  # neither the last seq nor the next: SEQUENCE with `seq_next`
        "new": 1,  # a frame to carry out (its seq becomes the last one when it is taken)
        "bad_length": 1,  # a length the command does not take: BAD_LENGTH with `expected`
        "unknown": 1,  # no such command: UNKNOWN_COMMAND
        "expected": 16,  # the length the command takes (EVENTS: 1, when it is empty)
        "seq_next": 8,  # the seq expected next
        "last_seq": 8,  # the seq of the frame carried out last
    }
)


class FrameCheck(wiring.Component):
    """Decides what to do with the frame whose `header` is offered (hw/command's docstring).

    After reset no frame counts as carried out, so any seq is new. Then a frame with the last
    seq is a retry when the reply buffer holds that seq's reply (`stored`; else it is carried out
    afresh), the next seq is new, and any other seq gets SEQUENCE. `take` says the frame is taken
    now: a new frame's seq becomes the last one, whatever answer it gets, because the host numbers
    its next command after an error too. Every output is combinational in `header`, `stored` and
    the sequence registers, so the processor acts on the header in the cycle it is offered.
    """

    header: In(FrameHeader)
    take: In(1)
    stored: In(1)
    verdict: Out(Verdict)

    def __init__(self, params: EngineParams):
        self.lengths = request_lengths(params)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        executed = Signal()  # some frame has been carried out since reset
        last_seq = Signal(8)
        v, seq = self.verdict, self.header.seq
        m.d.comb += [v.seq_next.eq(last_seq + 1), v.last_seq.eq(last_seq)]

        retry = executed & self.stored & (seq == last_seq)
        fresh = ~executed | (seq == v.seq_next) | (seq == last_seq)
        # A retry's seq is the last one, so it is fresh: `sequence` is never set with `retry`.
        m.d.comb += [v.retry.eq(retry), v.sequence.eq(~fresh), v.new.eq(fresh & ~retry)]
        with m.If(self.take & v.new):
            m.d.sync += [last_seq.eq(seq), executed.eq(1)]

        length = self.header.length
        with m.Switch(self.header.command):
            for command, expected in self.lengths.items():
                with m.Case(command):
                    m.d.comb += [v.bad_length.eq(length != expected), v.expected.eq(expected)]
            with m.Case(Command.EVENTS):
                m.d.comb += [v.bad_length.eq(length == 0), v.expected.eq(1)]
            with m.Default():
                m.d.comb += v.unknown.eq(1)
        return m
