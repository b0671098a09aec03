"""The engine's counters alone, against a Python model, under random strobes.

SPIKELOOM_SEED replays a failure: every test prints the seed its random numbers come from.
"""

from spikeloom.hw.engine import Counters
from spikeloom.hw.layout import COUNTER_BITS, LAYER_COUNTERS
from spikeloom.hw.params import EngineParams

from tests.sim_helpers import run_sim

from .bench import SEED, seeded

PARAMS = EngineParams(lanes=4, max_layers=3, max_inputs=20, max_neurons=12, weight_words=64)
MASK = (1 << COUNTER_BITS) - 1


def test_counters_follow_the_strobes():
    rng = seeded("counters")
    dut = Counters(PARAMS)
    layers = PARAMS.max_layers
    model = {"cycles": 0, **{name: [0] * layers for name in LAYER_COUNTERS}}

    def read(ctx):
        counters = dut.counters
        values = {"cycles": ctx.get(counters.cycles)}
        for name in LAYER_COUNTERS:
            values[name] = [ctx.get(getattr(counters, name)[i]) for i in range(layers)]
        return values

    async def bench(ctx):
        for cycle in range(600):
            strobes = {
                "running": rng.random() < 0.8,
                "ending": rng.random() < 0.1,
                "clear": rng.random() < 0.02,
                "layer": rng.randrange(layers + 1),  # `layers` itself counts nowhere
                "cycle": rng.random() < 0.7,
                "count_events": rng.random() < 0.2,
                "events": rng.randrange(PARAMS.max_inputs + 1),
                "count_synops": rng.random() < 0.4,
                "synops": rng.randrange(PARAMS.lanes + 1),
                "stall": rng.random() < 0.2,
            }
            for name, value in strobes.items():
                ctx.set(getattr(dut, name), int(value))
            await ctx.tick()
            s = strobes
            if s["running"] and not s["ending"]:
                model["cycles"] = (model["cycles"] + 1) & MASK
            if s["layer"] < layers:
                amounts = {
                    "layer_stalls": s["stall"],
                    "layer_events": s["events"] if s["count_events"] else 0,
                    "layer_cycles": s["cycle"],
                    "layer_synops": s["synops"] if s["count_synops"] else 0,
                }
                for name, amount in amounts.items():
                    model[name][s["layer"]] = (model[name][s["layer"]] + amount) & MASK
            if s["clear"]:
                model.update({"cycles": 0, **{name: [0] * layers for name in LAYER_COUNTERS}})
            assert read(ctx) == model, f"SPIKELOOM_SEED={SEED}, cycle {cycle}, strobes {s}"

    run_sim(dut, bench)
