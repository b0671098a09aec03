"""The input receiver: the host's events into a double buffer, one timestep per buffer.

The receiver fills one buffer with timestep t+1 while the layers compute timestep t from the
other, so streaming input overlaps computing.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .. import layout
from ..interface import struct
from ..params import EngineParams
from ..ram import ram
from .ports import EventReadSignature

__all__ = ["InputReceiver"]


class InputReceiver(wiring.Component):
    """Two input buffers: the host fills one while the layers read the other.

    - `i_events`: the host's events (`hw.layout.input_fields`): a timestep's addresses, then
      `end`; taken while the buffer they go to is free;
    - `full` / `count`: the buffer of the timestep being computed is complete, and holds
      `count` events;
    - `release`: the layers are done with those events: the buffer goes back to the host (which
      may fill it with the timestep after next, so `full` means nothing until `step_done`);
    - `step_done`: the timestep is over: from the next cycle the layers read the other buffer;
    - `events`: the layers' reads of the buffer of the timestep being computed.
    """

    def __init__(self, params: EngineParams):
        self.params = params
        super().__init__(
            {
                "i_events": In(stream.Signature(struct(layout.input_fields(params)))),
                "full": Out(1),
                "count": Out(range(params.max_inputs + 1)),
                "release": In(1),
                "step_done": In(1),
                "events": In(EventReadSignature(params)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        # No read races a write to the same word: the receiver and the layers use different
        # buffers.
        buffers = [ram(shape=p.address_bits, depth=p.max_inputs) for _ in range(2)]
        for i, buffer in enumerate(buffers):
            m.submodules[f"input{i}"] = buffer
        input_rd = [b.read_port() for b in buffers]
        input_wr = [b.write_port() for b in buffers]

        recv_buf = Signal()  # the buffer the host fills
        recv_ptr = Signal(range(p.max_inputs + 1))
        step_buf = Signal()  # the buffer of the timestep being computed
        full = Signal(2)  # input buffer i holds a complete timestep
        input_count = [Signal(range(p.max_inputs + 1), name=f"input_count{i}") for i in range(2)]
        release = Signal(2)  # the layers are done with input buffer i
        events = self.i_events
        m.d.comb += events.ready.eq(~full.bit_select(recv_buf, 1))
        accept = events.valid & events.ready
        for i, wr in enumerate(input_wr):
            m.d.comb += [
                wr.addr.eq(recv_ptr),
                wr.data.eq(events.payload.addr),
                wr.en.eq(accept & ~events.payload.end & (recv_buf == i)),
            ]
        with m.If(accept):
            with m.If(events.payload.end):
                m.d.sync += [recv_buf.eq(~recv_buf), recv_ptr.eq(0)]
                for i in range(2):
                    with m.If(recv_buf == i):
                        m.d.sync += input_count[i].eq(recv_ptr)
            with m.Else():
                m.d.sync += recv_ptr.eq(recv_ptr + 1)
        # A buffer fills only while empty and is released only while full: never both at once.
        for i in range(2):
            with m.If(accept & events.payload.end & (recv_buf == i)):
                m.d.sync += full[i].eq(1)
            with m.Elif(release[i]):
                m.d.sync += full[i].eq(0)

        m.d.comb += [
            self.full.eq(full.bit_select(step_buf, 1)),
            self.count.eq(Mux(step_buf, input_count[1], input_count[0])),
            release.bit_select(step_buf, 1).eq(self.release),
        ]
        with m.If(self.step_done):
            m.d.sync += step_buf.eq(~step_buf)
        for rd in input_rd:
            m.d.comb += rd.addr.eq(self.events.addr)
        m.d.comb += self.events.data.eq(Mux(step_buf, input_rd[1].data, input_rd[0].data))
        return m
