"""The engine: an event-driven, accumulate-only spiking core (docs/semantics.md, docs/engine.md).

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
    """The engine (see the module's description); its ports are `hw.interface.EngineSignature`.

    It builds the blocks, connects their datapath, and sequences them (`_Sequencer`).
    """

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
        _Sequencer(self, store, receiver, acc, sweep, emitter, counters).elaborate(m)
        return m


class _Sequencer:
    """Where the computation is (timestep, layer, group, neuron word), and the state machine
    that moves it on and tells each block what to do. Part of `Engine.elaborate`, kept apart
    so that each piece reads on its own: the registers here, their wiring to the blocks, then
    the states, in the order a sample goes through them."""

    def __init__(self, engine, store, receiver, acc, sweep, emitter, counters):
        self.engine, self.params = engine, engine.params
        self.store, self.receiver, self.acc = store, receiver, acc
        self.sweep, self.emitter, self.counters = sweep, emitter, counters
        p = self.params
        self.t = Signal(range(p.max_timesteps + 1))
        self.layer = Signal(range(p.max_layers + 1))
        #: Configuration of `layer`, latched at its start.
        self.current = Signal(struct(layout.layer_fields(p)))
        self.n_events = Signal(range(max(p.max_inputs, p.spike_depth) + 1))
        self.last_layer = Signal()
        self.group = Signal(range(p.groups(p.max_neurons) + 1))
        #: Neuron index of the group's lane 0.
        self.group_first = Signal(p.address_bits + 1)
        #: Weight address of input 0 for the group.
        self.group_weights = Signal(weight_addr_bits(p))
        # The membrane and threshold word of the slot being swept, and the one after it:
        # registers both, so that a mux, not an adder, follows the decision to move on.
        self.word = Signal(neuron_addr_bits(p))
        self.word_next = Signal.like(self.word)
        # Neurons from this group's lane 0 to the end of the layer (more than `lanes` but in the
        # last group): lanes beyond it hold no neuron. Registers, counted down a group at a time,
        # so that no subtraction sits in front of the paths that use them.
        self.remaining = Signal(signed(p.address_bits + 2))
        #: min(remaining, lanes): synaptic operations per event.
        self.valid_lanes = Signal(range(p.lanes + 1))
        # Whether `t` is the sample's last timestep, registered: `t` and the settings change
        # many cycles before a timestep ends, so the comparison is settled by then.
        self.last_step = Signal()
        self.running = Signal()
        #: The SAMPLE_END event leaves: the count stays as it is seen there.
        self.ending = Signal()
        # Readout values: the membrane word of a group, one lane per cycle.
        self.dump_lane = Signal(range(p.units + 1))
        self.dump_index = Signal(p.address_bits)  # the neuron being sent
        self.dump_left = Signal(p.address_bits)  # neurons left to send after it
        self.dump_word = Signal(p.units * p.max_v_bits)
        self.dump_value = Signal(signed(p.max_v_bits))  # lane `dump_lane` of `dump_word`

    def elaborate(self, m):
        self._wire(m)
        self._readout_value(m)
        with m.FSM():
            self._start_states(m)
            self._layer_states(m)
            self._end_states(m)

    def _wire(self, m):
        """The position as the blocks see it, and the emitter's spikes onto `o_events`."""
        store, acc, sweep = self.store, self.acc, self.sweep
        emitter, counters = self.emitter, self.counters
        settings, out = store.settings, self.engine.o_events
        m.d.comb += self.last_layer.eq(self.layer + 1 == settings.layers)
        m.d.sync += self.last_step.eq(self.t + 1 == settings.timesteps)
        m.d.comb += [
            self.engine.busy.eq(self.running),
            store.layer.eq(self.layer),
            acc.count.eq(self.n_events),
            acc.base.eq(self.group_weights),
            acc.first_layer.eq(self.layer == 0),
            acc.weight_bits.eq(self.current.weight_bits),
            sweep.first_step.eq(self.t == 0),
            sweep.word.eq(self.word),
            sweep.word_next.eq(self.word_next),
            sweep.remaining.eq(self.remaining),
            emitter.first.eq(self.group_first),
            emitter.odd_layer.eq(self.layer[0]),
            emitter.last_layer.eq(self.last_layer),
            counters.running.eq(self.running),
            counters.ending.eq(self.ending),
            counters.layer.eq(self.layer),
            counters.events.eq(self.n_events),
            counters.synops.eq(self.valid_lanes),
        ]

        # o_events: the emitter's spikes, unless a state below sends an event of its own.
        spikes = emitter.o_spikes
        report = Signal()  # this spike leaves on o_events (else it only feeds the next layer)
        m.d.comb += [
            report.eq(self.last_layer | ~settings.readout_only),
            spikes.ready.eq(out.ready | ~report),
            counters.stall.eq(spikes.valid & report & ~out.ready),
        ]
        with m.If(spikes.valid):
            m.d.comb += [
                out.valid.eq(report),
                out.payload.kind.eq(layout.KIND_SPIKE),
                out.payload.layer.eq(self.layer),
                out.payload.addr.eq(spikes.payload),
                out.payload.value.eq(1),
            ]

    def _readout_value(self, m):
        vmax = self.params.max_v_bits
        with m.Switch(self.dump_lane):
            for s in range(self.params.units):
                with m.Case(s):
                    m.d.comb += self.dump_value.eq(self.dump_word[s * vmax : (s + 1) * vmax])

    def _set_remaining(self, m, value):
        lanes = self.params.lanes
        m.d.sync += [
            self.remaining.eq(value),
            self.valid_lanes.eq(Mux(value >= lanes, lanes, value)),
        ]

    def _next_word(self, m):
        m.d.sync += [self.word.eq(self.word_next), self.word_next.eq(self.word_next + 1)]

    def _start_group(self, m):
        """Clear the currents (at this clock edge) and start replaying events."""
        m.d.comb += self.acc.start.eq(1)
        m.next = "ACCUMULATE"

    def _start_states(self, m):
        settings, counters, receiver = self.store.settings, self.counters, self.receiver
        with m.State("SAMPLE_START"):
            # Membranes need no clearing (see `Sweep.first_step`).
            m.d.sync += self.t.eq(0)
            m.next = "WAIT_INPUT"

        with m.State("WAIT_INPUT"):
            m.d.comb += self.store.idle.eq(~receiver.full)
            # Without a loaded Program (no layers) the input simply waits.
            with m.If(receiver.full & ~self.store.reading & (settings.layers != 0)):
                m.d.sync += [
                    self.running.eq(1),
                    self.layer.eq(0),
                    self.n_events.eq(receiver.count),
                ]
                # The counters restart with a sample's first timestep, so between samples
                # they hold the last sample's counts for the host to read.
                with m.If(self.t == 0):
                    m.d.comb += counters.clear.eq(1)
                m.next = "LAYER"

    def _layer_states(self, m):
        """A layer: its groups, each accumulated then swept, then the wait for the units."""
        p, acc, sweep, emitter = self.params, self.acc, self.sweep, self.emitter
        counters, current, group = self.counters, self.current, self.group
        with m.State("LAYER"):
            cfg_now = self.store.layer_config
            m.d.sync += [
                current.eq(cfg_now),
                group.eq(0),
                self.group_first.eq(0),
                self.group_weights.eq(cfg_now.weight_base),
                self.word.eq(cfg_now.neuron_base),
                self.word_next.eq(cfg_now.neuron_base + 1),
            ]
            m.d.comb += [
                sweep.start_layer.eq(1),
                emitter.start_layer.eq(1),
                counters.count_events.eq(1),
                counters.cycle.eq(1),
            ]
            self._set_remaining(m, cfg_now.n_out)
            self._start_group(m)

        with m.State("ACCUMULATE"):
            m.d.comb += [counters.cycle.eq(1), acc.run.eq(1)]
            with m.If(acc.done):
                m.next = "SWEEP"

        with m.State("SWEEP"):
            m.d.comb += [counters.cycle.eq(1), sweep.run.eq(1)]
            with m.If(sweep.step):
                self._next_word(m)
                # After the group's last slot: the next group, or the layer's end.
                with m.If(sweep.slot == p.slots - 1):
                    with m.If(group + 1 == current.groups):
                        m.next = "LAYER_END"
                    with m.Else():
                        m.d.sync += [
                            group.eq(group + 1),
                            self.group_first.eq(self.group_first + p.lanes),
                            self.group_weights.eq(self.group_weights + current.n_in),
                        ]
                        self._set_remaining(m, self.remaining - p.lanes)
                        self._start_group(m)

        with m.State("LAYER_END"):
            m.d.comb += counters.cycle.eq(1)
            with m.If(sweep.drained):
                with m.If(self.layer == 0):
                    m.d.comb += self.receiver.release.eq(1)
                with m.If(self.last_layer):
                    m.next = "STEP_END"
                with m.Else():
                    # The next layer reads what this one wrote.
                    m.d.sync += [self.layer.eq(self.layer + 1), self.n_events.eq(emitter.count)]
                    m.d.comb += emitter.next_layer.eq(1)
                    m.next = "LAYER"

    def _end_states(self, m):
        """A timestep's end; after the last, a readout layer's values, then the sample's end."""
        out, current, units = self.engine.o_events, self.current, self.params.units
        dump_lane, dump_index, dump_left = self.dump_lane, self.dump_index, self.dump_left
        with m.State("STEP_END"):
            m.d.comb += [out.valid.eq(1), out.payload.kind.eq(layout.KIND_STEP_END)]
            with m.If(out.ready):
                m.d.sync += self.t.eq(self.t + 1)
                m.d.comb += self.receiver.step_done.eq(1)
                with m.If(~self.last_step):
                    m.next = "WAIT_INPUT"
                with m.Elif(current.spiking):
                    m.next = "SAMPLE_END"
                with m.Else():
                    m.d.sync += [
                        self.word.eq(current.neuron_base),
                        self.word_next.eq(current.neuron_base + 1),
                        dump_index.eq(0),
                        dump_left.eq(current.n_out - 1),
                    ]
                    m.next = "DUMP_READ"

        with m.State("DUMP_READ"):
            # The sweep's membrane read follows `word`; its contents arrive next cycle.
            m.d.sync += dump_lane.eq(0)
            m.next = "DUMP_LATCH"

        with m.State("DUMP_LATCH"):
            m.d.sync += self.dump_word.eq(self.sweep.membranes)
            m.next = "DUMP"

        with m.State("DUMP"):
            m.d.comb += [
                out.valid.eq(1),
                out.payload.kind.eq(layout.KIND_READOUT),
                out.payload.layer.eq(self.layer),
                out.payload.addr.eq(dump_index),
                out.payload.value.eq(self.dump_value),
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
                    self._next_word(m)
                    m.next = "DUMP_READ"

        with m.State("SAMPLE_END"):
            m.d.comb += [out.valid.eq(1), out.payload.kind.eq(layout.KIND_SAMPLE_END)]
            with m.If(out.ready):
                m.d.comb += self.ending.eq(1)
                m.d.sync += self.running.eq(0)
                m.next = "SAMPLE_START"
