"""The input receiver alone: timesteps of host events reach the layers whole and in order, with
random stalls on the host's side and random delays on the layers' side.

SPIKELOOM_SEED replays a failure: every test prints the seed its random numbers come from.
"""

import pytest
from spikeloom.hw.engine import InputReceiver
from spikeloom.hw.params import EngineParams
from spikeloom.sim.amaranth_backend import stream_put

from tests.sim_helpers import run_sim

from .bench import SEED, idle, seeded, wait_for

PARAMS = EngineParams(lanes=4, max_layers=2, max_inputs=12, max_neurons=8, weight_words=64)


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_timesteps_reach_the_layers_in_order(stall):
    rng = seeded("receiver", stall)
    dut = InputReceiver(PARAMS)
    n = PARAMS.max_inputs
    # Empty, full and in-between timesteps; addresses may repeat (bursts).
    steps = [[rng.randrange(n) for _ in range(rng.choice([0, 1, n, rng.randrange(n + 1)]))]]
    steps += [[rng.randrange(n) for _ in range(rng.randrange(n + 1))] for _ in range(30)]

    async def host(ctx):
        for step in steps:
            for addr in step:
                await stream_put(ctx, dut.i_events, {"addr": addr, "end": 0}, rng, stall)
            await stream_put(ctx, dut.i_events, {"addr": 0, "end": 1}, rng, stall)

    async def layers(ctx):
        for index, step in enumerate(steps):
            what = f"SPIKELOOM_SEED={SEED}, stall {stall}, timestep {index}"
            await wait_for(ctx, dut.full, what)
            count = ctx.get(dut.count)
            assert count == len(step), what
            read = []
            for i in range(count):  # the buffer's word arrives a cycle after its address
                ctx.set(dut.events.addr, i)
                await ctx.tick()
                read.append(ctx.get(dut.events.data))
            assert read == step, what
            await idle(ctx, rng.randrange(4) + 1)
            # Layer 0 is done with the events: the buffer goes back to the host (which may
            # fill it again before the timestep is over).
            ctx.set(dut.release, 1)
            await ctx.tick()
            ctx.set(dut.release, 0)
            await idle(ctx, rng.randrange(4))
            ctx.set(dut.step_done, 1)
            await ctx.tick()
            ctx.set(dut.step_done, 0)
            if rng.random() < stall:
                await idle(ctx, rng.randrange(20))  # a slow layer: the host waits

    run_sim(dut, host, layers)
