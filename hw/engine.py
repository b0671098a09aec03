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

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory

from . import layout
from .interface import EngineSignature, struct
from .lanes import AccumulateLanes
from .lif import LifUnit, NeuronConfig
from .params import EngineParams
from .ram import ram
from .weights import WeightMemory

__all__ = ["Engine"]


def _init(words, depth: int) -> list[int]:
    image = [0] * depth
    for addr, word in words:
        image[addr] = word
    return image


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
        lanes, vmax, units, slots = p.lanes, p.max_v_bits, p.units, p.slots
        layer_layout = struct(layout.layer_fields(p))
        global_layout = struct(layout.global_fields(p))

        # --- memories -------------------------------------------------------------------------
        def memory(name, shape, depth, space=None, make=ram):
            init = _init(self.images.get(space, []), depth) if space is not None else []
            # No read races a write to the same word: the receiver and the layers use different
            # event buffers, a slot's membranes are written back long before they are read
            # again, and configuration writes happen only between timesteps.
            m.submodules[name] = mem = make(shape=shape, depth=depth, init=init)
            return mem

        m.submodules.weights = weights = self.weight_memory(
            layout.weight_word_bits(p),
            p.weight_words,
            _init(self.images.get(layout.SPACE_WEIGHTS, []), p.weight_words),
        )
        neurons = memory(
            "neurons", layout.neuron_word_bits(p), p.neuron_words, layout.SPACE_NEURONS
        )
        membranes = memory("membranes", units * vmax, p.neuron_words)
        # Read combinationally, so flip-flops rather than a block RAM: a plain Memory.
        layer_table = memory(
            "layer_table", layer_layout.size, p.max_layers, layout.SPACE_LAYERS, make=Memory
        )
        input_buffers = [memory(f"input{i}", p.address_bits, p.max_inputs) for i in range(2)]
        spike_buffers = [memory(f"spikes{i}", p.address_bits, p.spike_depth) for i in range(2)]

        neuron_rd, neuron_wr = neurons.read_port(), neurons.write_port()
        membrane_rd, membrane_wr = membranes.read_port(), membranes.write_port()
        layer_rd, layer_wr = layer_table.read_port(domain="comb"), layer_table.write_port()
        input_rd = [b.read_port() for b in input_buffers]
        input_wr = [b.write_port() for b in input_buffers]
        spike_rd = [b.read_port() for b in spike_buffers]
        spike_wr = [b.write_port() for b in spike_buffers]

        # --- configuration port: ready between timesteps ----------------------------------------
        global_init = _init(self.images.get(layout.SPACE_GLOBAL, []), 1)[0]
        # Settings are configuration, like the memories: a reset of the engine keeps them.
        settings = Signal(
            global_layout,
            init=global_layout.const(layout.unpack(layout.global_fields(p), global_init)),
            reset_less=True,
        )
        cfg = self.i_config
        idle = Signal()  # the sequencer waits for input and will not start while reading
        reading = Signal()  # a read-back owns the read ports
        # Writes wait for the engine to be between timesteps, as read-backs do: then neither the
        # sweep nor the accumulate is using a memory, so the weight memory can take the write on
        # the address its read port uses (one port: what an iCE40 SPRAM has).
        m.d.comb += cfg.ready.eq(idle & ~reading)
        for port in (neuron_wr, layer_wr):
            m.d.comb += [port.addr.eq(cfg.payload.addr), port.data.eq(cfg.payload.data)]
        with m.If(cfg.valid):
            with m.Switch(cfg.payload.space):
                with m.Case(layout.SPACE_WEIGHTS):
                    m.d.comb += weights.w_en.eq(cfg.ready)
                with m.Case(layout.SPACE_NEURONS):
                    m.d.comb += neuron_wr.en.eq(cfg.ready)
                with m.Case(layout.SPACE_LAYERS):
                    m.d.comb += layer_wr.en.eq(cfg.ready)
                with m.Case(layout.SPACE_GLOBAL):
                    with m.If(cfg.ready):
                        m.d.sync += settings.eq(cfg.payload.data[: global_layout.size])

        # --- receiver: host events into the input buffer that is not being computed ----------
        recv_buf = Signal()
        recv_ptr = Signal(range(p.max_inputs + 1))
        full = Signal(2)  # input buffer i holds a complete timestep
        input_count = [Signal(range(p.max_inputs + 1), name=f"input_count{i}") for i in range(2)]
        release = Signal(2)  # the layers are done with input buffer i (from the sequencer)
        m.d.comb += self.i_events.ready.eq(~full.bit_select(recv_buf, 1))
        accept = self.i_events.valid & self.i_events.ready
        for i, wr in enumerate(input_wr):
            m.d.comb += [
                wr.addr.eq(recv_ptr),
                wr.data.eq(self.i_events.payload.addr),
                wr.en.eq(accept & ~self.i_events.payload.end & (recv_buf == i)),
            ]
        with m.If(accept):
            with m.If(self.i_events.payload.end):
                m.d.sync += [recv_buf.eq(~recv_buf), recv_ptr.eq(0)]
                for i in range(2):
                    with m.If(recv_buf == i):
                        m.d.sync += input_count[i].eq(recv_ptr)
            with m.Else():
                m.d.sync += recv_ptr.eq(recv_ptr + 1)
        # A buffer fills only while empty and is released only while full: never both at once.
        for i in range(2):
            with m.If(accept & self.i_events.payload.end & (recv_buf == i)):
                m.d.sync += full[i].eq(1)
            with m.Elif(release[i]):
                m.d.sync += full[i].eq(0)

        # --- the layer being run ----------------------------------------------------------------
        t = Signal(range(p.max_timesteps + 1))
        layer = Signal(range(p.max_layers + 1))
        current = Signal(layer_layout)  # configuration of `layer`, latched at its start
        neuron_cfg = Signal(NeuronConfig(vmax))
        # --- read-back: between samples the read ports serve the host ----------------------
        read_req = Signal(struct(layout.read_fields(p)))
        # 1: addresses out; 2: the synchronous ports' data is here, latch it; 3: on o_read.
        read_data = Signal(2)
        m.d.comb += self.i_read.ready.eq(idle & ~reading)
        with m.If(self.i_read.valid & self.i_read.ready):
            m.d.sync += [read_req.eq(self.i_read.payload), reading.eq(1), read_data.eq(1)]
        with m.If(read_data == 1):
            m.d.sync += read_data.eq(2)
        with m.If(read_data == 2):
            m.d.sync += read_data.eq(3)
            with m.Switch(read_req.space):
                with m.Case(layout.SPACE_WEIGHTS):
                    m.d.sync += self.o_read.payload.eq(weights.r_data)
                with m.Case(layout.SPACE_NEURONS):
                    m.d.sync += self.o_read.payload.eq(neuron_rd.data)
                with m.Case(layout.SPACE_LAYERS):
                    m.d.sync += self.o_read.payload.eq(layer_rd.data)
                with m.Case(layout.SPACE_GLOBAL):
                    m.d.sync += self.o_read.payload.eq(settings.as_value())
        m.d.comb += self.o_read.valid.eq(read_data == 3)
        with m.If(self.o_read.valid & self.o_read.ready):
            m.d.sync += [reading.eq(0), read_data.eq(0)]

        m.d.comb += layer_rd.addr.eq(Mux(reading, read_req.addr, layer))
        step_buf = Signal()  # input buffer of the timestep being computed
        spike_src = Signal()  # spike buffer layers > 0 read; layer l writes buffer l % 2
        n_events = Signal(range(max(p.max_inputs, p.spike_depth) + 1))
        last_layer = Signal()
        m.d.comb += last_layer.eq(layer + 1 == settings.layers)

        group = Signal(range(p.groups(p.max_neurons) + 1))
        group_first = Signal(p.address_bits + 1)  # neuron index of the group's lane 0
        group_weights = Signal(len(current.weight_base) + 1)  # weight address of input 0
        # The membrane and threshold word of the slot being swept, and the one after it:
        # registers both, so that a mux, not an adder, follows the decision to move on.
        word = Signal(len(current.neuron_base) + 1)
        word_next = Signal.like(word)
        # Neurons from this group's lane 0 to the end of the layer (more than `lanes` but in the
        # last group): lanes beyond it hold no neuron. Registers, counted down a group at a time,
        # so that no subtraction sits in front of the paths that use them.
        remaining = Signal(signed(p.address_bits + 2))
        valid_lanes = Signal(range(lanes + 1))  # min(remaining, lanes): synaptic operations

        def set_remaining(value):
            m.d.sync += [remaining.eq(value), valid_lanes.eq(Mux(value >= lanes, lanes, value))]

        # --- accumulate: event buffer -> weight memory -> lanes, one event per cycle -----------
        m.submodules.lanes = acc = AccumulateLanes(lanes, p.max_weight_bits, p.current_bits)
        m.d.comb += acc.weight_bits.eq(current.weight_bits)
        issue = Signal.like(n_events)
        stage1 = Signal()  # an event address arrives from its buffer
        stage_a = Signal()  # that address, registered, addresses the weight memory
        stage2 = Signal()  # a weight word arrives from the weight memory
        for rd in input_rd + spike_rd:
            m.d.comb += rd.addr.eq(issue)
        event_addr = Signal(p.address_bits)
        with m.If(layer == 0):
            m.d.comb += event_addr.eq(Mux(step_buf, input_rd[1].data, input_rd[0].data))
        with m.Else():
            m.d.comb += event_addr.eq(Mux(spike_src, spike_rd[1].data, spike_rd[0].data))
        # Registered, so that the event buffer's output and the weight address's adder are not
        # in one cycle.
        event_reg = Signal.like(event_addr)
        m.d.sync += event_reg.eq(event_addr)
        weight_addr = Signal.like(weights.addr)
        with m.If(cfg.valid & cfg.ready):
            m.d.comb += weight_addr.eq(cfg.payload.addr)
        with m.Elif(reading):
            m.d.comb += weight_addr.eq(read_req.addr)
        with m.Else():
            m.d.comb += weight_addr.eq(group_weights + event_reg)
        m.d.comb += [
            weights.addr.eq(weight_addr),
            weights.w_data.eq(cfg.payload.data),
            acc.word.eq(weights.r_data),
        ]

        # --- sweep: `units` LIF units between the membrane memory and the emitter -------------
        # A group's `lanes` neurons are swept `units` at a time, one membrane word (slot) per
        # cycle. The memories are read one cycle ahead, so their address is the word of the
        # *next* cycle: `word_next` when the sweep moves on (`step`), else `word`.
        slot = Signal(range(slots))
        slot_lane = Signal(range(lanes))  # lane of the slot's first unit: slot * units
        step = Signal()  # the sweep moves on to the next word at this clock edge
        sweep_addr = Signal.like(word)
        m.d.comb += [
            sweep_addr.eq(Mux(step, word_next, word)),
            neuron_rd.addr.eq(Mux(reading, read_req.addr, sweep_addr)),
            membrane_rd.addr.eq(sweep_addr),
        ]
        new_v = Signal(units * vmax)
        # The units see the currents only during the sweep: gating them (an AND in hardware)
        # keeps the units' inputs still while the currents change every cycle, which is what
        # makes a simulator re-evaluate them.
        sweeping = Signal()
        # Membranes start at 0 for every sample: the first timestep reads 0 instead of memory,
        # so nothing has to clear the membrane memory between samples.
        first_step = Signal()
        lif_units = []
        for s in range(units):
            m.submodules[f"lif{s}"] = unit = LifUnit(vmax, p.current_bits, p.max_burst)
            z = Signal(signed(p.current_bits), name=f"z{s}")
            with m.Switch(slot):
                for j in range(slots):
                    with m.Case(j):
                        m.d.comb += z.eq(acc.currents[j * units + s])
            params_slot = neuron_rd.data[s * 2 * vmax : (s + 1) * 2 * vmax]
            v_stored = membrane_rd.data[s * vmax : (s + 1) * vmax]
            m.d.comb += [
                unit.config.eq(neuron_cfg),
                unit.v.eq(Mux(first_step, 0, v_stored)),
                unit.z.eq(Mux(sweeping, z, 0)),
                unit.theta.eq(params_slot[:vmax]),
                unit.bias.eq(params_slot[vmax:]),
                new_v[s * vmax : (s + 1) * vmax].eq(unit.v_next),
            ]
            lif_units.append(unit)

        # The units are a pipeline: a slot entering them (`entering`) comes out LATENCY cycles
        # later, when its membranes are written back and its spike counts handed to the
        # emitter. Where it goes travels alongside. A new group's first slot, and the end of a
        # layer, wait until nothing is in flight.
        latency = LifUnit.LATENCY
        entering = Signal()
        in_flight = Signal(latency)
        m.d.sync += in_flight.eq(Cat(entering, in_flight[:-1]))
        # The units' lanes that hold neurons: `slot_left` > their index in the slot.
        slot_left = Signal(signed(max(len(remaining), lanes.bit_length()) + 2))
        m.d.comb += slot_left.eq(remaining - slot_lane)
        flight_addr = [Signal.like(sweep_addr, name=f"flight_addr{i}") for i in range(latency)]
        flight_slot = [Signal.like(slot, name=f"flight_slot{i}") for i in range(latency)]
        flight_lanes = [Signal(units, name=f"flight_lanes{i}") for i in range(latency)]
        m.d.sync += [
            flight_addr[0].eq(word),
            flight_slot[0].eq(slot),
            flight_lanes[0].eq(Cat(slot_left > s for s in range(units))),
        ]
        for i in range(1, latency):
            m.d.sync += [
                flight_addr[i].eq(flight_addr[i - 1]),
                flight_slot[i].eq(flight_slot[i - 1]),
                flight_lanes[i].eq(flight_lanes[i - 1]),
            ]
        landing = in_flight[-1]
        m.d.comb += [
            membrane_wr.addr.eq(flight_addr[-1]),
            membrane_wr.data.eq(new_v),
            membrane_wr.en.eq(landing),
        ]

        # --- emitter: one spike per cycle, lowest lane first, while the next group runs -------
        # Two stages: the first picks the lowest lane with spikes left and takes one of them;
        # the second holds that lane (one-hot) and sends its spike. The lane's number and the
        # spike's address are thus worked out after a register, not behind the search.
        spikes = Signal(data.ArrayLayout(3, lanes))  # per lane, spikes still to send
        emit_first = Signal.like(group_first)
        emit_ptr = Signal(range(p.spike_depth + 1))
        pending = Signal(lanes)
        for k in range(lanes):
            m.d.comb += pending[k].eq(spikes[k] != 0)
        # The lowest pending lane, one-hot (x & -x: a carry chain rather than a priority chain).
        lowest = Signal(lanes)
        m.d.comb += lowest.eq(pending & (~pending + 1))
        held = Signal()  # the second stage holds a spike
        held_lane = Signal(lanes)  # its lane, one-hot
        emitting = Signal()  # spikes are left to send, in either stage
        m.d.comb += emitting.eq(pending.any() | held)
        # Nothing is in the units or left to emit: registered, so that the wide OR over every
        # lane's count is not in front of the sweep's memory address. It is a cycle late, and
        # never wrong: with the units empty and nothing entering, no spike can appear.
        drained = Signal()
        m.d.sync += drained.eq(~emitting & ~in_flight.any() & ~entering)
        chosen = Signal(range(max(lanes, 2)))
        m.d.comb += chosen.eq(
            Cat(
                Cat(held_lane[k] for k in range(lanes) if k >> bit & 1).any()
                for bit in range(len(chosen))
            )
        )
        out = self.o_events
        spike_addr = Signal(p.address_bits)
        if lanes & (lanes - 1) == 0:
            # A group starts at a multiple of `lanes`: with a power of two the lane number
            # fills the low bits, and no adder sits behind it.
            shift = lanes.bit_length() - 1
            m.d.comb += spike_addr.eq(Cat(chosen[:shift], emit_first[shift:]))
        else:
            m.d.comb += spike_addr.eq(emit_first + chosen)
        sent = Signal()
        report = Signal()  # this spike leaves on o_events (else it only feeds the next layer)
        m.d.comb += report.eq(last_layer | ~settings.readout_only)
        with m.If(held):
            m.d.comb += [
                out.valid.eq(report),
                out.payload.kind.eq(layout.KIND_SPIKE),
                out.payload.layer.eq(layer),
                out.payload.addr.eq(spike_addr),
                out.payload.value.eq(1),
                sent.eq(out.ready | ~report),
            ]
        with m.If(sent):
            m.d.sync += [held.eq(0), emit_ptr.eq(emit_ptr + 1)]
        with m.If(pending.any() & (~held | sent)):
            m.d.sync += [held.eq(1), held_lane.eq(lowest)]
            for k in range(lanes):
                with m.If(lowest[k]):
                    m.d.sync += spikes[k].eq(spikes[k] - 1)
        # A slot leaving the units fills lanes the emitter has not reached (it sends the lowest
        # pending lane first, and slots land in increasing order).
        with m.If(landing):
            with m.Switch(flight_slot[-1]):
                for j in range(slots):
                    with m.Case(j):
                        for s, unit in enumerate(lif_units):
                            count = Mux(flight_lanes[-1][s], unit.n, 0)
                            m.d.sync += spikes[j * units + s].eq(count)
        for i, wr in enumerate(spike_wr):
            # Layer l writes spike buffer l % 2; the last layer's spikes go out only.
            m.d.comb += [
                wr.addr.eq(emit_ptr),
                wr.data.eq(spike_addr),
                wr.en.eq(sent & ~last_layer & (layer[0] == i)),
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

        # --- counters -------------------------------------------------------------------------
        running = Signal()
        ending = Signal()  # the SAMPLE_END event leaves: the count stays as it is seen there
        m.d.comb += self.busy.eq(running)
        with m.If(running & ~ending):
            m.d.sync += self.counters.cycles.eq(self.counters.cycles + 1)

        def count_layer(counter, amount):
            with m.Switch(layer):
                for index in range(p.max_layers):
                    with m.Case(index):
                        m.d.sync += counter[index].eq(counter[index] + amount)

        with m.If(held & report & ~out.ready):
            count_layer(self.counters.layer_stalls, 1)

        def start_group():
            """Clear the currents (at this clock edge) and start replaying events."""
            m.d.comb += acc.clear.eq(1)
            m.d.sync += [issue.eq(0), stage1.eq(0), stage_a.eq(0), stage2.eq(0)]
            m.next = "ACCUMULATE"

        # --- the sequencer --------------------------------------------------------------------
        m.d.comb += first_step.eq(t == 0)
        # Whether `t` is the sample's last timestep, registered: `t` and the settings change
        # many cycles before a timestep ends, so the comparison is settled by then.
        last_step = Signal()
        m.d.sync += last_step.eq(t + 1 == settings.timesteps)
        with m.FSM():
            with m.State("SAMPLE_START"):
                # Membranes need no clearing (see `first_step`).
                m.d.sync += t.eq(0)
                m.next = "WAIT_INPUT"

            with m.State("WAIT_INPUT"):
                m.d.comb += idle.eq(~full.bit_select(step_buf, 1))
                # Without a loaded Program (no layers) the input simply waits.
                with m.If(full.bit_select(step_buf, 1) & ~reading & (settings.layers != 0)):
                    m.d.sync += [
                        running.eq(1),
                        layer.eq(0),
                        n_events.eq(Mux(step_buf, input_count[1], input_count[0])),
                    ]
                    # The counters restart with a sample's first timestep, so between samples
                    # they hold the last sample's counts for the host to read.
                    with m.If(t == 0):
                        m.d.sync += self.counters.eq(0)
                    m.next = "LAYER"

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
                    word.eq(cfg_now.neuron_base),
                    word_next.eq(cfg_now.neuron_base + 1),
                    emit_ptr.eq(0),
                ]
                with m.Switch(cfg_now.v_bits):
                    for bits in range(8, vmax + 1):
                        with m.Case(bits):
                            m.d.sync += [
                                neuron_cfg.low.eq(-(1 << (bits - 1))),
                                neuron_cfg.high.eq((1 << (bits - 1)) - 1),
                            ]
                set_remaining(cfg_now.n_out)
                count_layer(self.counters.layer_events, n_events)
                count_layer(self.counters.layer_cycles, 1)
                start_group()

            with m.State("ACCUMULATE"):
                count_layer(self.counters.layer_cycles, 1)
                issuing = Signal()
                m.d.comb += issuing.eq(issue < n_events)
                m.d.sync += [stage1.eq(issuing), stage_a.eq(stage1), stage2.eq(stage_a)]
                with m.If(issuing):
                    m.d.sync += issue.eq(issue + 1)
                with m.If(stage2):
                    m.d.comb += acc.add.eq(1)
                    count_layer(self.counters.layer_synops, valid_lanes)
                with m.If(~issuing & ~stage1 & ~stage_a):
                    m.next = "SWEEP"  # the last add, if any, lands at this edge

            with m.State("SWEEP"):
                # The slot's membrane and threshold/bias words were addressed a cycle ago, so
                # they are here. The emitter must be done with the last group before slot 0;
                # later slots fill lanes it has not reached.
                count_layer(self.counters.layer_cycles, 1)
                m.d.comb += sweeping.eq(1)
                with m.If((slot != 0) | drained):
                    m.d.comb += [step.eq(1), entering.eq(1)]
                    m.d.sync += [word.eq(word_next), word_next.eq(word_next + 1)]
                    with m.If(slot == 0):
                        m.d.sync += emit_first.eq(group_first)
                    with m.If(slot != slots - 1):
                        m.d.sync += [slot.eq(slot + 1), slot_lane.eq(slot_lane + units)]
                    with m.Elif(group + 1 == current.groups):
                        m.d.sync += [slot.eq(0), slot_lane.eq(0)]
                        m.next = "LAYER_END"
                    with m.Else():
                        m.d.sync += [
                            slot.eq(0),
                            slot_lane.eq(0),
                            group.eq(group + 1),
                            group_first.eq(group_first + lanes),
                            group_weights.eq(group_weights + current.n_in),
                        ]
                        set_remaining(remaining - lanes)
                        start_group()

            with m.State("LAYER_END"):
                count_layer(self.counters.layer_cycles, 1)
                with m.If(drained):
                    with m.If(layer == 0):
                        m.d.comb += release.bit_select(step_buf, 1).eq(1)
                    with m.If(last_layer):
                        m.next = "STEP_END"
                    with m.Else():
                        # The next layer reads what this one wrote: spike buffer layer % 2.
                        m.d.sync += [
                            layer.eq(layer + 1),
                            spike_src.eq(layer[0]),
                            n_events.eq(emit_ptr),
                        ]
                        m.next = "LAYER"

            with m.State("STEP_END"):
                m.d.comb += [out.valid.eq(1), out.payload.kind.eq(layout.KIND_STEP_END)]
                with m.If(out.ready):
                    m.d.sync += [t.eq(t + 1), step_buf.eq(~step_buf)]
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
                # membrane_rd.addr follows `word`; its contents arrive next cycle.
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
        return m
