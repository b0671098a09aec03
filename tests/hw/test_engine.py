"""The engine under Amaranth's simulator equals the golden model, with random stalls."""

import os

import numpy as np
import pytest
from spikeloom.hw.lif import LifUnit
from spikeloom.sim.amaranth_backend import run_amaranth
from spikeloom.sw.compiler.fit import params_for_program
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.random_program import edge_programs, random_program, random_spikes

from tests.golden_check import assert_matches_golden

SEED = int(os.environ.get("SPIKELOOM_SEED", "7"))
PROGRAMS = int(os.environ.get("SPIKELOOM_PROGRAMS", "12"))


def assert_same(program, spikes, result, what):
    assert_matches_golden(program, spikes, result, what)
    assert (result.cycles > 0).all()


@pytest.mark.parametrize("index", range(PROGRAMS))
def test_random_programs_with_stalls(index):
    seed = SEED * 1000 + index
    print(f"SPIKELOOM_SEED={SEED} program {index} (rng seed {seed})")
    rng = np.random.default_rng(seed)
    program = random_program(rng, max_layers=3, max_width=14, max_timesteps=4)
    spikes = random_spikes(rng, program, 3)
    lanes = int(rng.choice([1, 3, 4, 8]))
    # The sweep updates all lanes per cycle, or fewer (any divisor of lanes).
    sweep = int(rng.choice([d for d in range(1, lanes + 1) if lanes % d == 0]))
    params = params_for_program(program, lanes, sweep_lanes=sweep)
    result = run_amaranth(program, spikes, stall=0.3, seed=seed, params=params)
    assert_same(program, spikes, result, f"seed {seed}, lanes {lanes}, sweep_lanes {sweep}")


@pytest.mark.parametrize("name", sorted(edge_programs()))
@pytest.mark.parametrize("lanes, sweep", [(4, None), (16, None), (16, 4)])
def test_edge_cases(name, lanes, sweep):
    program, spikes = edge_programs()[name]
    params = params_for_program(program, lanes, sweep_lanes=sweep)
    result = run_amaranth(program, spikes, stall=0.2, seed=lanes, params=params)
    assert_same(program, spikes, result, f"{name}, lanes {lanes}, sweep_lanes {sweep}")


def test_cycles_follow_the_event_count():
    """More input events cost more cycles: the engine is event-driven."""
    rng = np.random.default_rng(5)
    program = random_program(rng, max_layers=1, max_width=20, max_timesteps=2)
    quiet = np.zeros((1, program.timesteps, program.inputs), np.uint8)
    busy = np.ones_like(quiet)
    cycles = run_amaranth(program, np.concatenate([quiet, busy]), lanes=4).cycles
    groups = -(-program.layers[0].outputs // 4)
    # Each event costs a cycle per group, less what hides the units' pipeline draining between
    # groups (which a silent timestep waits for and a busy one overlaps).
    hidden = groups * LifUnit.LATENCY
    assert cycles[1] - cycles[0] >= program.timesteps * (program.inputs * groups - hidden)


def test_counters_add_up():
    rng = np.random.default_rng(11)
    program = random_program(rng, max_layers=3, max_width=12, max_timesteps=3)
    spikes = random_spikes(rng, program, 2)
    result = run_amaranth(program, spikes, lanes=4, stall=0.3, seed=11)
    golden = run_golden(program, spikes)
    events = [spikes.sum(axis=(1, 2))]
    for layer in program.layers[:-1]:
        events.append(golden.spikes[layer.name].sum(axis=(1, 2), dtype=np.int64))
    np.testing.assert_array_equal(result.counters["layer_events"], np.stack(events, axis=1))
    synops = np.stack(events, axis=1) * [layer.outputs for layer in program.layers]
    np.testing.assert_array_equal(result.counters["layer_synops"], synops)
    assert (result.counters["layer_cycles"].sum(axis=1) <= result.cycles).all()
    assert (result.counters["layer_stalls"] <= result.counters["layer_cycles"]).all()
    assert result.lanes == 4


@pytest.mark.parametrize("lanes, sweep", [(3, None), (8, 2)])
def test_loaded_program_reads_back(lanes, sweep):
    """Every word written through i_config reads back through i_read, before and after a run."""
    from amaranth.sim import Simulator
    from spikeloom.hw.engine import Engine
    from spikeloom.sim.amaranth_backend import stream_put
    from spikeloom.sw.runtime.engine_stream import config_writes, read_requests, sample_events

    rng = np.random.default_rng(lanes)
    program = random_program(rng, max_layers=3, max_width=12, max_timesteps=3)
    spikes = random_spikes(rng, program, 1)
    params = params_for_program(program, lanes, sweep_lanes=sweep)
    engine = Engine(params)
    requests = read_requests(program, params)

    async def read_all(ctx):
        words = []
        for request, _ in requests:
            await stream_put(ctx, engine.i_read, request, rng, 0.3)
            ctx.set(engine.o_read.ready, 1)
            *_, word = await ctx.tick().sample(engine.o_read.payload).until(engine.o_read.valid)
            ctx.set(engine.o_read.ready, 0)
            words.append(word)
        return words

    async def bench(ctx):
        for payload in config_writes(program, params):
            await stream_put(ctx, engine.i_config, payload)
        assert await read_all(ctx) == [word for _, word in requests]
        ctx.set(engine.o_events.ready, 1)
        for payload in sample_events(spikes[0], params):
            await stream_put(ctx, engine.i_events, payload)
        await ctx.tick().until(~engine.busy)
        assert await read_all(ctx) == [word for _, word in requests]

    sim = Simulator(engine)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
