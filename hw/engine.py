"""The engine: an event-driven, accumulate-only spiking MLP core (DESIGN.md sections 2 and 4).

Per sample, for t in 0..T-1 it receives one timestep of input events (addresses, then an `end`
marker), then runs every layer in order. A layer is processed one group of `lanes` neurons at a
time: the group's currents are cleared, the timestep's input events are replayed from an event
buffer (one weight word per cycle, added in every lane), then a sweep updates the group's
membranes in one cycle and the emitter sends each spike, one per cycle, to the next layer's
event buffer and to the output stream. Two event buffers alternate between layers: a layer reads
one while it writes the other. After the last timestep a readout layer's membranes are sent out.

Streams:
- `i_events`: input events, `hw.layout.input_fields`.
- `o_events`: spikes of every spiking layer (one event per spike, so a burst of c is c events),
  timestep ends, readout values and sample ends, `hw.layout.output_fields`.
- `i_config`: writes into the weight, threshold/bias and layer-configuration memories, used
  between samples by the host (and nothing else); `hw.layout.write_fields`.

Counters (reset at the start of each sample): total cycles, and per layer its cycles, input
events, synaptic operations (events x neurons) and output stall cycles.
"""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import layout
from .lanes import AccumulateLanes
from .lif import LifUnit, NeuronConfig
from .params import EngineParams

__all__ = ["Engine", "struct"]


def struct(fields) -> data.StructLayout:
    """A StructLayout from one of `hw.layout`'s field lists."""
    return data.StructLayout(
        {name: signed(width) if is_signed else width for name, width, is_signed in fields}
    )


def _init(words, depth: int) -> list[int]:
    image = [0] * depth
    for addr, word in words:
        image[addr] = word
    return image


class Engine(wiring.Component):
    def __init__(self, params: EngineParams, images: dict | None = None):
        """`images` (from `hw.layout.memory_images`) bakes a Program in at build time."""
        self.params = params
        self.images = images or {}
        counters = data.ArrayLayout(layout.COUNTER_BITS, params.max_layers)
        super().__init__(
            {
                "i_events": In(stream.Signature(struct(layout.input_fields(params)))),
                "o_events": Out(stream.Signature(struct(layout.output_fields(params)))),
                "i_config": In(stream.Signature(struct(layout.write_fields(params)))),
                "busy": Out(1),
                "cycles": Out(layout.COUNTER_BITS),
                "layer_cycles": Out(counters),
                "layer_events": Out(counters),
                "layer_synops": Out(counters),
                "layer_stalls": Out(counters),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        lanes, vmax = p.lanes, p.max_v_bits
        layer_layout = struct(layout.layer_fields(p))
        global_layout = struct(layout.global_fields(p))

        # --- memories -------------------------------------------------------------------------
        weights = Memory(
            shape=layout.weight_word_bits(p),
            depth=p.weight_words,
            init=_init(self.images.get(layout.SPACE_WEIGHTS, []), p.weight_words),
        )
        neurons = Memory(
            shape=layout.neuron_word_bits(p),
            depth=p.neuron_words,
            init=_init(self.images.get(layout.SPACE_NEURONS, []), p.neuron_words),
        )
        membranes = Memory(shape=lanes * vmax, depth=p.neuron_words, init=[])
        layer_words = _init(self.images.get(layout.SPACE_LAYERS, []), p.max_layers)
        layer_table = Memory(shape=layer_layout.size, depth=p.max_layers, init=layer_words)
        buffers = [Memory(shape=p.address_bits, depth=p.event_depth, init=[]) for _ in range(2)]
        m.submodules.weights = weights
        m.submodules.neurons = neurons
        m.submodules.membranes = membranes
        m.submodules.layer_table = layer_table
        m.submodules.buffer0, m.submodules.buffer1 = buffers

        weight_rd = weights.read_port()
        weight_wr = weights.write_port()
        neuron_rd = neurons.read_port()
        neuron_wr = neurons.write_port()
        membrane_rd = membranes.read_port()
        membrane_wr = membranes.write_port()
        layer_rd = layer_table.read_port(domain="comb")
        layer_wr = layer_table.write_port()
        buffer_rd = [buffer.read_port() for buffer in buffers]
        buffer_wr = [buffer.write_port() for buffer in buffers]

        # --- configuration port: always ready; the host writes only between samples ----------
        global_init = _init(self.images.get(layout.SPACE_GLOBAL, []), 1)[0]
        settings = Signal(
            global_layout,
            init=global_layout.const(layout.unpack(layout.global_fields(p), global_init)),
        )
        cfg = self.i_config
        m.d.comb += cfg.ready.eq(1)
        m.d.comb += [
            weight_wr.addr.eq(cfg.payload.addr),
            weight_wr.data.eq(cfg.payload.data),
            neuron_wr.addr.eq(cfg.payload.addr),
            neuron_wr.data.eq(cfg.payload.data),
            layer_wr.addr.eq(cfg.payload.addr),
            layer_wr.data.eq(cfg.payload.data),
        ]
        with m.If(cfg.valid):
            with m.Switch(cfg.payload.space):
                with m.Case(layout.SPACE_WEIGHTS):
                    m.d.comb += weight_wr.en.eq(1)
                with m.Case(layout.SPACE_NEURONS):
                    m.d.comb += neuron_wr.en.eq(1)
                with m.Case(layout.SPACE_LAYERS):
                    m.d.comb += layer_wr.en.eq(1)
                with m.Case(layout.SPACE_GLOBAL):
                    m.d.sync += settings.eq(cfg.payload.data)

        # --- the layer being run --------------------------------------------------------------
        t = Signal(range(p.max_timesteps + 1))
        layer = Signal(range(p.max_layers + 1))
        current = Signal(layer_layout)  # configuration of `layer`, latched at its start
        neuron_cfg = Signal(NeuronConfig(vmax))
        m.d.comb += layer_rd.addr.eq(layer)
        src = Signal()  # event buffer the layer reads; it writes the other one
        n_events = Signal(range(p.event_depth + 1))
        counts = [Signal(range(p.event_depth + 1), name=f"count{i}") for i in range(2)]
        write_ptr = Signal(range(p.event_depth + 1))

        group = Signal(range(p.groups(p.max_neurons) + 1))
        group_first = Signal(p.address_bits + 1)  # index of the group's lane 0
        group_weights = Signal(len(current.weight_base) + 1)  # weight address of input 0
        group_neurons = Signal(len(current.neuron_base) + 1)
        lane_valid = Signal(lanes)  # lanes of this group that hold real neurons
        for k in range(lanes):
            m.d.comb += lane_valid[k].eq(group_first + k < current.n_out)
        last_layer = Signal()
        m.d.comb += last_layer.eq(layer + 1 == settings.layers)

        # --- accumulate: event buffer -> weight memory -> lanes, one event per cycle --------
        m.submodules.lanes = acc = AccumulateLanes(lanes, p.max_weight_bits, p.current_bits)
        m.d.comb += acc.weight_bits.eq(current.weight_bits)
        issue = Signal(range(p.event_depth + 1))
        stage1 = Signal()  # event address arrives from the buffer
        stage2 = Signal()  # weight word arrives from the weight memory
        for rd in buffer_rd:
            m.d.comb += rd.addr.eq(issue)
        event_addr = Signal(p.address_bits)
        m.d.comb += event_addr.eq(Mux(src, buffer_rd[1].data, buffer_rd[0].data))
        m.d.comb += [
            weight_rd.addr.eq(group_weights + event_addr),
            acc.word.eq(weight_rd.data),
        ]

        # --- sweep: lanes of LIF units between the membrane memory and the emitter -----------
        m.d.comb += [
            neuron_rd.addr.eq(group_neurons),
            membrane_rd.addr.eq(group_neurons),
        ]
        new_v = Signal(lanes * vmax)
        spikes = Signal(data.ArrayLayout(3, lanes))  # per lane, spikes still to emit
        units = []
        for k in range(lanes):
            unit = LifUnit(vmax, p.current_bits)
            m.submodules[f"lif{k}"] = unit
            slot = neuron_rd.data[k * 2 * vmax : (k + 1) * 2 * vmax]
            m.d.comb += [
                unit.config.eq(neuron_cfg),
                unit.v.eq(membrane_rd.data[k * vmax : (k + 1) * vmax]),
                unit.z.eq(acc.currents[k]),
                unit.theta.eq(slot[:vmax]),
                unit.bias.eq(slot[vmax:]),
                new_v[k * vmax : (k + 1) * vmax].eq(unit.v_next),
            ]
            units.append(unit)

        # The emitter picks the lowest lane with spikes left: one spike per cycle.
        pending = Signal(lanes)
        for k in range(lanes):
            m.d.comb += pending[k].eq(spikes[k] != 0)
        chosen = Signal(range(max(lanes, 2)))
        for k in reversed(range(lanes)):
            with m.If(pending[k]):
                m.d.comb += chosen.eq(k)

        # Readout values: the membrane word of a group, one lane per cycle.
        dump_lane = Signal(range(lanes + 1))
        dump_word = Signal(lanes * vmax)
        dump_value = Signal(signed(vmax))
        with m.Switch(dump_lane):
            for k in range(lanes):
                with m.Case(k):
                    m.d.comb += dump_value.eq(dump_word[k * vmax : (k + 1) * vmax])

        out = self.o_events
        stall = Signal()
        m.d.comb += stall.eq(out.valid & ~out.ready)

        # --- counters -------------------------------------------------------------------------
        running = Signal()
        m.d.comb += self.busy.eq(running)
        with m.If(running):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        def count_layer(counter, amount):
            with m.Switch(layer):
                for index in range(p.max_layers):
                    with m.Case(index):
                        m.d.sync += counter[index].eq(counter[index] + amount)

        valid_lanes = Signal(range(lanes + 1))
        m.d.comb += valid_lanes.eq(sum(lane_valid[k] for k in range(lanes)))

        # --- the sequencer --------------------------------------------------------------------
        clear_addr = Signal(range(p.neuron_words + 1))
        with m.FSM():
            with m.State("CLEAR"):
                # Membranes start at 0 for every sample; counters restart.
                m.d.comb += [
                    membrane_wr.addr.eq(clear_addr),
                    membrane_wr.data.eq(0),
                    membrane_wr.en.eq(1),
                ]
                m.d.sync += clear_addr.eq(clear_addr + 1)
                with m.If(clear_addr == p.neuron_words - 1):
                    m.d.sync += [
                        clear_addr.eq(0),
                        t.eq(0),
                        write_ptr.eq(0),
                        self.cycles.eq(0),
                    ]
                    for counter in (
                        self.layer_cycles,
                        self.layer_events,
                        self.layer_synops,
                        self.layer_stalls,
                    ):
                        m.d.sync += counter.eq(0)
                    m.next = "RECEIVE"

            with m.State("RECEIVE"):
                m.d.comb += self.i_events.ready.eq(1)
                with m.If(self.i_events.valid):
                    m.d.sync += running.eq(1)
                    with m.If(self.i_events.payload.end):
                        m.d.sync += [counts[0].eq(write_ptr), layer.eq(0), src.eq(0)]
                        m.next = "LAYER"
                    with m.Else():
                        m.d.comb += [
                            buffer_wr[0].addr.eq(write_ptr),
                            buffer_wr[0].data.eq(self.i_events.payload.addr),
                            buffer_wr[0].en.eq(1),
                        ]
                        m.d.sync += write_ptr.eq(write_ptr + 1)

            with m.State("LAYER"):
                cfg_now = data.View(layer_layout, layer_rd.data)
                m.d.sync += [
                    current.eq(cfg_now),
                    neuron_cfg.spiking.eq(cfg_now.spiking),
                    neuron_cfg.burst_max.eq(cfg_now.burst_max),
                    neuron_cfg.leak.eq(cfg_now.leak),
                    neuron_cfg.leak_shift.eq(cfg_now.leak_shift),
                    neuron_cfg.subtract.eq(cfg_now.subtract),
                    group.eq(0),
                    group_first.eq(0),
                    group_weights.eq(cfg_now.weight_base),
                    group_neurons.eq(cfg_now.neuron_base),
                    n_events.eq(Mux(src, counts[1], counts[0])),
                    write_ptr.eq(0),
                ]
                with m.Switch(cfg_now.v_bits):
                    for bits in range(8, vmax + 1):
                        with m.Case(bits):
                            m.d.sync += [
                                neuron_cfg.low.eq(-(1 << (bits - 1))),
                                neuron_cfg.high.eq((1 << (bits - 1)) - 1),
                            ]
                count_layer(self.layer_events, Mux(src, counts[1], counts[0]))
                count_layer(self.layer_cycles, 1)
                m.next = "GROUP"

            with m.State("GROUP"):
                count_layer(self.layer_cycles, 1)
                m.d.comb += acc.clear.eq(1)
                m.d.sync += [issue.eq(0), stage1.eq(0), stage2.eq(0)]
                m.next = "ACCUMULATE"

            with m.State("ACCUMULATE"):
                count_layer(self.layer_cycles, 1)
                issuing = Signal()
                m.d.comb += issuing.eq(issue < n_events)
                m.d.sync += [stage1.eq(issuing), stage2.eq(stage1)]
                with m.If(issuing):
                    m.d.sync += issue.eq(issue + 1)
                with m.If(stage2):
                    m.d.comb += acc.add.eq(1)
                    count_layer(self.layer_synops, valid_lanes)
                with m.If(~issuing & ~stage1 & ~stage2):
                    m.next = "SWEEP"

            with m.State("SWEEP"):
                # Membrane and threshold/bias words were addressed since GROUP: data is here.
                count_layer(self.layer_cycles, 1)
                m.d.comb += [
                    membrane_wr.addr.eq(group_neurons),
                    membrane_wr.data.eq(new_v),
                    membrane_wr.en.eq(1),
                ]
                for k, unit in enumerate(units):
                    m.d.sync += spikes[k].eq(Mux(lane_valid[k], unit.n, 0))
                m.next = "EMIT"

            with m.State("EMIT"):
                count_layer(self.layer_cycles, 1)
                m.d.comb += [
                    out.valid.eq(pending.any()),
                    out.payload.kind.eq(layout.KIND_SPIKE),
                    out.payload.layer.eq(layer),
                    out.payload.addr.eq(group_first + chosen),
                    out.payload.value.eq(1),
                ]
                with m.If(stall):
                    count_layer(self.layer_stalls, 1)
                with m.If(out.valid & out.ready):
                    with m.Switch(chosen):
                        for k in range(lanes):
                            with m.Case(k):
                                m.d.sync += spikes[k].eq(spikes[k] - 1)
                    with m.If(~last_layer):
                        for index, wr in enumerate(buffer_wr):
                            m.d.comb += [
                                wr.addr.eq(write_ptr),
                                wr.data.eq(group_first + chosen),
                                wr.en.eq(src != index),
                            ]
                        m.d.sync += write_ptr.eq(write_ptr + 1)
                with m.If(~pending.any()):
                    with m.If(group + 1 == current.groups):
                        m.next = "LAYER_END"
                    with m.Else():
                        m.d.sync += [
                            group.eq(group + 1),
                            group_first.eq(group_first + lanes),
                            group_weights.eq(group_weights + current.n_in),
                            group_neurons.eq(group_neurons + 1),
                        ]
                        m.next = "GROUP"

            with m.State("LAYER_END"):
                count_layer(self.layer_cycles, 1)
                with m.If(last_layer):
                    m.next = "STEP_END"
                with m.Else():
                    with m.If(src):
                        m.d.sync += counts[0].eq(write_ptr)
                    with m.Else():
                        m.d.sync += counts[1].eq(write_ptr)
                    m.d.sync += [layer.eq(layer + 1), src.eq(~src)]
                    m.next = "LAYER"

            with m.State("STEP_END"):
                m.d.comb += [out.valid.eq(1), out.payload.kind.eq(layout.KIND_STEP_END)]
                with m.If(out.ready):
                    m.d.sync += [t.eq(t + 1), write_ptr.eq(0)]
                    with m.If(t + 1 != settings.timesteps):
                        m.next = "RECEIVE"
                    with m.Elif(current.spiking):
                        m.next = "SAMPLE_END"
                    with m.Else():
                        m.d.sync += [
                            group.eq(0),
                            group_first.eq(0),
                            group_neurons.eq(current.neuron_base),
                        ]
                        m.next = "DUMP_READ"

            with m.State("DUMP_READ"):
                # membrane_rd.addr follows group_neurons; its word arrives next cycle.
                m.d.sync += dump_lane.eq(0)
                m.next = "DUMP_LATCH"

            with m.State("DUMP_LATCH"):
                m.d.sync += dump_word.eq(membrane_rd.data)
                m.next = "DUMP"

            with m.State("DUMP"):
                m.d.comb += [
                    out.valid.eq(1),
                    out.payload.kind.eq(layout.KIND_READOUT),
                    out.payload.layer.eq(layer),
                    out.payload.addr.eq(group_first + dump_lane),
                    out.payload.value.eq(dump_value),
                ]
                with m.If(out.ready):
                    m.d.sync += dump_lane.eq(dump_lane + 1)
                    with m.If(group_first + dump_lane + 1 == current.n_out):
                        m.next = "SAMPLE_END"
                    with m.Elif(dump_lane == lanes - 1):
                        m.d.sync += [
                            group.eq(group + 1),
                            group_first.eq(group_first + lanes),
                            group_neurons.eq(group_neurons + 1),
                        ]
                        m.next = "DUMP_READ"

            with m.State("SAMPLE_END"):
                m.d.comb += [out.valid.eq(1), out.payload.kind.eq(layout.KIND_SAMPLE_END)]
                with m.If(out.ready):
                    m.d.sync += running.eq(0)
                    m.next = "CLEAR"
        return m
