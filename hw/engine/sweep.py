"""The sweep: a group's membranes through the LIF units, `units` neurons per cycle.

A group's `lanes` neurons are swept `units` at a time, one membrane word (slot) per cycle: the
units (`hw.lif.LifUnit`) take the slot's membranes, currents, thresholds and biases, and
`LifUnit.LATENCY` cycles later the slot lands: its membranes are written back and its spike
counts handed to the emitter.
"""

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import layout
from ..interface import struct
from ..lif import LifUnit, NeuronConfig
from ..params import EngineParams
from ..ram import ram
from .ports import ReadPortSignature, neuron_addr_bits

__all__ = ["SlotLayout", "Sweep"]


def SlotLayout(params: EngineParams) -> data.StructLayout:
    """A slot leaving the units: which one, and the spike count of each of its lanes (0 for a
    lane beyond the layer's last neuron)."""
    return data.StructLayout(
        {"slot": range(params.slots), "counts": data.ArrayLayout(3, params.units)}
    )


class Sweep(wiring.Component):
    """The LIF units between the membrane memory and the emitter, and what is in flight.

    - `layer` / `start_layer`: the layer table's entry of the layer about to start, and the
      strobe that latches its neuron settings (they stay still while a slot is in flight);
    - `first_step`: the sample's first timestep: membranes are read as 0;
    - `run`: the sweep's turn: a slot enters the units when it may (`step`);
    - `word` / `word_next`: the neuron word of the slot entering, and the one after it;
    - `remaining`: neurons from the group's lane 0 to the end of the layer;
    - `currents`: the accumulated currents of the group's lanes;
    - `emitting`: the emitter has spikes left to send;
    - `neurons`: threshold/bias reads;
    - `step`: a slot enters the units at this edge, and the sweep moves on to the next word;
    - `slot`: the slot entering;
    - `drained`: nothing is in the units or left to emit (a cycle late, and never wrong);
    - `o_slots`: the slots leaving the units, with their spike counts (always taken);
    - `membranes`: the membrane word read at the previous cycle's address (`word` while the
      sweep does not step: what the readout reads).
    """

    def __init__(self, params: EngineParams):
        self.params = params
        p = params
        vmax = p.max_v_bits
        super().__init__(
            {
                "layer": In(struct(layout.layer_fields(p))),
                "start_layer": In(1),
                "first_step": In(1),
                "run": In(1),
                "word": In(neuron_addr_bits(p)),
                "word_next": In(neuron_addr_bits(p)),
                "remaining": In(signed(p.address_bits + 2)),
                "currents": In(data.ArrayLayout(signed(p.current_bits), p.lanes)),
                "emitting": In(1),
                "neurons": Out(ReadPortSignature(neuron_addr_bits(p), layout.neuron_word_bits(p))),
                "step": Out(1),
                "slot": Out(range(p.slots)),
                "drained": Out(1),
                "o_slots": Out(stream.Signature(SlotLayout(p), always_ready=True)),
                "membranes": Out(p.units * vmax),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        lanes, vmax, units, slots = p.lanes, p.max_v_bits, p.units, p.slots
        # No read races a write to the same word: a slot's membranes are written back long
        # before they are read again.
        m.submodules.membranes = membranes = ram(shape=units * vmax, depth=p.neuron_words)
        membrane_rd, membrane_wr = membranes.read_port(), membranes.write_port()

        # The layer's neuron settings, latched at its start.
        neuron_cfg = Signal(NeuronConfig(vmax))
        with m.If(self.start_layer):
            cfg = self.layer
            m.d.sync += [
                neuron_cfg.spiking.eq(cfg.spiking),
                neuron_cfg.burst_max.eq(cfg.burst_max),
                neuron_cfg.leak.eq(cfg.leak),
                neuron_cfg.leak_shift.eq(cfg.leak_shift),
                neuron_cfg.subtract.eq(cfg.subtract),
            ]
            with m.Switch(cfg.v_bits):
                for bits in range(8, vmax + 1):
                    with m.Case(bits):
                        m.d.sync += [
                            neuron_cfg.low.eq(-(1 << (bits - 1))),
                            neuron_cfg.high.eq((1 << (bits - 1)) - 1),
                        ]

        # The memories are read one cycle ahead, so their address is the word of the *next*
        # cycle: `word_next` when the sweep moves on (`step`), else `word`.
        slot = self.slot
        slot_lane = Signal(range(lanes))  # lane of the slot's first unit: slot * units
        step = self.step
        sweep_addr = Signal.like(self.word)
        m.d.comb += [
            sweep_addr.eq(Mux(step, self.word_next, self.word)),
            self.neurons.addr.eq(sweep_addr),
            membrane_rd.addr.eq(sweep_addr),
            self.membranes.eq(membrane_rd.data),
        ]
        new_v = Signal(units * vmax)
        # The units see the currents only during the sweep: gating them (an AND in hardware)
        # keeps the units' inputs still while the currents change every cycle, which is what
        # makes a simulator re-evaluate them.
        sweeping = self.run
        # Membranes start at 0 for every sample: the first timestep reads 0 instead of memory,
        # so nothing has to clear the membrane memory between samples.
        first_step = self.first_step
        lif_units = []
        for s in range(units):
            m.submodules[f"lif{s}"] = unit = LifUnit(vmax, p.current_bits, p.max_burst)
            z = Signal(signed(p.current_bits), name=f"z{s}")
            with m.Switch(slot):
                for j in range(slots):
                    with m.Case(j):
                        m.d.comb += z.eq(self.currents[j * units + s])
            params_slot = self.neurons.data[s * 2 * vmax : (s + 1) * 2 * vmax]
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
        slot_left = Signal(signed(max(len(self.remaining), lanes.bit_length()) + 2))
        m.d.comb += slot_left.eq(self.remaining - slot_lane)
        flight_addr = [Signal.like(sweep_addr, name=f"flight_addr{i}") for i in range(latency)]
        flight_slot = [Signal.like(slot, name=f"flight_slot{i}") for i in range(latency)]
        flight_lanes = [Signal(units, name=f"flight_lanes{i}") for i in range(latency)]
        m.d.sync += [
            flight_addr[0].eq(self.word),
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
            self.o_slots.valid.eq(landing),
            self.o_slots.payload.slot.eq(flight_slot[-1]),
        ]
        for s, unit in enumerate(lif_units):
            m.d.comb += self.o_slots.payload.counts[s].eq(Mux(flight_lanes[-1][s], unit.n, 0))

        # Nothing is in the units or left to emit: registered, so that the wide OR over every
        # lane's count is not in front of the sweep's memory address. It is a cycle late, and
        # never wrong: with the units empty and nothing entering, no spike can appear.
        m.d.sync += self.drained.eq(~self.emitting & ~in_flight.any() & ~entering)

        # The slot's membrane and threshold/bias words were addressed a cycle ago, so they are
        # here. The emitter must be done with the last group before slot 0; later slots fill
        # lanes it has not reached.
        with m.If(self.run & ((slot != 0) | self.drained)):
            m.d.comb += [step.eq(1), entering.eq(1)]
            with m.If(slot != slots - 1):
                m.d.sync += [slot.eq(slot + 1), slot_lane.eq(slot_lane + units)]
            with m.Else():
                m.d.sync += [slot.eq(0), slot_lane.eq(0)]
        return m
