"""The engine's counters: a sample's cycles, and per layer its work and its waits.

The counters restart when a sample's first timestep starts and are final when its SAMPLE_END
leaves; they hold until the next sample starts, so a host can read them between samples.
"""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..interface import counters_layout
from ..params import EngineParams

__all__ = ["Counters"]


class Counters(wiring.Component):
    """Cycles of a sample, and per layer its cycles, input events, synaptic operations (events x
    neurons) and cycles its spikes waited on `o_events` (`hw.interface.counters_layout`).

    - `running`: a sample is under way: `cycles` counts;
    - `ending`: its SAMPLE_END leaves: `cycles` stays as it is seen there;
    - `clear`: a sample's first timestep starts: every counter restarts from 0;
    - `layer`: the layer the per-layer counts below go to;
    - `cycle`: the layer takes this cycle;
    - `count_events` / `events`: add `events` input events;
    - `count_synops` / `synops`: add `synops` synaptic operations;
    - `stall`: a spike of the layer waits on `o_events`.
    """

    def __init__(self, params: EngineParams):
        self.params = params
        p = params
        super().__init__(
            {
                "running": In(1),
                "ending": In(1),
                "clear": In(1),
                "layer": In(range(p.max_layers + 1)),
                "cycle": In(1),
                "count_events": In(1),
                "events": In(range(max(p.max_inputs, p.spike_depth) + 1)),
                "count_synops": In(1),
                "synops": In(range(p.lanes + 1)),
                "stall": In(1),
                "counters": Out(counters_layout(p)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        counters = self.counters
        with m.If(self.running & ~self.ending):
            m.d.sync += counters.cycles.eq(counters.cycles + 1)

        def count_layer(counter, amount):
            with m.Switch(self.layer):
                for index in range(self.params.max_layers):
                    with m.Case(index):
                        m.d.sync += counter[index].eq(counter[index] + amount)

        with m.If(self.stall):
            count_layer(counters.layer_stalls, 1)
        with m.If(self.count_events):
            count_layer(counters.layer_events, self.events)
        with m.If(self.cycle):
            count_layer(counters.layer_cycles, 1)
        with m.If(self.count_synops):
            count_layer(counters.layer_synops, self.synops)
        with m.If(self.clear):
            m.d.sync += counters.eq(0)
        return m
