"""Shared by the command processor's component tests: the seed, a small engine, a cycle loop.

SPIKELOOM_SEED replays a failure; every assertion message names the seed it came from.
"""

import random

from amaranth import ClockDomain, Module
from amaranth.sim import Simulator
from spikeloom.hw.params import EngineParams

# The seed and the small engine of the processor's own tests.
from tests.hw.test_command import PARAMS, SEED

__all__ = ["SEED", "PARAMS", "WIDE", "seeded", "simulate"]

#: Wider words than events, and inputs that take three bitmap bytes.
WIDE = EngineParams(
    lanes=8,
    max_layers=2,
    max_inputs=20,
    max_neurons=16,
    weight_words=160,
    max_v_bits=10,
    max_weight_bits=8,
    max_timesteps=3,
    current_bits=16,
)


def seeded(test: str, *params) -> tuple[random.Random, str]:
    """A random generator for one test case, and the words that replay it."""
    where = f"SPIKELOOM_SEED={SEED} ({test} {params})"
    print(where)
    return random.Random(f"{SEED}/{test}/{params}"), where


def simulate(dut, bench, background=None):
    """Run the testbench `bench(ctx)` on `dut` until it returns, with `background` (another
    testbench) beside it, and a `sync` clock even if `dut` has no register."""
    m = Module()
    m.domains.sync = ClockDomain()
    m.submodules.dut = dut
    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    if background is not None:
        sim.add_testbench(background, background=True)
    sim.run()
