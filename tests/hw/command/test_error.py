"""`ErrorReply` (hw/command/error.py) against a Python reference: the Deframer's reports become
the error requests the protocol answers them with, and requests, offered at random (the
processor's own, or a report's passed on), become the ERROR replies the buffer sends."""

import pytest
from amaranth import Value
from spikeloom.hw.command.error import ErrorReply
from spikeloom.hw.protocol import MAX_PAYLOAD, REPLY, Command, ErrorCode

from tests.hw.command.common import seeded, simulate

#: Detail bytes of each error code (hw/protocol.py).
DETAIL = {ErrorCode.SEQUENCE: 1, ErrorCode.BAD_LENGTH: 2, ErrorCode.CAPACITY: 4}


def report_request(code: int, seq: int, max_payload: int) -> tuple:
    """(seq, code, detail, length) answering a Deframer's report."""
    if code == ErrorCode.BAD_LENGTH:
        return seq, code, max_payload, 3
    return seq, code, 0, 1


def reply(request: tuple) -> tuple:
    """(seq, command, payload) of the reply to an error request."""
    seq, code, detail, length = request
    return seq, Command.ERROR | REPLY, (bytes((code,)) + detail.to_bytes(4, "little"))[:length]


@pytest.mark.parametrize("max_payload", [MAX_PAYLOAD, 64])
def test_replies_match_reference(max_payload):
    rng, where = seeded("error", max_payload)
    dut = ErrorReply(max_payload=max_payload)
    counts = {"report": 0, "request": 0}

    async def bench(ctx):
        for cycle in range(2000):
            case = f"{where}: cycle {cycle}"
            code = rng.choice([ErrorCode.BAD_CRC, ErrorCode.BAD_LENGTH])
            frame = {"seq": rng.randrange(256), "command": rng.randrange(256)}
            frame["length"] = rng.randrange(1 << 16)
            ctx.set(dut.report, {"code": code, "frame": frame})
            answer = report_request(code, frame["seq"], max_payload)
            got = tuple(
                ctx.get(getattr(dut.report_request, name))
                for name in ("seq", "code", "detail", "length")
            )
            assert got == answer, case

            request = None
            if rng.random() < 0.3:
                request, kind = answer, "report"
            elif rng.random() < 0.5:
                code = rng.choice([*DETAIL, ErrorCode.UNKNOWN_COMMAND, ErrorCode.BUSY])
                length = 1 + DETAIL.get(code, 0)
                detail = rng.randrange(1 << (8 * length - 8))
                request, kind = (rng.randrange(256), code, detail, length), "request"
            ctx.set(dut.i_request.valid, request is not None)
            if request is not None:
                names = ("seq", "code", "detail", "length")
                ctx.set(dut.i_request.payload, dict(zip(names, request)))
            got = None
            if ctx.get(dut.o_reply.valid):
                header = ctx.get(dut.o_reply.payload.header)
                payload = ctx.get(Value.cast(dut.o_reply.payload.payload))
                got = (header.seq, header.command, payload.to_bytes(5, "little")[: header.length])
            assert got == (reply(request) if request else None), f"{case}: {request}"
            if request is not None:
                counts[kind] += 1
            await ctx.tick()

    simulate(dut, bench)
    assert min(counts.values()) > 100, f"{where}: {counts}"
