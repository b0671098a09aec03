"""The configuration store alone: writes (taken only while the engine is idle) land where they
should and read back, through the host's ports and the engine's, with random stalls.

SPIKELOOM_SEED replays a failure: every test prints the seed its random numbers come from.
"""

import pytest
from spikeloom.hw import layout
from spikeloom.hw.engine import ConfigStore
from spikeloom.hw.interface import struct
from spikeloom.hw.params import EngineParams
from spikeloom.sim.amaranth_backend import stream_put

from tests.sim_helpers import run_sim

from .bench import SEED, idle, seeded, wait_for

PARAMS = EngineParams(
    lanes=4, sweep_lanes=2, max_layers=3, max_inputs=10, max_neurons=9, weight_words=24
)
SPACES = (layout.SPACE_WEIGHTS, layout.SPACE_NEURONS, layout.SPACE_LAYERS, layout.SPACE_GLOBAL)


def shape(params):
    """Depth and word width of each space."""
    return {
        layout.SPACE_WEIGHTS: (params.weight_words, layout.weight_word_bits(params)),
        layout.SPACE_NEURONS: (params.neuron_words, layout.neuron_word_bits(params)),
        layout.SPACE_LAYERS: (params.max_layers, struct(layout.layer_fields(params)).size),
        layout.SPACE_GLOBAL: (1, struct(layout.global_fields(params)).size),
    }


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_writes_read_back(stall):
    rng = seeded("store", stall)
    spaces = shape(PARAMS)
    # A baked-in image, partly overwritten below.
    images = {
        space: [(addr, rng.getrandbits(width)) for addr in range(depth) if rng.random() < 0.5]
        for space, (depth, width) in spaces.items()
    }
    model = {space: [0] * depth for space, (depth, _) in spaces.items()}
    for space, words in images.items():
        for addr, word in words:
            model[space][addr] = word
    writes = []
    for _ in range(60):
        space = rng.choice(SPACES)
        depth, width = spaces[space]
        writes.append((space, rng.randrange(depth), rng.getrandbits(width)))
    dut = ConfigStore(PARAMS, images)
    done = []

    async def engine(ctx):
        """The sequencer: between timesteps (`idle`) at random, until the host is done."""
        while not done:
            ctx.set(dut.idle, int(rng.random() < 0.6))
            _, _, idle_now, cfg_ready, read_ready = await ctx.tick().sample(
                dut.idle, dut.i_config.ready, dut.i_read.ready
            )
            assert idle_now or not (cfg_ready or read_ready), f"SPIKELOOM_SEED={SEED}"
        ctx.set(dut.idle, 1)

    async def read_back(ctx, what):
        for space, (depth, _) in spaces.items():
            for addr in range(depth):
                await stream_put(ctx, dut.i_read, {"space": space, "addr": addr}, rng, stall)
                await idle(ctx, int(rng.random() < stall) * rng.randrange(4))
                ctx.set(dut.o_read.ready, 1)
                await wait_for(ctx, dut.o_read.valid, what)
                word = ctx.get(dut.o_read.payload)
                await ctx.tick()
                ctx.set(dut.o_read.ready, 0)
                assert word == model[space][addr], f"{what}: space {space} word {addr}"

    async def host(ctx):
        what = f"SPIKELOOM_SEED={SEED}, stall {stall}"
        await read_back(ctx, f"{what}, baked in")
        for space, addr, word in writes:
            await stream_put(
                ctx, dut.i_config, {"space": space, "addr": addr, "data": word}, rng, stall
            )
            model[space][addr] = word
        await read_back(ctx, f"{what}, written")
        done.append(True)
        await wait_for(ctx, dut.idle, what)
        # The engine's own reads: the layer table at once, the others a cycle later.
        assert ctx.get(dut.settings.as_value()) == model[layout.SPACE_GLOBAL][0], what
        for addr, word in enumerate(model[layout.SPACE_LAYERS]):
            ctx.set(dut.layer, addr)
            assert ctx.get(dut.layer_config.as_value()) == word, f"{what}: layer {addr}"
        ports = {layout.SPACE_WEIGHTS: dut.weights, layout.SPACE_NEURONS: dut.neurons}
        for space, port in ports.items():
            for addr, word in enumerate(model[space]):
                ctx.set(port.addr, addr)
                await ctx.tick()
                assert ctx.get(port.data) == word, f"{what}: space {space} word {addr}"

    run_sim(dut, host, engine)
