"""The spike emitter alone: spike counts in as the sweep lands them, spikes out one per cycle,
lowest lane first, under random `o_spikes` stalls; and the spike buffers the next layer reads.

SPIKELOOM_SEED replays a failure: every test prints the seed its random numbers come from.
"""

import pytest
from spikeloom.hw.engine import SpikeEmitter
from spikeloom.hw.params import EngineParams

from tests.sim_helpers import run_sim

from .bench import SEED, idle, seeded, wait_for


@pytest.mark.parametrize("lanes, sweep", [(4, 2), (4, 4), (3, 1), (6, 3)])
def test_spikes_leave_in_order_and_fill_the_buffer(lanes, sweep):
    rng = seeded("emitter", lanes, sweep)
    params = EngineParams(
        lanes=lanes, sweep_lanes=sweep, max_layers=4, max_inputs=8, max_neurons=13, max_burst=7
    )
    units, slots, groups = params.units, params.slots, params.groups(params.max_neurons)
    dut = SpikeEmitter(params)

    # Per layer and group, each lane's spike count (mostly none, some bursts; none where a lane
    # is beyond the last neuron).
    def count(neuron):
        return rng.choice([0, 0, 0, 1, 2, rng.randrange(8)]) if neuron < params.max_neurons else 0

    layers = [
        [[count(g * lanes + k) for k in range(lanes)] for g in range(n)]
        for n in [rng.randrange(1, groups + 1) for _ in range(6)]
    ]
    # What each layer sends: its groups' lanes in order, a lane's burst in a row.
    expected = [
        [
            group * lanes + k
            for group, counts in enumerate(layer)
            for k in range(lanes)
            for _ in range(counts[k])
        ]
        for layer in layers
    ]
    sent = []

    async def sweep_and_sequencer(ctx):
        for index, layer in enumerate(layers):
            what = f"SPIKELOOM_SEED={SEED}, layer {index}"
            last = index == len(layers) - 1
            ctx.set(dut.odd_layer, index % 2)
            ctx.set(dut.last_layer, last)
            ctx.set(dut.start_layer, 1)
            await ctx.tick()
            ctx.set(dut.start_layer, 0)
            for group, counts in enumerate(layer):
                # A group's first slot enters the units only once the emitter is done.
                await wait_for(ctx, ~dut.emitting, what)
                ctx.set(dut.first, group * lanes)
                ctx.set(dut.start_group, 1)
                await ctx.tick()
                ctx.set(dut.start_group, 0)
                await idle(ctx, rng.randrange(6))
                for slot in range(slots):  # slots land in order, possibly while emitting
                    ctx.set(dut.i_slots.valid, 1)
                    ctx.set(dut.i_slots.payload.slot, slot)
                    for s in range(units):
                        ctx.set(dut.i_slots.payload.counts[s], counts[slot * units + s])
                    await ctx.tick()
                    ctx.set(dut.i_slots.valid, 0)
                    await idle(ctx, rng.choice([0, 0, rng.randrange(4)]))
            await wait_for(ctx, ~dut.emitting, what)
            await ctx.tick()  # the sink has seen the last spike
            assert ctx.get(dut.count) == len(expected[index]), what
            assert sent == expected[index], what
            sent.clear()
            if last:
                continue
            # The next layer reads what this one wrote.
            ctx.set(dut.next_layer, 1)
            await ctx.tick()
            ctx.set(dut.next_layer, 0)
            read = []
            for i in range(len(expected[index])):
                ctx.set(dut.events.addr, i)
                await ctx.tick()
                read.append(ctx.get(dut.events.data))
            assert read == expected[index], what

    async def sink(ctx):
        while True:
            ctx.set(dut.o_spikes.ready, int(rng.random() >= 0.4))
            _, _, valid, ready, addr = await ctx.tick().sample(
                dut.o_spikes.valid, dut.o_spikes.ready, dut.o_spikes.payload
            )
            if valid and ready:
                sent.append(addr)

    run_sim(dut, sweep_and_sequencer, background=[sink])
