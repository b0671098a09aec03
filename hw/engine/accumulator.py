"""The accumulate: a timestep's events replayed into the lanes' currents, one per cycle.

For each group of `lanes` neurons the currents are cleared and the layer's input events
replayed from their event buffer through a three-stage pipeline: the event buffer is read; the
event's address is registered; the weight word at `group base + address` is read and added in
every lane. Only additions: a burst of c spikes is c events.
"""

from amaranth import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .. import layout
from ..lanes import AccumulateLanes
from ..params import EngineParams
from .ports import EventReadSignature, ReadPortSignature, weight_addr_bits

__all__ = ["Accumulator"]


class Accumulator(wiring.Component):
    """Event buffer -> registered event address -> weight word -> lanes, one event per cycle.

    - `start`: clear the currents and go back to the first event, at this clock edge;
    - `run`: replay: issue the next event and move the pipeline on;
    - `count`: events to replay; `base`: weight address of input 0 for the group;
    - `first_layer`: the events are inputs (`inputs`), else the previous layer's spikes
      (`spikes`);
    - `weight_bits`: the layer's weight width (`hw.lanes.AccumulateLanes`);
    - `weights`: weight reads;
    - `done`: every event is issued and none is left in the pipeline but the one being added;
    - `adding`: a weight word is added at this clock edge;
    - `currents`: the lanes' currents.
    """

    def __init__(self, params: EngineParams):
        self.params = params
        p = params
        events = max(p.max_inputs, p.spike_depth)
        super().__init__(
            {
                "start": In(1),
                "run": In(1),
                "count": In(range(events + 1)),
                "base": In(weight_addr_bits(p)),
                "first_layer": In(1),
                "weight_bits": In(4),
                "inputs": Out(EventReadSignature(p)),
                "spikes": Out(EventReadSignature(p)),
                "weights": Out(
                    ReadPortSignature(range(p.weight_words), layout.weight_word_bits(p))
                ),
                "done": Out(1),
                "adding": Out(1),
                "currents": Out(data.ArrayLayout(signed(p.current_bits), p.lanes)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.lanes = acc = AccumulateLanes(p.lanes, p.max_weight_bits, p.current_bits)
        m.d.comb += [acc.weight_bits.eq(self.weight_bits), self.currents.eq(acc.currents)]
        issue = Signal.like(self.count)
        stage1 = Signal()  # an event address arrives from its buffer
        stage_a = Signal()  # that address, registered, addresses the weight memory
        stage2 = Signal()  # a weight word arrives from the weight memory
        m.d.comb += [self.inputs.addr.eq(issue), self.spikes.addr.eq(issue)]
        event_addr = Signal(p.address_bits)
        with m.If(self.first_layer):
            m.d.comb += event_addr.eq(self.inputs.data)
        with m.Else():
            m.d.comb += event_addr.eq(self.spikes.data)
        # Registered, so that the event buffer's output and the weight address's adder are not
        # in one cycle.
        event_reg = Signal.like(event_addr)
        m.d.sync += event_reg.eq(event_addr)
        m.d.comb += [
            self.weights.addr.eq(self.base + event_reg),
            acc.word.eq(self.weights.data),
        ]

        with m.If(self.start):
            m.d.comb += acc.clear.eq(1)
            m.d.sync += [issue.eq(0), stage1.eq(0), stage_a.eq(0), stage2.eq(0)]
        issuing = Signal()
        with m.If(self.run):
            m.d.comb += issuing.eq(issue < self.count)
            m.d.sync += [stage1.eq(issuing), stage_a.eq(stage1), stage2.eq(stage_a)]
            with m.If(issuing):
                m.d.sync += issue.eq(issue + 1)
            with m.If(stage2):
                m.d.comb += [acc.add.eq(1), self.adding.eq(1)]
        # The last add, if any, lands at the edge that `done` is seen at.
        m.d.comb += self.done.eq(~issuing & ~stage1 & ~stage_a)
        return m
