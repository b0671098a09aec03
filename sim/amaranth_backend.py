"""The `amaranth` backend: the engine under Amaranth's own simulator, cycle for cycle.

The Program is loaded through the engine's configuration port (as the host link will), then
each sample's events are streamed in and output events collected. With `stall > 0` both streams
idle at random (seeded) so that every handshake is exercised.
"""

import numpy as np
from amaranth import Value
from amaranth.sim import Simulator
from spikeloom.hw.engine import Engine
from spikeloom.hw.params import EngineParams
from spikeloom.sw.compiler.fit import params_for_program
from spikeloom.sw.compiler.program import Program, check_spikes
from spikeloom.sw.result import Result
from spikeloom.sw.runtime.engine_stream import COUNTERS, OutputDecoder, config_writes, sample_events
from tqdm import tqdm

__all__ = ["run_amaranth", "stream_put", "stream_get"]


async def stream_put(ctx, stream, payload: int, rng=None, stall: float = 0.0):
    """Offer one payload and wait until it is taken; idle first with probability `stall`."""
    while rng is not None and rng.random() < stall:
        await ctx.tick()
    # A packed int goes into the payload's bits; anything else (a dict for a struct) as is.
    ctx.set(Value.cast(stream.payload) if isinstance(payload, int) else stream.payload, payload)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    """Take one payload from `stream`, waiting for it."""
    ctx.set(stream.ready, 1)
    (payload,) = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


def run_amaranth(
    program: Program,
    spikes,
    lanes: int = 16,
    stall: float = 0.0,
    seed: int = 0,
    waves: str | None = None,
    progress: bool = False,
    params: EngineParams | None = None,
) -> Result:
    """Run `program` on `spikes`; `params` (default: sized for the Program) sets the build."""
    spikes = check_spikes(program, spikes)
    params = params or params_for_program(program, lanes)
    engine = Engine(params)
    rng = np.random.default_rng(seed)
    decoder = OutputDecoder(program, params)
    cycles, counters = [], {name: [] for name in COUNTERS}

    async def driver(ctx):
        for payload in config_writes(program, params):
            await stream_put(ctx, engine.i_config, payload)
        for sample in spikes:
            for payload in sample_events(sample, params):
                await stream_put(ctx, engine.i_events, payload, rng, stall)

    bar = tqdm(total=len(spikes), desc="amaranth sim", unit="sample", disable=not progress)

    async def monitor(ctx):
        out = engine.o_events
        while len(decoder.samples) < len(spikes):
            ctx.set(out.ready, int(rng.random() >= stall))
            *_, valid, ready, payload, count = await ctx.tick().sample(
                out.valid, out.ready, out.payload.as_value(), engine.counters.cycles
            )
            if valid and ready and decoder.feed(payload):
                bar.update()
                cycles.append(count)
                for name in COUNTERS:
                    counter = getattr(engine.counters, name)
                    counters[name].append([ctx.get(counter[i]) for i in range(len(counter))])

    sim = Simulator(engine)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_testbench(monitor)
    try:
        if waves:
            with sim.write_vcd(waves):
                sim.run()
        else:
            sim.run()
    finally:
        bar.close()  # also on Ctrl-C, so the terminal's next line starts clean
    return decoder.result(cycles, counters)
