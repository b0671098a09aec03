"""The LIF/LIFB/readout unit against DESIGN.md section 2, on random and edge-case values."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.lif import LifUnit


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
            assert (ctx.get(dut.v_next), ctx.get(dut.n)) == expected, c

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
