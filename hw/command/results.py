"""The result packer: output events wait in a FIFO until RESULTS packs them into its reply."""

from amaranth import Module
from amaranth.hdl import ResetInserter
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .. import layout
from ..interface import struct
from ..params import EngineParams
from ..protocol import MAX_PAYLOAD, event_bytes

__all__ = ["ResultPacker"]


class ResultPacker(wiring.Component):
    """The engine's output events (`i_events`) wait in a FIFO of `depth` events; `o_event` offers
    the oldest one while it fits, whole, after the `length` bytes already in a reply of at most
    `max_payload` bytes (`event_bytes` each, `hw.protocol`). `clear` drops every pending event.

    When the FIFO is full the engine waits on `i_events` (its `layer_stalls` count that):
    backpressure, nothing is lost. The RESULTS reply is packed by taking `o_event` and appending
    its bytes to the reply until it offers nothing: then no event is pending or the next one
    would not fit.
    """

    def __init__(self, params: EngineParams, *, depth: int, max_payload: int = MAX_PAYLOAD):
        self.depth, self.max_payload = depth, max_payload
        self.event_bytes = event_bytes(params)
        events = struct(layout.output_fields(params))
        super().__init__(
            {
                "i_events": In(stream.Signature(events)),
                "clear": In(1),
                "length": In(range(max_payload + 1)),
                "o_event": Out(stream.Signature(events.size)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        width = len(self.i_events.payload.as_value())
        fifo = SyncFIFOBuffered(width=width, depth=self.depth)
        m.submodules.fifo = ResetInserter(self.clear)(fifo)
        m.d.comb += [
            fifo.w_data.eq(self.i_events.payload.as_value()),
            fifo.w_en.eq(self.i_events.valid),
            self.i_events.ready.eq(fifo.w_rdy),
            self.o_event.payload.eq(fifo.r_data),
            # Whole events only: one that does not fit stays for the next RESULTS.
            self.o_event.valid.eq(
                fifo.r_rdy & (self.length <= self.max_payload - self.event_bytes)
            ),
            fifo.r_en.eq(self.o_event.valid & self.o_event.ready),
        ]
        return m
