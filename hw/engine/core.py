"""The engine: an event-driven, accumulate-only spiking MLP core (DESIGN.md sections 2 and 4).

Per sample, for t in 0..T-1 the engine runs every layer in order. A layer is processed one group
of `lanes` neurons at a time: the timestep's input events are replayed from an event buffer (one
weight word per cycle, added in every lane), then a sweep updates the group's membranes,
`sweep_lanes` neurons per cycle through pipelined LIF units, and hands its spike counts to the
emitter, which sends each spike, one per cycle, to the next layer's event buffer and to the
output stream while the next group accumulates.

Four event buffers keep every unit busy: two take the host's input events (the receiver fills
timestep t+1 while the layers compute t), and two alternate between layers (a layer reads one
while its spikes fill the other). After the last timestep a readout layer's membranes are sent.

The blocks (docs/engine.md, "Blocks"): `ConfigStore` (the Program's memories and settings, with
configuration writes and read-backs), `InputReceiver`, `Accumulator`, `Sweep`, `SpikeEmitter`
and `Counters`. `Engine` builds them, connects them, and sequences them: where the computation
is (timestep, layer, group, neuron word) and what each block does next.

Streams:
- `i_events`: input events, `hw.layout.input_fields`: addresses, then an `end` marker per step.
- `o_events`: spikes of every spiking layer (one event per spike, so a burst of c is c events),
  timestep ends, readout values and sample ends, `hw.layout.output_fields`.
- `i_config`: writes into the weight, threshold/bias and layer-configuration memories and the
  global settings, `hw.layout.write_fields`; taken only between timesteps.
- `i_read` / `o_read`: read-back of the same words (`hw.layout.read_fields` in, a word out), so
  the host can verify a loaded Program. Served between samples only, through the memories'
  existing read ports (a single-port RAM, such as the iCE40's SPRAM, needs no second port).

Counters (reset when a sample's first timestep starts, final when its SAMPLE_END leaves, and
held until the next sample starts): cycles from the moment timestep 0's input is complete, and
per layer its cycles, input events, synaptic operations (events x neurons) and cycles its spikes
waited on `o_events`.
"""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import connect, flipped

from .. import layout
from ..interface import EngineSignature, struct
from ..params import EngineParams
from ..weights import WeightMemory
from .accumulator import Accumulator
from .counters import Counters
from .emitter import SpikeEmitter
from .ports import neuron_addr_bits, weight_addr_bits
from .receiver import InputReceiver
from .store import ConfigStore
from .sweep import Sweep

__all__ = ["Engine"]


class Engine(wiring.Component):
    def __init__(
        self, params: EngineParams, images: dict | None = None, weight_memory=WeightMemory
    ):
        """`images` (from `hw.layout.memory_images`) bakes a Program in at build time."""
        self.params = params
        self.images = images or {}
        #: Makes the weight store: (width, depth, init) -> a `hw.weights.WeightStoreSignature`
        #: component. A board swaps in its own (the UP5K's SPRAMs).
        self.weight_memory = weight_memory
        super().__init__(EngineSignature(params))

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.store = store = ConfigStore(p, self.images, self.weight_memory)
        m.submodules.receiver = receiver = InputReceiver(p)
        m.submodules.accumulator = acc = Accumulator(p)
        m.submodules.sweep = sweep = Sweep(p)
        m.submodules.emitter = emitter = SpikeEmitter(p)
        m.submodules.counters = counters = Counters(p)

        connect(m, flipped(self.i_config), store.i_config)
        connect(m, flipped(self.i_read), store.i_read)
        connect(m, store.o_read, flipped(self.o_read))
        connect(m, flipped(self.i_events), receiver.i_events)
        # Event buffers and weights into the lanes, the currents through the units, the spike
        # counts to the emitter, whose spikes the next layer replays.
        connect(m, acc.inputs, receiver.events)
        connect(m, acc.spikes, emitter.events)
        connect(m, acc.weights, store.weights)
        connect(m, sweep.neurons, store.neurons)
        connect(m, sweep.o_slots, emitter.i_slots)
        m.d.comb += [
            sweep.layer.eq(store.layer_config),
            sweep.currents.eq(acc.currents),
            sweep.emitting.eq(emitter.emitting),
            # The group's first slot entering the units starts the group's spike numbers.
            emitter.start_group.eq(sweep.step & (sweep.slot == 0)),
            counters.count_synops.eq(acc.adding),
            self.counters.eq(counters.counters),
        ]
        self._sequence(m, store, receiver, acc, sweep, emitter, counters)
        return m

    def _sequence(self, m, store, receiver, acc, sweep, emitter, counters):
        """Where the computation is, and the state machine that moves it on."""
        p = self.params
        lanes, units, vmax = p.lanes, p.units, p.max_v_bits
        settings, out = store.settings, self.o_events

        # --- the layer being run ----------------------------------------------------------------
        t = Signal(range(p.max_timesteps + 1))
        layer = Signal(range(p.max_layers + 1))
        current = Signal(struct(layout.layer_fields(p)))  # configuration of `layer`, latched
        n_events = Signal(range(max(p.max_inputs, p.spike_depth) + 1))
        last_layer = Signal()
        m.d.comb += last_layer.eq(layer + 1 == settings.layers)
        group = Signal(range(p.groups(p.max_neurons) + 1))
        group_first = Signal(p.address_bits + 1)  # neuron index of the group's lane 0
        group_weights = Signal(weight_addr_bits(p))  # weight address of input 0
        # The membrane and threshold word of the slot being swept, and the one after it:
        # registers both, so that a mux, not an adder, follows the decision to move on.
        word = Signal(neuron_addr_bits(p))
        word_next = Signal.like(word)
        # Neurons from this group's lane 0 to the end of the layer (more than `lanes` but in the
        # last group): lanes beyond it hold no neuron. Registers, counted down a group at a time,
        # so that no subtraction sits in front of the paths that use them.
        remaining = Signal(signed(p.address_bits + 2))
        valid_lanes = Signal(range(lanes + 1))  # min(remaining, lanes): synaptic operations

        def set_remaining(value):
            m.d.sync += [remaining.eq(value), valid_lanes.eq(Mux(value >= lanes, lanes, value))]

        # Whether `t` is the sample's last timestep, registered: `t` and the settings change
        # many cycles before a timestep ends, so the comparison is settled by then.
        last_step = Signal()
        m.d.sync += last_step.eq(t + 1 == settings.timesteps)
        running = Signal()
        ending = Signal()  # the SAMPLE_END event leaves: the count stays as it is seen there
        m.d.comb += [
            self.busy.eq(running),
            store.layer.eq(layer),
            acc.count.eq(n_events),
            acc.base.eq(group_weights),
            acc.first_layer.eq(layer == 0),
            acc.weight_bits.eq(current.weight_bits),
            sweep.first_step.eq(t == 0),
            sweep.word.eq(word),
            sweep.word_next.eq(word_next),
            sweep.remaining.eq(remaining),
            emitter.first.eq(group_first),
            emitter.odd_layer.eq(layer[0]),
            emitter.last_layer.eq(last_layer),
            counters.running.eq(running),
            counters.ending.eq(ending),
            counters.layer.eq(layer),
            counters.events.eq(n_events),
            counters.synops.eq(valid_lanes),
        ]

        # --- o_events: the emitter's spikes, unless the sequencer sends an event of its own ----
        spikes = emitter.o_spikes
        report = Signal()  # this spike leaves on o_events (else it only feeds the next layer)
        m.d.comb += [
            report.eq(last_layer | ~settings.readout_only),
            spikes.ready.eq(out.ready | ~report),
            counters.stall.eq(spikes.valid & report & ~out.ready),
        ]
        with m.If(spikes.valid):
            m.d.comb += [
                out.valid.eq(report),
                out.payload.kind.eq(layout.KIND_SPIKE),
                out.payload.layer.eq(layer),
                out.payload.addr.eq(spikes.payload),
                out.payload.value.eq(1),
            ]

        # Readout values: the membrane word of a group, one lane per cycle.
        dump_lane = Signal(range(units + 1))
        dump_index = Signal(p.address_bits)  # the neuron being sent
        dump_left = Signal(p.address_bits)  # neurons left to send after it
        dump_word = Signal(units * vmax)
        dump_value = Signal(signed(vmax))
        with m.Switch(dump_lane):
            for s in range(units):
                with m.Case(s):
                    m.d.comb += dump_value.eq(dump_word[s * vmax : (s + 1) * vmax])

        def start_group():
            """Clear the currents (at this clock edge) and start replaying events."""
            m.d.comb += acc.start.eq(1)
            m.next = "ACCUMULATE"

        with m.FSM():
            with m.State("SAMPLE_START"):
                # Membranes need no clearing (see `Sweep.first_step`).
                m.d.sync += t.eq(0)
                m.next = "WAIT_INPUT"

            with m.State("WAIT_INPUT"):
                m.d.comb += store.idle.eq(~receiver.full)
                # Without a loaded Program (no layers) the input simply waits.
                with m.If(receiver.full & ~store.reading & (settings.layers != 0)):
                    m.d.sync += [running.eq(1), layer.eq(0), n_events.eq(receiver.count)]
                    # The counters restart with a sample's first timestep, so between samples
                    # they hold the last sample's counts for the host to read.
                    with m.If(t == 0):
                        m.d.comb += counters.clear.eq(1)
                    m.next = "LAYER"

            with m.State("LAYER"):
                cfg_now = store.layer_config
                m.d.sync += [
                    current.eq(cfg_now),
                    group.eq(0),
                    group_first.eq(0),
                    group_weights.eq(cfg_now.weight_base),
                    word.eq(cfg_now.neuron_base),
                    word_next.eq(cfg_now.neuron_base + 1),
                ]
                m.d.comb += [
                    sweep.start_layer.eq(1),
                    emitter.start_layer.eq(1),
                    counters.count_events.eq(1),
                    counters.cycle.eq(1),
                ]
                set_remaining(cfg_now.n_out)
                start_group()

            with m.State("ACCUMULATE"):
                m.d.comb += [counters.cycle.eq(1), acc.run.eq(1)]
                with m.If(acc.done):
                    m.next = "SWEEP"

            with m.State("SWEEP"):
                m.d.comb += [counters.cycle.eq(1), sweep.run.eq(1)]
                with m.If(sweep.step):
                    m.d.sync += [word.eq(word_next), word_next.eq(word_next + 1)]
                    # After the group's last slot: the next group, or the layer's end.
                    with m.If(sweep.slot == p.slots - 1):
                        with m.If(group + 1 == current.groups):
                            m.next = "LAYER_END"
                        with m.Else():
                            m.d.sync += [
                                group.eq(group + 1),
                                group_first.eq(group_first + lanes),
                                group_weights.eq(group_weights + current.n_in),
                            ]
                            set_remaining(remaining - lanes)
                            start_group()

            with m.State("LAYER_END"):
                m.d.comb += counters.cycle.eq(1)
                with m.If(sweep.drained):
                    with m.If(layer == 0):
                        m.d.comb += receiver.release.eq(1)
                    with m.If(last_layer):
                        m.next = "STEP_END"
                    with m.Else():
                        # The next layer reads what this one wrote.
                        m.d.sync += [layer.eq(layer + 1), n_events.eq(emitter.count)]
                        m.d.comb += emitter.next_layer.eq(1)
                        m.next = "LAYER"

            with m.State("STEP_END"):
                m.d.comb += [out.valid.eq(1), out.payload.kind.eq(layout.KIND_STEP_END)]
                with m.If(out.ready):
                    m.d.sync += t.eq(t + 1)
                    m.d.comb += receiver.step_done.eq(1)
                    with m.If(~last_step):
                        m.next = "WAIT_INPUT"
                    with m.Elif(current.spiking):
                        m.next = "SAMPLE_END"
                    with m.Else():
                        m.d.sync += [
                            word.eq(current.neuron_base),
                            word_next.eq(current.neuron_base + 1),
                            dump_index.eq(0),
                            dump_left.eq(current.n_out - 1),
                        ]
                        m.next = "DUMP_READ"

            with m.State("DUMP_READ"):
                # The sweep's membrane read follows `word`; its contents arrive next cycle.
                m.d.sync += dump_lane.eq(0)
                m.next = "DUMP_LATCH"

            with m.State("DUMP_LATCH"):
                m.d.sync += dump_word.eq(sweep.membranes)
                m.next = "DUMP"

            with m.State("DUMP"):
                m.d.comb += [
                    out.valid.eq(1),
                    out.payload.kind.eq(layout.KIND_READOUT),
                    out.payload.layer.eq(layer),
                    out.payload.addr.eq(dump_index),
                    out.payload.value.eq(dump_value),
                ]
                with m.If(out.ready):
                    m.d.sync += [
                        dump_lane.eq(dump_lane + 1),
                        dump_index.eq(dump_index + 1),
                        dump_left.eq(dump_left - 1),
                    ]
                    with m.If(dump_left == 0):
                        m.next = "SAMPLE_END"
                    with m.Elif(dump_lane == units - 1):
                        # Words hold consecutive neurons, so the next word is the next `units`.
                        m.d.sync += [word.eq(word_next), word_next.eq(word_next + 1)]
                        m.next = "DUMP_READ"

            with m.State("SAMPLE_END"):
                m.d.comb += [out.valid.eq(1), out.payload.kind.eq(layout.KIND_SAMPLE_END)]
                with m.If(out.ready):
                    m.d.comb += ending.eq(1)
                    m.d.sync += running.eq(0)
                    m.next = "SAMPLE_START"
