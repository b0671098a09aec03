"""The one path of ERROR replies: the Deframer's reports and the processor's own errors."""

from amaranth import Cat, Const, Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..framing import FrameError, FrameHeader
from ..protocol import MAX_ERROR_PAYLOAD, MAX_PAYLOAD, REPLY, Command, ErrorCode

__all__ = ["ErrorRequest", "DirectReply", "ErrorReply"]

#: An error to answer a frame with: `length` payload bytes, `code` then the low `length - 1`
#: bytes of `detail` (little-endian, as every detail is).
ErrorRequest = data.StructLayout(
    {"seq": 8, "code": 8, "detail": 8 * (MAX_ERROR_PAYLOAD - 1), "length": 3}
)

#: A reply sent straight rather than from the reply buffer: its header and payload (the low
#: `header.length` bytes, first byte lowest).
DirectReply = data.StructLayout({"header": FrameHeader, "payload": 8 * MAX_ERROR_PAYLOAD})


class ErrorReply(wiring.Component):
    """Every ERROR reply is made here, one way, for the reply buffer to send straight: error
    replies are not stored (hw/command's docstring: they did nothing, so a retry may carry the
    frame out afresh), and the buffer keeps the previous reply for retries.

    - `report` -> `report_request`: the error request that answers a Deframer's report: BAD_CRC
      with its code alone, BAD_LENGTH with the longest payload accepted (`max_payload`, u16) as
      detail; the seq is the frame's, as received.
    - `i_request` -> `o_reply`: an error request (the processor's own, or `report_request`)
      becomes the reply's header and payload, in the cycle it is offered.

    There is no register here: the reply buffer loads `o_reply` at the clock edge. The processor
    passes `report_request` on through `i_request` in the state where it takes reports, so that
    a report is chosen with the processor's other decisions rather than in front of them.
    """

    def __init__(self, *, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        super().__init__(
            {
                "report": In(FrameError),
                "report_request": Out(ErrorRequest),
                "i_request": In(stream.Signature(ErrorRequest, always_ready=True)),
                "o_reply": Out(stream.Signature(DirectReply, always_ready=True)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        report, answer = self.report, self.report_request
        m.d.comb += answer.seq.eq(report.frame.seq)
        with m.If(report.code == ErrorCode.BAD_LENGTH):
            m.d.comb += [
                answer.code.eq(ErrorCode.BAD_LENGTH),
                answer.detail.eq(Const(self.max_payload, 16)),
                answer.length.eq(3),
            ]
        with m.Else():
            m.d.comb += [answer.code.eq(report.code), answer.length.eq(1)]

        request, reply = self.i_request.payload, self.o_reply.payload
        m.d.comb += [
            self.o_reply.valid.eq(self.i_request.valid),
            reply.header.seq.eq(request.seq),
            reply.header.command.eq(Command.ERROR | REPLY),
            reply.header.length.eq(request.length),
            reply.payload.eq(Cat(request.code, request.detail)),
        ]
        return m
