"""The spike emitter: a group's spikes, one per cycle, lowest lane first.

The emitter sends the spike counts the sweep hands it while the next group accumulates: each
spike goes to the spike buffer the next layer reads and out on `o_spikes`. Two spike buffers
alternate between layers: a layer reads the one the layer before it filled while its own
spikes fill the other.
"""

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import EngineParams
from ..ram import ram
from .ports import EventReadSignature
from .sweep import SlotLayout

__all__ = ["SpikeEmitter"]


class SpikeEmitter(wiring.Component):
    """Spike counts in, one spike per cycle out, and the spike buffers.

    - `i_slots`: slots leaving the units with their lanes' spike counts (always taken: a slot
      fills lanes the emitter has not reached, or lanes of a group it has finished);
    - `first` / `start_group`: the neuron number of the group's lane 0, and the strobe (the
      group's first slot enters the units) that makes it the number of the spikes to come;
    - `start_layer`: a layer starts: its spikes fill its buffer from the first entry;
    - `odd_layer`: the layer's number is odd: layer l fills spike buffer l % 2;
    - `last_layer`: the last layer's spikes go out only;
    - `next_layer`: the next layer reads the buffer this one filled;
    - `o_spikes`: the spikes, as neuron addresses (a burst of c is c spikes);
    - `emitting`: spikes are left to send;
    - `count`: spikes of the layer sent so far (the next layer's event count);
    - `events`: the layer's reads of the buffer the previous layer filled.
    """

    def __init__(self, params: EngineParams):
        self.params = params
        p = params
        super().__init__(
            {
                "i_slots": In(stream.Signature(SlotLayout(p), always_ready=True)),
                "first": In(p.address_bits + 1),
                "start_group": In(1),
                "start_layer": In(1),
                "odd_layer": In(1),
                "last_layer": In(1),
                "next_layer": In(1),
                "o_spikes": Out(stream.Signature(p.address_bits)),
                "emitting": Out(1),
                "count": Out(range(p.spike_depth + 1)),
                "events": In(EventReadSignature(p)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        lanes, units, slots = p.lanes, p.units, p.slots
        # No read races a write to the same word: a layer reads one buffer while its spikes fill
        # the other.
        buffers = [ram(shape=p.address_bits, depth=p.spike_depth) for _ in range(2)]
        for i, buffer in enumerate(buffers):
            m.submodules[f"spikes{i}"] = buffer
        spike_rd = [b.read_port() for b in buffers]
        spike_wr = [b.write_port() for b in buffers]

        # Two stages: the first picks the lowest lane with spikes left and takes one of them;
        # the second holds that lane (one-hot) and sends its spike. The lane's number and the
        # spike's address are thus worked out after a register, not behind the search.
        spikes = Signal(data.ArrayLayout(3, lanes))  # per lane, spikes still to send
        emit_first = Signal.like(self.first)
        emit_ptr = self.count
        pending = Signal(lanes)
        for k in range(lanes):
            m.d.comb += pending[k].eq(spikes[k] != 0)
        # The lowest pending lane, one-hot (x & -x: a carry chain rather than a priority chain).
        lowest = Signal(lanes)
        m.d.comb += lowest.eq(pending & (~pending + 1))
        held = Signal()  # the second stage holds a spike
        held_lane = Signal(lanes)  # its lane, one-hot
        m.d.comb += self.emitting.eq(pending.any() | held)
        chosen = Signal(range(max(lanes, 2)))
        m.d.comb += chosen.eq(
            Cat(
                Cat(held_lane[k] for k in range(lanes) if k >> bit & 1).any()
                for bit in range(len(chosen))
            )
        )
        spike_addr = Signal(p.address_bits)
        if lanes & (lanes - 1) == 0:
            # A group starts at a multiple of `lanes`: with a power of two the lane number
            # fills the low bits, and no adder sits behind it.
            shift = lanes.bit_length() - 1
            m.d.comb += spike_addr.eq(Cat(chosen[:shift], emit_first[shift:]))
        else:
            m.d.comb += spike_addr.eq(emit_first + chosen)
        sent = Signal()
        m.d.comb += [
            self.o_spikes.valid.eq(held),
            self.o_spikes.payload.eq(spike_addr),
            sent.eq(self.o_spikes.valid & self.o_spikes.ready),
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
        with m.If(self.i_slots.valid):
            with m.Switch(self.i_slots.payload.slot):
                for j in range(slots):
                    with m.Case(j):
                        for s in range(units):
                            m.d.sync += spikes[j * units + s].eq(self.i_slots.payload.counts[s])
        with m.If(self.start_layer):
            m.d.sync += emit_ptr.eq(0)
        with m.If(self.start_group):
            m.d.sync += emit_first.eq(self.first)

        for i, wr in enumerate(spike_wr):
            # Layer l writes spike buffer l % 2; the last layer's spikes go out only.
            m.d.comb += [
                wr.addr.eq(emit_ptr),
                wr.data.eq(spike_addr),
                wr.en.eq(sent & ~self.last_layer & (self.odd_layer == i)),
            ]
        # The buffer the layer reads: the one the previous layer wrote.
        spike_src = Signal()
        with m.If(self.next_layer):
            m.d.sync += spike_src.eq(self.odd_layer)
        for rd in spike_rd:
            m.d.comb += rd.addr.eq(self.events.addr)
        m.d.comb += self.events.data.eq(Mux(spike_src, spike_rd[1].data, spike_rd[0].data))
        return m
