"""Small helpers shared by the Amaranth-simulator tests."""

from amaranth.sim import Simulator


def run_sim(dut, *benches, background=()):
    """Simulate `dut` on a 100 MHz clock until every testbench in `benches` has returned."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for bench in benches:
        sim.add_testbench(bench)
    for bench in background:
        sim.add_testbench(bench, background=True)
    sim.run()
