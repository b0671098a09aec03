"""The accumulate alone: each group's events replayed into the lanes through real event and
weight memories, against a Python sum of the decoded weights, with the pipeline's exact timing.

SPIKELOOM_SEED replays a failure: every test prints the seed its random numbers come from.
"""

import pytest
from amaranth import Module
from amaranth.lib.memory import Memory
from spikeloom.hw.engine import Accumulator
from spikeloom.hw.params import EngineParams

from tests.sim_helpers import run_sim

from .bench import SEED, idle, seeded

PARAMS = dict(max_layers=2, max_inputs=24, max_neurons=6, max_weight_bits=4, current_bits=10)


def decode(word: int, lanes: int, wmax: int, bits: int) -> list[int]:
    """The weights of one word, lane by lane, as the Program format defines them."""
    weights = []
    for k in range(lanes):
        slot = word >> (k * wmax) & ((1 << wmax) - 1)
        if bits == 1:
            weights.append(1 if slot & 1 else -1)
        else:
            value = slot & ((1 << bits) - 1)
            weights.append(value - (1 << bits) if value >> (bits - 1) else value)
    return weights


@pytest.mark.parametrize("lanes", [1, 3, 4])
def test_groups_accumulate_their_weights(lanes):
    rng = seeded("accumulator", lanes)
    params = EngineParams(lanes=lanes, weight_words=96, **PARAMS)
    wmax = params.max_weight_bits
    inputs = [rng.randrange(params.max_inputs) for _ in range(params.max_inputs)]
    spikes = [rng.randrange(params.max_neurons) for _ in range(params.spike_depth)]
    weights = [rng.getrandbits(lanes * wmax) for _ in range(params.weight_words)]

    dut = Accumulator(params)
    m = Module()
    m.submodules.dut = dut
    for name, port, image in (
        ("inputs", dut.inputs, inputs),
        ("spikes", dut.spikes, spikes),
        ("weights", dut.weights, weights),
    ):
        m.submodules[name] = memory = Memory(shape=len(port.data), depth=len(image), init=image)
        read = memory.read_port()
        m.d.comb += [read.addr.eq(port.addr), port.data.eq(read.data)]

    async def bench(ctx):
        for group in range(40):
            first_layer = rng.random() < 0.5
            events = inputs if first_layer else spikes
            count = rng.choice([0, 1, 2, rng.randrange(len(events) + 1)])
            base = rng.randrange(params.weight_words - params.max_inputs)
            bits = rng.randrange(1, wmax + 1)
            what = f"SPIKELOOM_SEED={SEED}, group {group}: {count} events from {base}, {bits} bits"
            for port, value in (
                (dut.count, count),
                (dut.base, base),
                (dut.first_layer, first_layer),
                (dut.weight_bits, bits),
            ):
                ctx.set(port, value)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            assert [ctx.get(dut.currents[k]) for k in range(lanes)] == [0] * lanes, what
            await idle(ctx, rng.randrange(3))  # the sequencer may wait before the replay
            ctx.set(dut.run, 1)
            cycle, adds = -1, 0
            done = False
            while not done and cycle < count + 3:
                cycle += 1
                done, adding = ctx.get(dut.done), ctx.get(dut.adding)
                adds += adding
                await ctx.tick()
            ctx.set(dut.run, 0)
            # Three stages: the last event is issued in cycle count - 1, its word added (and
            # `done` seen) in cycle count + 2.
            assert cycle == (count + 2 if count else 0), what
            assert adds == count, what
            expected = [0] * lanes
            for addr in events[:count]:
                for k, w in enumerate(decode(weights[base + addr], lanes, wmax, bits)):
                    expected[k] += w
            assert [ctx.get(dut.currents[k]) for k in range(lanes)] == expected, what
            await idle(ctx, rng.randrange(3))

    run_sim(m, bench)
