"""Accumulate lanes: add-only, every weight width decoded as the Program format defines."""

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator
from spikeloom.hw.engine import Engine
from spikeloom.hw.lanes import AccumulateLanes
from spikeloom.hw.params import EngineParams, weight_range


def _word(weights, bits, wmax):
    word = 0
    for lane, w in enumerate(weights):
        slot = (1 if w > 0 else 0) if bits == 1 else int(w) & ((1 << wmax) - 1)
        word |= slot << (lane * wmax)
    return word


@pytest.mark.parametrize("bits", [1, 2, 5, 8])
def test_lanes_sum_decoded_weights(bits):
    lanes, wmax, cb = 5, 8, 14
    rng = np.random.default_rng(bits)
    dut = AccumulateLanes(lanes, wmax, cb)
    low, high = weight_range(bits)
    rows = [
        rng.choice([-1, 1], lanes) if bits == 1 else rng.integers(low, high + 1, lanes)
        for _ in range(40)
    ]
    adds = rng.random(40) < 0.7  # some cycles do not add

    async def bench(ctx):
        ctx.set(dut.weight_bits, bits)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        expected = np.zeros(lanes, int)
        for row, add in zip(rows, adds, strict=True):
            ctx.set(dut.word, _word(row, bits, wmax))
            ctx.set(dut.add, int(add))
            await ctx.tick()
            expected += row * add
            assert [ctx.get(dut.currents[k]) for k in range(lanes)] == expected.tolist()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_engine_netlist_has_no_multiplier():
    params = EngineParams(
        lanes=8,
        max_layers=2,
        max_inputs=40,
        max_neurons=20,
        max_v_bits=16,
        max_weight_bits=4,
        weight_words=200,
        current_bits=12,
    )
    text = rtlil.convert(Engine(params))
    cells = {line.split()[1] for line in text.splitlines() if line.strip().startswith("cell ")}
    assert cells, "no cells found: the netlist check would be vacuous"
    assert not {"$mul", "$div", "$mod", "$divfloor", "$modfloor", "$pow"} & cells, cells
