"""The command processor: verified frames in, replies out, the engine driven in between.

It only sequences: the frame checks, the WRITE/READ requests, the EVENTS unpacker, the result
packer, the error replies and the reply buffer are the components next to this module
(hw/command's docstring gives the protocol's rules they carry out). Its states are the steps of
a command: take a frame (IDLE, DRAIN), build a reply (INFO, COUNTERS, RESULTS, RESET, APPEND,
FINISH), reach the engine (COLLECT, CHECK, WRITE, READ, READ_WAIT, EVENTS_WAIT, EVENTS) and
send it (SEND).
"""

from contextlib import contextmanager

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from ..framing import FrameBeat, FrameError, FrameHeader
from ..interface import EngineSignature
from ..params import EngineParams
from ..protocol import (
    MAX_ERROR_PAYLOAD,
    MAX_PAYLOAD,
    REPLY,
    Command,
    ErrorCode,
    counters_bytes,
    event_bytes,
    info_payload,
    word_bytes,
)
from .access import AccessRequest
from .check import FrameCheck
from .error import ErrorReply
from .events import EventsUnpacker
from .reply import ReplyBuffer, Source
from .results import ResultPacker

__all__ = ["CommandProcessor"]


class _Steps:
    """The steps the processor's states are made of, in module `m`: each drives the components
    for the cycle it is called in and picks the next state."""

    def __init__(self, m, *, beat, hdr, rep_cmd, wait, busy_cycles, errors, reply):
        self.m, self.beat, self.hdr, self.rep_cmd = m, beat, hdr, rep_cmd
        self.wait, self.busy_cycles = wait, busy_cycles
        self.errors, self.reply = errors, reply

    def error(self, seq, code, detail=None):
        """Answer with an error that is not remembered (`ErrorReply`); `detail` is a Value of
        whole bytes. The reply is sent at the next `send`."""
        detail_bytes = 0 if detail is None else len(detail) // 8
        request = self.errors.i_request
        self.m.d.comb += [
            request.valid.eq(1),
            request.payload.seq.eq(seq),
            request.payload.code.eq(code),
            request.payload.length.eq(1 + detail_bytes),
        ]
        if detail is not None:
            self.m.d.comb += request.payload.detail.eq(detail)

    def request(self, request):
        """Answer with the error `request` (an `ErrorRequest`), as `error` does."""
        self.m.d.comb += [
            self.errors.i_request.valid.eq(1),
            self.errors.i_request.payload.eq(request),
        ]

    def send(self):
        self.m.d.comb += self.reply.send.eq(1)
        self.m.next = "SEND"

    def drain_then_send(self):
        """Send once the frame's last beat is taken: now, or after draining the rest."""
        with self.m.If(self.beat.last):
            self.send()
        with self.m.Else():
            self.m.next = "DRAIN"

    def append(self, value, count: int, cmd=None, source=Source.STAGE, then="APPEND"):
        """Copy the low `count` bytes of `value` (or of `source`) into the reply buffer, after
        what is there; `cmd` is the command byte of the reply being built."""
        append = self.reply.i_append
        self.m.d.comb += [
            append.valid.eq(1),
            append.payload.source.eq(source),
            append.payload.count.eq(count),
        ]
        if value is not None:
            self.m.d.comb += append.payload.value.eq(value)
        if cmd is not None:
            self.m.d.sync += self.rep_cmd.eq(cmd)
        self.m.next = then

    @contextmanager
    def to_engine(self, port, bad, limit, **payload):
        """Offer a WRITE or READ to the engine's `port`: CAPACITY when out of range, BUSY when
        the engine has not taken it in `busy_cycles`; the body runs when it is taken."""
        m = self.m
        with m.If(bad):
            self.error(self.hdr.seq, ErrorCode.CAPACITY, limit)
            self.send()
        with m.Else():
            m.d.comb += port.valid.eq(1)
            m.d.comb += [getattr(port.payload, name).eq(v) for name, v in payload.items()]
            m.d.sync += self.wait.eq(self.wait + 1)
            with m.If(port.ready):
                yield
            with m.Elif(self.wait == self.busy_cycles):
                self.error(self.hdr.seq, ErrorCode.BUSY)
                self.send()


class CommandProcessor(wiring.Component):
    """Carries out the commands of hw/protocol.py (see hw/command's docstring for the rules).

    `i_frame`/`i_error` come from a `Deframer`, `o_header`/`o_payload` go to an `Enframer`;
    `engine` is the engine's own signature flipped (`hw.interface.EngineSignature`), joined to
    the engine with one `connect`, and `engine_reset` drives the engine's ResetInserter.
    """

    def __init__(
        self,
        params: EngineParams,
        clock_hz: int,
        *,
        fifo_depth: int = 512,
        max_payload: int = MAX_PAYLOAD,
        busy_cycles: int | None = None,
    ):
        if not isinstance(clock_hz, int) or not 0 < clock_hz < 1 << 32:
            raise ValueError(f"clock_hz {clock_hz!r} must be an int in 1..2**32-1")
        if not isinstance(fifo_depth, int) or fifo_depth < 1:
            raise ValueError(f"fifo_depth {fifo_depth!r} must be an int of at least 1")
        self.params, self.clock_hz = params, clock_hz
        self.fifo_depth, self.max_payload = fifo_depth, max_payload
        #: Cycles READ and EVENTS wait for the engine before answering BUSY (default 1 ms).
        self.busy_cycles = busy_cycles if busy_cycles is not None else max(clock_hz // 1000, 16)
        self.word_bytes, self.event_bytes = word_bytes(params), event_bytes(params)
        self.info = info_payload(params, clock_hz)
        for name, size in (("INFO", len(self.info)), ("READ", self.word_bytes)):
            if size > max_payload:
                raise ValueError(
                    f"a {name} reply of {size} bytes exceeds max_payload {max_payload}"
                )
        if self.event_bytes > max_payload:
            raise ValueError(f"an output event of {self.event_bytes} bytes exceeds max_payload")
        super().__init__(
            {
                "i_frame": In(stream.Signature(FrameBeat)),
                "i_error": In(stream.Signature(FrameError)),
                "o_header": Out(stream.Signature(FrameHeader)),
                "o_payload": Out(stream.Signature(8)),
                "engine": Out(EngineSignature(params).flip()),
                "engine_reset": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p, engine = self.params, self.engine
        wb, eb = self.word_bytes, self.event_bytes
        frame = self.i_frame
        beat = frame.payload

        m.submodules.check = check = FrameCheck(p)
        m.submodules.access = access = AccessRequest(p)
        m.submodules.events = events = EventsUnpacker(p)
        m.submodules.results = results = ResultPacker(
            p, depth=self.fifo_depth, max_payload=self.max_payload
        )
        m.submodules.errors = errors = ErrorReply(max_payload=self.max_payload)
        m.submodules.reply = reply = ReplyBuffer(
            info=self.info,
            counters_bytes=counters_bytes(p),
            value_bytes=max(wb, eb),
            max_payload=self.max_payload,
        )

        hdr = Signal(FrameHeader)  # the frame being carried out
        rep_cmd = Signal(8)  # command byte of the reply being built
        wait = Signal(range(self.busy_cycles + 1))  # cycles spent waiting for the engine
        m.d.sync += self.engine_reset.eq(0)

        # Every header offered is checked. The EVENTS unpacker reads the frame while it is busy
        # (its `ready` is low otherwise); the states below take the other beats.
        m.d.comb += [
            check.header.eq(beat.frame),
            check.stored.eq(reply.stored),
            access.i_bytes.payload.eq(beat.data),
            events.length.eq(hdr.length),
            events.i_payload.payload.data.eq(beat.data),
            events.i_payload.payload.last.eq(beat.last),
            events.i_payload.valid.eq(frame.valid),
            frame.ready.eq(events.i_payload.ready),
        ]
        connect(m, events.o_events, flipped(engine.i_events))
        # The result FIFO is emptied by RESET together with the engine.
        connect(m, flipped(engine.o_events), results.i_events)
        m.d.comb += [results.clear.eq(self.engine_reset), results.length.eq(reply.length)]
        # COUNTERS sends the engine's counters as they are (hw/command's docstring).
        m.d.comb += reply.counters.eq(engine.counters.as_value())
        m.d.comb += errors.report.eq(self.i_error.payload)
        connect(m, errors.o_reply, reply.i_error)
        connect(m, reply.o_header, flipped(self.o_header))
        connect(m, reply.o_payload, flipped(self.o_payload))

        steps = _Steps(
            m,
            beat=beat,
            hdr=hdr,
            rep_cmd=rep_cmd,
            wait=wait,
            busy_cycles=self.busy_cycles,
            errors=errors,
            reply=reply,
        )
        with m.FSM():
            self._take_frames(m, steps, check)
            self._build_replies(m, steps, results)
            self._write_read(m, steps, access)
            self._events(m, steps, events)
        return m

    def _take_frames(self, m, steps, check):
        """IDLE: answer the Deframer's reports and decide what to do with each frame; DRAIN:
        take the rest of a frame that is answered already."""
        frame, beat, reply = self.i_frame, self.i_frame.payload, steps.reply
        with m.State("IDLE"):
            m.d.comb += [frame.ready.eq(~self.i_error.valid), self.i_error.ready.eq(1)]
            with m.If(self.i_error.valid):
                # The Deframer's reports come before any frame found after them.
                steps.request(steps.errors.report_request)
                steps.send()
            with m.Elif(frame.valid & beat.header):
                s, verdict = beat.frame.seq, check.verdict
                m.d.sync += [steps.hdr.eq(beat.frame), steps.wait.eq(0)]
                m.d.comb += [check.take.eq(1), reply.new.eq(1)]
                with m.If(verdict.retry):
                    m.d.comb += [reply.resend.eq(1), reply.seq.eq(verdict.last_seq)]
                    steps.drain_then_send()
                with m.Elif(verdict.sequence):
                    steps.error(s, ErrorCode.SEQUENCE, verdict.seq_next)
                    steps.drain_then_send()
                with m.Else():
                    # A new command: whatever it gets, the host's next seq follows this one.
                    m.d.comb += reply.forget.eq(1)
                    with m.If(verdict.bad_length):
                        steps.error(s, ErrorCode.BAD_LENGTH, verdict.expected)
                        steps.drain_then_send()
                    with m.Elif(verdict.unknown):
                        steps.error(s, ErrorCode.UNKNOWN_COMMAND)
                        steps.drain_then_send()
                    with m.Else():
                        with m.Switch(beat.frame.command):
                            for command, state in {
                                Command.INFO: "INFO",
                                Command.WRITE: "COLLECT",
                                Command.READ: "COLLECT",
                                Command.RESET: "RESET",
                                Command.EVENTS: "EVENTS_WAIT",
                                Command.RESULTS: "RESULTS",
                                Command.COUNTERS: "COUNTERS",
                            }.items():
                                with m.Case(command):
                                    m.next = state

        with m.State("DRAIN"):
            m.d.comb += frame.ready.eq(1)
            with m.If(frame.valid & beat.last):
                steps.send()

    def _build_replies(self, m, steps, results):
        """The replies built in the buffer (INFO, COUNTERS, RESULTS, RESET), and sending."""
        reply = steps.reply
        with m.State("APPEND"):
            with m.If(reply.appended):
                m.next = "FINISH"

        with m.State("FINISH"):
            # The reply in the buffer is complete: remember it and send it.
            m.d.comb += [
                reply.store.eq(1),
                reply.seq.eq(steps.hdr.seq),
                reply.command.eq(steps.rep_cmd),
            ]
            steps.send()

        with m.State("SEND"):
            with m.If(reply.sent):
                m.next = "IDLE"

        with m.State("INFO"):
            steps.append(None, len(self.info), Command.INFO | REPLY, Source.INFO)

        with m.State("COUNTERS"):
            count = counters_bytes(self.params)
            steps.append(None, count, Command.COUNTERS | REPLY, Source.COUNTERS)

        with m.State("RESULTS"):
            m.d.sync += steps.rep_cmd.eq(Command.RESULTS | REPLY)
            m.d.comb += results.o_event.ready.eq(1)
            with m.If(results.o_event.valid):
                steps.append(results.o_event.payload, self.event_bytes, then="RESULTS_APPEND")
            with m.Else():
                m.next = "FINISH"

        with m.State("RESULTS_APPEND"):
            with m.If(reply.appended):
                m.next = "RESULTS"

        with m.State("RESET"):
            m.d.sync += [self.engine_reset.eq(1), steps.rep_cmd.eq(Command.RESET | REPLY)]
            m.next = "RESET_PULSE"
        with m.State("RESET_PULSE"):
            # engine_reset is high in this cycle; the engine is out of reset in the next.
            m.next = "FINISH"

    def _write_read(self, m, steps, access):
        """WRITE and READ: collect the request, check it, offer it to the engine."""
        frame, beat, engine = self.i_frame, self.i_frame.payload, self.engine
        with m.State("COLLECT"):
            m.d.comb += [frame.ready.eq(1), access.i_bytes.valid.eq(frame.valid)]
            with m.If(frame.valid & beat.last):
                m.next = "CHECK"

        with m.State("CHECK"):
            # The range checks of the request just collected are registered at this edge.
            with m.If(steps.hdr.command == Command.WRITE):
                m.next = "WRITE"
            with m.Else():
                m.next = "READ"

        with m.State("WRITE"):
            write = access.write
            request = dict(space=write.space, addr=write.addr, data=access.data)
            with steps.to_engine(engine.i_config, access.write_bad, access.write_limit, **request):
                m.d.sync += steps.rep_cmd.eq(Command.WRITE | REPLY)
                m.next = "FINISH"

        with m.State("READ"):
            read = access.read
            request = dict(addr=read.addr, space=read.space)
            with steps.to_engine(engine.i_read, access.read_bad, access.read_limit, **request):
                m.next = "READ_WAIT"

        with m.State("READ_WAIT"):
            m.d.comb += engine.o_read.ready.eq(1)
            with m.If(engine.o_read.valid):
                steps.append(engine.o_read.payload, self.word_bytes, Command.READ | REPLY)

    def _events(self, m, steps, events):
        """EVENTS: wait until the engine can take a timestep, then let the unpacker stream it."""
        hdr, engine = steps.hdr, self.engine
        with m.State("EVENTS_WAIT"):
            m.d.sync += steps.wait.eq(steps.wait + 1)
            with m.If(engine.i_events.ready):
                m.d.comb += events.start.eq(1)
                m.next = "EVENTS"
            with m.Elif(steps.wait == self.busy_cycles):
                steps.error(hdr.seq, ErrorCode.BUSY)
                m.next = "DRAIN"

        with m.State("EVENTS"):
            with m.If(events.bad_length):
                steps.error(hdr.seq, ErrorCode.BAD_LENGTH, events.expected)
                m.next = "DRAIN"
            with m.Elif(events.unknown):
                steps.error(hdr.seq, ErrorCode.UNKNOWN_COMMAND)
                steps.drain_then_send()
            with m.Elif(events.done):
                with m.If(events.dropped):
                    # That timestep did happen: this one error reply is stored like a success,
                    # so a retry gets CAPACITY again and adds no second timestep.
                    limit = Const(self.params.max_inputs, 32)
                    capacity = Cat(Const(ErrorCode.CAPACITY, 8), limit)
                    steps.append(capacity, MAX_ERROR_PAYLOAD, Command.ERROR | REPLY)
                with m.Else():
                    m.d.sync += steps.rep_cmd.eq(Command.EVENTS | REPLY)
                    m.next = "FINISH"
