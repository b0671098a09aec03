"""The LIF/LIFB/readout unit against docs/semantics.md, on random and edge-case values."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from spikeloom.hw.lif import LifUnit


def reference(v, z, theta, bias, v_bits, leak_shift, reset, spiking, burst_max):
    low, high = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    lam = 0 if leak_shift is None else (v + ((1 << leak_shift) >> 1)) >> leak_shift
    h = min(max(v - lam + z + bias, low), high)
    if not spiking:
        return h, 0
    n = sum(h >= m * theta for m in range(1, burst_max + 1))
    if reset == "zero":
        return (0 if n else h), n
    return min(max(h - n * theta, low), high), n


@pytest.mark.parametrize("v_bits", [8, 13, 16])
def test_unit_matches_reference(v_bits):
    vmax, cb = 16, 12
    rng = np.random.default_rng(v_bits)
    dut = LifUnit(vmax, cb)
    low, high = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    cases = []
    for _ in range(300):
        spiking = bool(rng.random() < 0.8)
        burst = int(rng.integers(1, 8)) if spiking else 1
        case = dict(
            v=int(rng.choice([low, high, 0, -1, 1, rng.integers(low, high + 1)])),
            z=int(rng.integers(-(1 << (cb - 1)), 1 << (cb - 1))),
            theta=int(rng.choice([1, 2, 3, high, rng.integers(1, high + 1)])),
            bias=int(rng.integers(low, high + 1)),
            leak_shift=None if rng.random() < 0.3 else int(rng.integers(0, v_bits)),
            reset=str(rng.choice(["zero", "subtract"])),
            spiking=spiking,
            burst_max=burst,
        )
        cases.append(case)

    async def bench(ctx):
        for c in cases:
            cfg = dut.config
            ctx.set(cfg.spiking, c["spiking"])
            ctx.set(cfg.burst_max, c["burst_max"])
            ctx.set(cfg.leak, c["leak_shift"] is not None)
            ctx.set(cfg.leak_shift, c["leak_shift"] or 0)
            ctx.set(cfg.subtract, c["reset"] == "subtract")
            ctx.set(cfg.low, low)
            ctx.set(cfg.high, high)
            for key in ("v", "z", "theta", "bias"):
                ctx.set(getattr(dut, key), c[key])
            expected = reference(v_bits=v_bits, **c)
            await ctx.tick().repeat(LifUnit.LATENCY)
            assert (ctx.get(dut.v_next), ctx.get(dut.n)) == expected, c

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_a_new_neuron_every_cycle():
    """The pipeline takes a neuron per cycle: results come out in order, LATENCY cycles later."""
    vmax, cb, v_bits = 16, 12, 12
    rng = np.random.default_rng(3)
    dut = LifUnit(vmax, cb, max_burst=3)
    low, high = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    cases = [
        dict(
            v=int(rng.integers(low, high + 1)),
            z=int(rng.integers(-(1 << (cb - 1)), 1 << (cb - 1))),
            theta=int(rng.integers(1, 300)),
            bias=int(rng.integers(-50, 50)),
        )
        for _ in range(60)
    ]
    settings = dict(leak_shift=2, reset="subtract", spiking=True, burst_max=3)
    seen = []

    async def bench(ctx):
        cfg = dut.config
        for name, value in (("spiking", 1), ("burst_max", 3), ("leak", 1), ("leak_shift", 2)):
            ctx.set(getattr(cfg, name), value)
        ctx.set(cfg.subtract, 1)
        ctx.set(cfg.low, low)
        ctx.set(cfg.high, high)
        for index in range(len(cases) + LifUnit.LATENCY):
            if index < len(cases):
                for key, value in cases[index].items():
                    ctx.set(getattr(dut, key), value)
            await ctx.tick()
            if index + 1 >= LifUnit.LATENCY:
                seen.append((ctx.get(dut.v_next), ctx.get(dut.n)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    expected = [reference(v_bits=v_bits, **case, **settings) for case in cases]
    assert seen[: len(cases)] == expected
