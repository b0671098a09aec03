"""The serial engine: UART, framing, command processor and engine, the gateware behind the host's
link, as a board builds it (`boards.top.BoardTop` adds the PLL and pins) and as it is simulated.

    rx -> UART -> Deframer -> CommandProcessor -> Enframer -> UART -> tx
                                   |  ^
                                   v  |
                        ResetInserter(engine_reset)(Engine)

Pins are passed in (`rx`, `tx` ports), never requested from a platform, so a board file in
`boards/` only wires them to its UART pins. `SerialEngine(..., uart=False)` leaves the UART out and
exposes the byte streams (`i_bytes` from the host, `o_bytes` to it) instead: a simulation then
moves a byte every two cycles (the framing's pace) rather than one per `10 * divisor` cycles,
with the same logic behind.
"""

from amaranth import Module
from amaranth.hdl import ResetInserter
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out, connect, flipped

from .command import CommandProcessor
from .engine import Engine
from .framing import Deframer, Enframer, frame_cycles
from .params import EngineParams
from .protocol import MAX_PAYLOAD
from .uart import UART
from .weights import WeightMemory

__all__ = ["SerialEngine"]


class SerialEngine(wiring.Component):
    """The engine behind the host link, for an engine of `params` clocked at `clock_hz`.

    `divisor` is the UART's clock cycles per bit (`hw.uart.divisor_for`). `idle_timeout`, after
    which the Deframer drops a half-received frame, defaults to the protocol's frame time at that
    divisor (`hw.framing.frame_cycles`). With `uart=False` the ports are `i_bytes`/`o_bytes`
    streams instead of `rx`/`tx` pins, and `divisor` only sets that default.
    `fifo_depth`, `max_payload` and `busy_cycles` are passed to `CommandProcessor`; `images` (from
    `sw.runtime.engine_stream.program_images`) bakes a Program into the engine's memories and
    `weight_memory` makes its weight store (`hw.weights`). `engine` is the Engine instance
    inside, for tests that look at its ports.
    """

    def __init__(
        self,
        params: EngineParams,
        clock_hz: int,
        divisor: int,
        idle_timeout: int | None = None,
        *,
        uart: bool = True,
        fifo_depth: int = 512,
        max_payload: int = MAX_PAYLOAD,
        busy_cycles: int | None = None,
        images: dict | None = None,
        weight_memory=WeightMemory,
    ):
        self.params, self.clock_hz, self.divisor = params, clock_hz, divisor
        self.idle_timeout = idle_timeout or frame_cycles(divisor, max_payload)
        self.uart, self.max_payload = uart, max_payload
        self.engine = Engine(params, images, weight_memory)
        self.controller = CommandProcessor(
            params,
            clock_hz,
            fifo_depth=fifo_depth,
            max_payload=max_payload,
            busy_cycles=busy_cycles,
        )
        if uart:
            ports = {"rx": In(1, init=1), "tx": Out(1, init=1)}
        else:
            ports = {"i_bytes": In(stream.Signature(8)), "o_bytes": Out(stream.Signature(8))}
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        m.submodules.deframer = deframer = Deframer(
            idle_timeout=self.idle_timeout, max_payload=self.max_payload
        )
        m.submodules.enframer = enframer = Enframer()
        m.submodules.controller = controller = self.controller
        # The reset clears the engine's registers (FSM, buffers' pointers, counters); its
        # memories, and so the loaded Program, are not affected.
        engine = self.engine
        m.submodules.engine = ResetInserter(controller.engine_reset)(engine)

        if self.uart:
            m.submodules.uart = uart = UART(self.divisor)
            m.d.comb += [uart.rx.eq(self.rx), self.tx.eq(uart.tx)]
            connect(m, uart.o_data, deframer.i_bytes)
            connect(m, enframer.o_bytes, uart.i_data)
        else:
            connect(m, flipped(self.i_bytes), deframer.i_bytes)
            connect(m, enframer.o_bytes, flipped(self.o_bytes))

        # Two frame beats of buffering between the Deframer and the command processor: a
        # registered stage in both directions, so that the Deframer's state, the processor's
        # decoding and the engine's input handshake are not one combinational path.
        m.submodules.frames = frames = SyncFIFOBuffered(
            width=len(deframer.o_frame.payload.as_value()), depth=2
        )
        m.d.comb += [
            frames.w_data.eq(deframer.o_frame.payload.as_value()),
            frames.w_en.eq(deframer.o_frame.valid),
            deframer.o_frame.ready.eq(frames.w_rdy),
            controller.i_frame.payload.eq(frames.r_data),
            controller.i_frame.valid.eq(frames.r_rdy),
            frames.r_en.eq(controller.i_frame.ready),
        ]
        connect(m, deframer.o_error, controller.i_error)
        connect(m, controller.o_header, enframer.i_header)
        connect(m, controller.o_payload, enframer.i_payload)
        connect(m, controller.engine, engine)
        return m
