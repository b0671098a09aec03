"""The board's command processor: verified frames in, replies out, the engine driven in between.

`CommandProcessor` sits between the `Deframer`/`Enframer` pair (hw/framing.py) and the engine
(hw/engine.py) and carries out the commands of hw/protocol.py one frame at a time.

Replies. Every reply a command produces is first written into `reply` (a Memory of
`max_payload` bytes, with its seq/command/length in registers) and then sent from there. A frame
whose seq equals the last one carried out is a retry: the buffer is sent again and nothing else
happens, so no WRITE, EVENTS or RESET ever acts twice. Error replies that did nothing (BAD_CRC,
BAD_LENGTH, UNKNOWN_COMMAND, SEQUENCE, BUSY, CAPACITY of a WRITE or READ) are not written into
the buffer: they go out straight from a register, so a retry of the previous command still finds
its reply.

Sequence numbers (hw/protocol.py). After reset nothing counts as carried out and any seq is new.
Then a frame with seq `last` is a retry, `last + 1` is new, and anything else is answered with
SEQUENCE (detail: `last + 1`) and otherwise ignored. A new frame whose seq can be trusted (its CRC
passed) moves `last` to its seq even when it is answered with an error, because the host numbers
its next command `seq + 1` after an error too. Such an error is not remembered: a retry of that
seq is carried out afresh, which is harmless since the error did nothing. BAD_CRC and BAD_LENGTH
from the Deframer carry a seq that cannot be trusted and move nothing.

EVENTS streams its addresses into the engine as the payload arrives (there is no second copy of
the timestep to check first). So:

- before the first address the controller waits until the engine can take a timestep (its
  `i_events.ready`, which then stays high until the end marker); if that takes `busy_cycles`,
  the answer is BUSY and nothing was sent;
- an odd-length address list or an empty payload is BAD_LENGTH and an unknown format
  UNKNOWN_COMMAND, both decided from the format byte before any address goes out;
- an address >= max_inputs, or an address list holding more than max_inputs entries (repeats),
  is dropped while the others go through, the end marker follows as always so that the engine's
  timestep stays well formed, and the reply is CAPACITY with max_inputs (u32) as detail. That
  timestep did happen, so this one error reply is stored like a success: a retry gets CAPACITY
  again and does not add a second timestep.

Results. Output events go into a FIFO of `fifo_depth` events as the engine produces them. When it
is full the engine waits on `o_events` (its `layer_stalls` count that): backpressure, nothing is
lost. RESULTS moves as many whole events as fit in `max_payload` bytes from the FIFO into the
reply buffer. The default depth, 512 events, is about two full RESULTS replies at the default
build (5-byte events, 204 per reply), so the engine keeps running while one reply is on the line
and the host asks for the next; a deeper FIFO only lets a sample run further ahead of the host.
If it is full and both of the engine's input buffers are too, EVENTS answers BUSY after
`busy_cycles`: the host then reads RESULTS and sends the timestep again.

COUNTERS sends the engine's counters as they are: those of the sample under way, or between
samples those of the last one (the engine clears them when the next sample's first timestep
starts).

RESET pulses `engine_reset` for one cycle (the top level wraps the engine in a ResetInserter) and
empties the result FIFO. The engine keeps the Program: its memories and its global settings
survive the reset.

Lengths. A payload of another length than the command takes is answered BAD_LENGTH with the
length expected (u16): 0 for INFO, RESET, RESULTS and COUNTERS, 5 for READ, 5 + word_bytes for
WRITE; for EVENTS 1 when empty, and the length minus one when an address list ends in half an
address.

WRITE and READ check `space` (0..3) and `addr` (below that space's depth) and answer CAPACITY
with the limit (4 spaces, or the space's depth in words) rather than letting the engine alias the
address. WRITE and READ wait up to `busy_cycles` for the engine's configuration or read port,
which serve only between timesteps, then answer BUSY.
"""

from contextlib import contextmanager
from dataclasses import fields

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.hdl import ResetInserter
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from . import layout
from .framing import FrameBeat, FrameError, FrameHeader
from .interface import EngineSignature
from .params import EngineParams
from .protocol import MAX_PAYLOAD, PROTOCOL_VERSION, REPLY, Command, ErrorCode
from .ram import ram

__all__ = ["CommandProcessor", "word_bytes", "event_bytes", "info_payload"]


def word_bytes(params: EngineParams) -> int:
    """Bytes of a WRITE or READ word: ceil(word_bits / 8)."""
    return -(-layout.word_bits(params) // 8)


def event_bytes(params: EngineParams) -> int:
    """Bytes of one output event in a RESULTS reply."""
    return -(-sum(width for _, width, _ in layout.output_fields(params)) // 8)


def info_payload(params: EngineParams, clock_hz: int) -> bytes:
    """The INFO reply: version, every EngineParams field in dataclass order, the clock (u32s).
    An unset (None) field is sent as 0."""
    values = [getattr(params, f.name) or 0 for f in fields(params)] + [clock_hz]
    return bytes((PROTOCOL_VERSION,)) + b"".join(v.to_bytes(4, "little") for v in values)


class CommandProcessor(wiring.Component):
    """Carries out the commands of hw/protocol.py (see the module docstring for the rules).

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
        p = self.params
        wb, eb = self.word_bytes, self.event_bytes
        counters_bytes = 4 * (1 + 4 * p.max_layers)

        # --- result FIFO, emptied by RESET together with the engine ----------------------------
        fifo = SyncFIFOBuffered(
            width=len(self.engine.o_events.payload.as_value()), depth=self.fifo_depth
        )
        m.submodules.results = ResetInserter(self.engine_reset)(fifo)
        m.d.comb += [
            fifo.w_data.eq(self.engine.o_events.payload.as_value()),
            fifo.w_en.eq(self.engine.o_events.valid),
            self.engine.o_events.ready.eq(fifo.w_rdy),
        ]

        # --- the engine's counters, as COUNTERS sends them (module docstring) ---------------------
        running = self.engine.counters.as_value()

        # --- reply buffer ------------------------------------------------------------------------
        # A reply is either being built (written) or being sent (read), never both.
        m.submodules.reply = reply = ram(shape=8, depth=self.max_payload)
        wp, rp = reply.write_port(), reply.read_port()
        widx = Signal(range(self.max_payload + 1))  # bytes written so far: the reply's length
        m.d.comb += wp.addr.eq(widx)

        # A register whose low byte is the next byte to copy into the buffer or to send. The long
        # replies (INFO, COUNTERS) are copied by byte index instead: a byte multiplexer costs far
        # less logic than a shift register as wide as they are, on every bit of which each
        # source of `stage` would add a multiplexer input.
        stage_bits = 8 * max(wb, eb, 5)
        stage = Signal(stage_bits)
        copy_bytes = max(stage_bits // 8, len(self.info), counters_bytes)
        copy_left = Signal(range(copy_bytes + 1))
        copy_index = Signal(range(copy_bytes))
        copy_from = Signal(2)  # COPY_STAGE, COPY_INFO or COPY_COUNTERS
        COPY_STAGE, COPY_INFO, COPY_COUNTERS = range(3)
        info_byte, counts_byte = Signal(8), Signal(8)
        with m.Switch(copy_index):
            for index, byte in enumerate(self.info):
                with m.Case(index):
                    m.d.comb += info_byte.eq(byte)
        m.d.comb += counts_byte.eq(running.word_select(copy_index, 8))

        # --- sequence state and the reply being sent ---------------------------------------------
        executed = Signal()  # some frame has been carried out since reset
        stored = Signal()  # the buffer holds the reply to `last_seq`
        last_seq = Signal(8)
        stored_cmd, stored_len = Signal(8), Signal(16)
        out = Signal(FrameHeader)  # header of the reply to send
        direct = Signal()  # send the payload from `stage` (errors), not from the buffer
        rep_cmd = Signal(8)  # command byte of the reply being built

        frame = self.i_frame
        beat = frame.payload
        hdr = Signal(FrameHeader)  # the frame being carried out
        seq_next = Signal(8)
        m.d.comb += seq_next.eq(last_seq + 1)

        # --- WRITE / READ requests: payload bytes shifted in, little-endian -------------------
        collect = Signal(8 * (5 + wb))
        req_space, req_addr, req_data = collect[:8], collect[8:40], collect[40:]
        # READ's 5 bytes land in the top of `collect`.
        rd_space, rd_addr = collect[-40:-32], collect[-32:]

        def space_limit(space, addr):
            """(out of range, the limit) for word `addr` of `space`."""
            depths = [p.weight_words, p.neuron_words, p.max_layers, 1]
            limit = Signal(32)
            with m.Switch(space):
                for index, depth in enumerate(depths):
                    with m.Case(index):
                        m.d.comb += limit.eq(depth)
                with m.Default():
                    m.d.comb += limit.eq(len(depths))
            # Registered (the CHECK state waits a cycle for them): a 32-bit comparison is not
            # then in front of the reply's registers.
            bad, limit_r = Signal(), Signal(32)
            m.d.sync += [bad.eq((space >= len(depths)) | (addr >= limit)), limit_r.eq(limit)]
            return bad, limit_r

        write_bad, write_limit = space_limit(req_space, req_addr)
        read_bad, read_limit = space_limit(rd_space, rd_addr)

        wait = Signal(range(self.busy_cycles + 1))  # cycles spent waiting for the engine

        # --- EVENTS decoding ---------------------------------------------------------------------
        ev_bad = Signal()  # an address was dropped: reply CAPACITY
        ev_count = Signal(range(p.max_inputs + 1))
        ev_low = Signal(8)
        ev_bits = Signal(8)  # bitmap byte: bits still to send
        ev_base = Signal(16)  # input number of bit 0 of `ev_bits`
        ev_last = Signal()  # `ev_bits` came from the frame's last beat
        ev = self.engine.i_events.payload

        m.d.sync += self.engine_reset.eq(0)

        def error(code, detail=None):
            """Answer the frame being carried out with an error that is not remembered, sent
            straight from `stage`. `detail` is a Value of whole bytes."""
            detail_bytes = 0 if detail is None else len(detail) // 8
            m.d.sync += [
                out.seq.eq(hdr.seq),
                out.command.eq(Command.ERROR | REPLY),
                out.length.eq(1 + detail_bytes),
                stage.eq(Cat(Const(code, 8), *(() if detail is None else (detail,)))),
                direct.eq(1),
            ]

        def finish():
            """The reply in the buffer is complete: remember it and send it."""
            m.d.sync += [
                stored.eq(1),
                stored_cmd.eq(rep_cmd),
                stored_len.eq(widx),
                out.seq.eq(hdr.seq),
                out.command.eq(rep_cmd),
                out.length.eq(widx),
                direct.eq(0),
            ]
            m.next = "SEND_HEADER"

        def copy(value, count: int, cmd=None, source=COPY_STAGE):
            """Copy the low `count` bytes of `value` (or of `source`) into the buffer, after
            what is there."""
            if source == COPY_STAGE:
                m.d.sync += stage.eq(value)
            m.d.sync += [copy_left.eq(count), copy_index.eq(0), copy_from.eq(source)]
            if cmd is not None:
                m.d.sync += rep_cmd.eq(cmd)
            m.next = "COPY"

        @contextmanager
        def to_engine(port, bad, limit, **payload):
            """Offer a WRITE or READ to the engine's `port`: CAPACITY when out of range, BUSY
            when the engine has not taken it in `busy_cycles`; the body runs when it is taken."""
            with m.If(bad):
                error(ErrorCode.CAPACITY, limit)
                m.next = "SEND_HEADER"
            with m.Else():
                m.d.comb += port.valid.eq(1)
                m.d.comb += [getattr(port.payload, name).eq(v) for name, v in payload.items()]
                m.d.sync += wait.eq(wait + 1)
                with m.If(port.ready):
                    yield
                with m.Elif(wait == self.busy_cycles):
                    error(ErrorCode.BUSY)
                    m.next = "SEND_HEADER"

        def drain_then_send():
            with m.If(beat.last):
                m.next = "SEND_HEADER"
            with m.Else():
                m.next = "DRAIN"

        lengths = {
            Command.INFO: 0,
            Command.WRITE: 5 + wb,
            Command.READ: 5,
            Command.RESET: 0,
            Command.RESULTS: 0,
            Command.COUNTERS: 0,
        }

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += frame.ready.eq(~self.i_error.valid)
                m.d.comb += self.i_error.ready.eq(1)
                with m.If(self.i_error.valid):
                    # The Deframer's reports come before any frame found after them.
                    report = self.i_error.payload
                    m.d.sync += [
                        out.seq.eq(report.frame.seq),
                        out.command.eq(Command.ERROR | REPLY),
                        direct.eq(1),
                    ]
                    with m.If(report.code == ErrorCode.BAD_LENGTH):
                        m.d.sync += [
                            out.length.eq(3),
                            stage.eq(
                                Cat(Const(ErrorCode.BAD_LENGTH, 8), Const(self.max_payload, 16))
                            ),
                        ]
                    with m.Else():
                        m.d.sync += [out.length.eq(1), stage.eq(report.code)]
                    m.next = "SEND_HEADER"
                with m.Elif(frame.valid & beat.header):
                    s = beat.frame.seq
                    m.d.sync += [hdr.eq(beat.frame), widx.eq(0), wait.eq(0)]
                    m.d.sync += [ev_bad.eq(0), ev_count.eq(0), ev_base.eq(0)]
                    retry = executed & stored & (s == last_seq)
                    fresh = ~executed | (s == seq_next) | (s == last_seq)
                    with m.If(retry):
                        m.d.sync += [
                            out.seq.eq(last_seq),
                            out.command.eq(stored_cmd),
                            out.length.eq(stored_len),
                            direct.eq(0),
                        ]
                        drain_then_send()
                    with m.Elif(~fresh):
                        m.d.sync += [
                            out.seq.eq(s),
                            out.command.eq(Command.ERROR | REPLY),
                            out.length.eq(2),
                            stage.eq(Cat(Const(ErrorCode.SEQUENCE, 8), seq_next)),
                            direct.eq(1),
                        ]
                        drain_then_send()
                    with m.Else():
                        # A new command: whatever it gets, the host's next seq follows this one.
                        m.d.sync += [last_seq.eq(s), executed.eq(1), stored.eq(0)]

                        def bad_length(expected):
                            m.d.sync += [
                                out.seq.eq(s),
                                out.command.eq(Command.ERROR | REPLY),
                                out.length.eq(3),
                                stage.eq(Cat(Const(ErrorCode.BAD_LENGTH, 8), Const(expected, 16))),
                                direct.eq(1),
                            ]
                            drain_then_send()

                        length = beat.frame.length
                        with m.Switch(beat.frame.command):
                            for command, expected in lengths.items():
                                with m.Case(command):
                                    with m.If(length != expected):
                                        bad_length(expected)
                                    with m.Else():
                                        m.next = {
                                            Command.INFO: "INFO",
                                            Command.WRITE: "COLLECT",
                                            Command.READ: "COLLECT",
                                            Command.RESET: "RESET",
                                            Command.RESULTS: "RESULTS",
                                            Command.COUNTERS: "COUNTERS",
                                        }[command]
                            with m.Case(Command.EVENTS):
                                with m.If(length == 0):
                                    bad_length(1)
                                with m.Else():
                                    m.next = "EVENTS_WAIT"
                            with m.Default():
                                m.d.sync += [
                                    out.seq.eq(s),
                                    out.command.eq(Command.ERROR | REPLY),
                                    out.length.eq(1),
                                    stage.eq(ErrorCode.UNKNOWN_COMMAND),
                                    direct.eq(1),
                                ]
                                drain_then_send()

            with m.State("DRAIN"):
                m.d.comb += frame.ready.eq(1)
                with m.If(frame.valid & beat.last):
                    m.next = "SEND_HEADER"

            # --- building replies in the buffer ------------------------------------------------
            with m.State("COPY"):
                with m.Switch(copy_from):
                    with m.Case(COPY_INFO):
                        m.d.comb += wp.data.eq(info_byte)
                    with m.Case(COPY_COUNTERS):
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
                    with m.If(hdr.command == Command.RESULTS):
                        m.next = "RESULTS"
                    with m.Else():
                        m.next = "FINISH"

            with m.State("FINISH"):
                finish()

            with m.State("INFO"):
                copy(None, len(self.info), Command.INFO | REPLY, COPY_INFO)

            with m.State("COUNTERS"):
                copy(None, counters_bytes, Command.COUNTERS | REPLY, COPY_COUNTERS)

            with m.State("RESULTS"):
                m.d.sync += rep_cmd.eq(Command.RESULTS | REPLY)
                with m.If(fifo.r_rdy & (widx <= self.max_payload - eb)):
                    m.d.comb += fifo.r_en.eq(1)
                    copy(fifo.r_data, eb)
                with m.Else():
                    m.next = "FINISH"

            with m.State("RESET"):
                m.d.sync += [self.engine_reset.eq(1), rep_cmd.eq(Command.RESET | REPLY)]
                m.next = "RESET_PULSE"
            with m.State("RESET_PULSE"):
                # engine_reset is high in this cycle; the engine is out of reset in the next.
                m.next = "FINISH"

            # --- WRITE and READ -----------------------------------------------------------------
            with m.State("COLLECT"):
                m.d.comb += frame.ready.eq(1)
                with m.If(frame.valid):
                    m.d.sync += collect.eq(Cat(collect[8:], beat.data))
                    with m.If(beat.last):
                        m.next = "CHECK"

            with m.State("CHECK"):
                # The range checks of the request just collected are registered at this edge.
                with m.If(hdr.command == Command.WRITE):
                    m.next = "WRITE"
                with m.Else():
                    m.next = "READ"

            with m.State("WRITE"):
                request = dict(space=req_space, addr=req_addr, data=req_data)
                with to_engine(self.engine.i_config, write_bad, write_limit, **request):
                    m.d.sync += rep_cmd.eq(Command.WRITE | REPLY)
                    m.next = "FINISH"

            with m.State("READ"):
                with to_engine(
                    self.engine.i_read, read_bad, read_limit, addr=rd_addr, space=rd_space
                ):
                    m.next = "READ_WAIT"

            with m.State("READ_WAIT"):
                m.d.comb += self.engine.o_read.ready.eq(1)
                with m.If(self.engine.o_read.valid):
                    copy(self.engine.o_read.payload, wb, Command.READ | REPLY)

            # --- EVENTS -------------------------------------------------------------------------
            with m.State("EVENTS_WAIT"):
                m.d.sync += wait.eq(wait + 1)
                with m.If(self.engine.i_events.ready):
                    m.next = "EVENTS_FORMAT"
                with m.Elif(wait == self.busy_cycles):
                    error(ErrorCode.BUSY)
                    m.next = "DRAIN"

            with m.State("EVENTS_FORMAT"):
                m.d.comb += frame.ready.eq(1)
                with m.If(frame.valid):
                    addresses = hdr.length - 1
                    with m.Switch(beat.data):
                        with m.Case(0):
                            with m.If(addresses[0]):
                                m.d.sync += [
                                    out.seq.eq(hdr.seq),
                                    out.command.eq(Command.ERROR | REPLY),
                                    out.length.eq(3),
                                    stage.eq(Cat(Const(ErrorCode.BAD_LENGTH, 8), addresses[:16])),
                                    direct.eq(1),
                                ]
                                m.next = "DRAIN"
                            with m.Elif(beat.last):
                                m.next = "EVENTS_END"
                            with m.Else():
                                m.next = "EVENTS_LOW"
                        with m.Case(1):
                            with m.If(beat.last):
                                m.next = "EVENTS_END"
                            with m.Else():
                                m.next = "EVENTS_BYTE"
                        with m.Default():
                            error(ErrorCode.UNKNOWN_COMMAND)
                            with m.If(beat.last):
                                m.next = "SEND_HEADER"
                            with m.Else():
                                m.next = "DRAIN"

            with m.State("EVENTS_LOW"):
                m.d.comb += frame.ready.eq(1)
                with m.If(frame.valid):
                    m.d.sync += ev_low.eq(beat.data)
                    m.next = "EVENTS_HIGH"

            with m.State("EVENTS_HIGH"):
                addr = Cat(ev_low, beat.data)
                ok = (addr < p.max_inputs) & (ev_count < p.max_inputs)
                m.d.comb += [ev.addr.eq(addr), ev.end.eq(0)]
                with m.If(ok):
                    m.d.comb += [
                        self.engine.i_events.valid.eq(frame.valid),
                        frame.ready.eq(self.engine.i_events.ready),
                    ]
                with m.Else():
                    m.d.comb += frame.ready.eq(1)
                with m.If(frame.valid & frame.ready):
                    with m.If(ok):
                        m.d.sync += ev_count.eq(ev_count + 1)
                    with m.Else():
                        m.d.sync += ev_bad.eq(1)
                    with m.If(beat.last):
                        m.next = "EVENTS_END"
                    with m.Else():
                        m.next = "EVENTS_LOW"

            with m.State("EVENTS_BYTE"):
                m.d.comb += frame.ready.eq(1)
                with m.If(frame.valid):
                    m.d.sync += [ev_bits.eq(beat.data), ev_last.eq(beat.last)]
                    m.next = "EVENTS_BITS"

            with m.State("EVENTS_BITS"):
                # One cycle per set bit, lowest first.
                lowest = Signal(range(8))
                for bit in reversed(range(8)):
                    with m.If(ev_bits[bit]):
                        m.d.comb += lowest.eq(bit)
                addr = Signal(17)
                m.d.comb += [addr.eq(ev_base + lowest), ev.addr.eq(addr), ev.end.eq(0)]
                ok = addr < p.max_inputs
                with m.If(ev_bits == 0):
                    m.d.sync += ev_base.eq(ev_base + 8)
                    with m.If(ev_last):
                        m.next = "EVENTS_END"
                    with m.Else():
                        m.next = "EVENTS_BYTE"
                with m.Elif(ok):
                    m.d.comb += self.engine.i_events.valid.eq(1)
                    with m.If(self.engine.i_events.ready):
                        m.d.sync += ev_bits.eq(ev_bits & ~(Const(1, 8) << lowest))
                with m.Else():
                    m.d.sync += [ev_bits.eq(ev_bits & ~(Const(1, 8) << lowest)), ev_bad.eq(1)]

            with m.State("EVENTS_END"):
                # Always sent, so that the engine's timestep ends even after a dropped address.
                m.d.comb += [self.engine.i_events.valid.eq(1), ev.end.eq(1)]
                with m.If(self.engine.i_events.ready):
                    with m.If(ev_bad):
                        copy(
                            Cat(Const(ErrorCode.CAPACITY, 8), Const(p.max_inputs, 32)),
                            5,
                            Command.ERROR | REPLY,
                        )
                    with m.Else():
                        m.d.sync += rep_cmd.eq(Command.EVENTS | REPLY)
                        m.next = "FINISH"

            # --- sending the reply --------------------------------------------------------------
            with m.State("SEND_HEADER"):
                m.d.comb += [
                    self.o_header.valid.eq(1),
                    self.o_header.payload.eq(out),
                    rp.addr.eq(0),  # the first payload byte is read while the header goes out
                ]
                m.d.sync += widx.eq(0)
                with m.If(self.o_header.ready):
                    with m.If(out.length == 0):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "SEND_PAYLOAD"

            with m.State("SEND_PAYLOAD"):
                # `rp.data` is the byte at `widx`: the read port is addressed with the next index.
                payload = self.o_payload
                taken = payload.valid & payload.ready
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
                    with m.If(widx + 1 == out.length):
                        m.next = "IDLE"
        return m
