"""Engine benchmark: utilization and simulation speed of each hardware backend.

Runs a random 784-256-10 binary Program (T=4, 10% input rate) on each backend, checks every
sample against the golden model, and reports cycles per inference, utilization (ideal / actual
cycles, ideal = sum over layer-timesteps of input events x ceil(n_out / lanes)) and simulated
cycles per second. With --digits it also times the demo Program on the whole digits test split.
Prints a table and writes bench/results/engine.json.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from spikeloom.sim.registry import backend_runner
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.random_program import mnist_shaped_program, random_spikes
from spikeloom.sw.reports.table import format_table

RESULTS = Path(__file__).resolve().parent / "results" / "engine.json"


def utilization(program, result) -> np.ndarray:
    groups = np.array([-(-layer.outputs // result.lanes) for layer in program.layers])
    ideal = (result.counters["layer_events"] * groups).sum(axis=1)
    return ideal / result.cycles


def exact(program, spikes, result) -> bool:
    return run_golden(program, spikes).same_outputs(result)


def bench(name, runner, program, spikes) -> dict:
    runner(program, spikes[:1])  # warm-up: builds and caches the simulator
    start = time.perf_counter()
    result = runner(program, spikes)
    seconds = time.perf_counter() - start
    util = utilization(program, result)
    return {
        "backend": name,
        "lanes": result.lanes,
        "samples": len(spikes),
        "bit_exact": exact(program, spikes, result),
        "sample_cycles": float(result.cycles.mean()),
        "utilization_mean": float(util.mean()),
        "utilization_min": float(util.min()),
        "layer_cycles": result.counters["layer_cycles"].mean(axis=0).tolist(),
        "stall_cycles": int(result.counters["layer_stalls"].sum()),
        "seconds": seconds,
        "cycles_per_second": float(result.cycles.sum() / seconds),
    }


def digits_run(backend: str, lanes: int) -> dict:
    from spikeloom.models.datasets import load_dataset
    from spikeloom.sw.compiler.encode import encode
    from spikeloom.sw.compiler.program import load_program

    program = load_program("runs/demo/program")  # trained and compiled by `make demo`
    x, y = load_dataset("digits", "test")
    spikes = encode(program, x)
    runner = backend_runner(backend, lanes)
    runner(program, spikes[:1])
    start = time.perf_counter()
    result = runner(program, spikes)
    seconds = time.perf_counter() - start
    return {
        "backend": backend,
        "lanes": lanes,
        "samples": len(spikes),
        "seconds": seconds,
        "accuracy": float((result.predictions == y).mean()),
        "bit_exact": exact(program, spikes, result),
        "sample_cycles": float(result.cycles.mean()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="amaranth,verilator,icarus")
    parser.add_argument("--lanes", type=int, default=64)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--samples", default="amaranth=4,verilator=100,icarus=20")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--digits", default=None, help="backend for the digits split, or none")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    samples = dict(item.split("=") for item in args.samples.split(","))
    print(f"seed {args.seed}: 784-256-10 binary, T=4, input rate {args.rate}, lanes {args.lanes}")

    rng = np.random.default_rng(args.seed)
    program = mnist_shaped_program(rng)
    spikes = random_spikes(rng, program, 200, rate=args.rate)
    rows, records = [], []
    for backend in args.backends.split(","):
        count = int(samples.get(backend, 10))
        record = bench(backend, backend_runner(backend, args.lanes), program, spikes[:count])
        records.append(record)
        rows.append(
            [
                backend,
                record["samples"],
                record["bit_exact"],
                record["sample_cycles"],
                record["utilization_mean"],
                record["utilization_min"],
                round(record["cycles_per_second"]),
            ]
        )
        print(f"{backend}: {record}", flush=True)
    print()
    print(
        format_table(
            [
                "backend",
                "samples",
                "bit-exact",
                "sample cycles",
                "util (mean)",
                "util (min)",
                "sim cycles/s",
            ],
            rows,
            "784-256-10 binary, T=4",
        )
    )
    report = {"seed": args.seed, "rate": args.rate, "lanes": args.lanes, "mnist_shaped": records}
    if args.digits:
        digits = digits_run(args.digits, 16)
        report["digits"] = digits
        print(
            f"\ndigits test split on {args.digits}: {digits['samples']} samples in "
            f"{digits['seconds']:.1f} s, accuracy {digits['accuracy']:.4f}, bit-exact "
            f"{digits['bit_exact']}, {digits['sample_cycles']:.0f} sample cycles"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
