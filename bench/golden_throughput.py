"""Golden-model throughput: samples/s of `sw.compiler.golden.run_golden` on a 784-256-10 binary MLP.

The work is the MNIST-sized reference network (T=4, 10% input rate). For comparison the same
work is also done the "SpikingJelly way": a dense float32 matrix product and a float LIF loop
in torch with no integer state, saturation or rounding. That is not bit-exact with the engine;
it is only the speed a float simulator reaches on the same shapes.

Prints a table and writes `bench/results/golden_throughput.json`.

    .venv/bin/python bench/golden_throughput.py [--samples N] [--batch B] [--rate R]
                                                [--repeats K] [--seed S] [--threads N]
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.program import Program
from spikeloom.sw.compiler.random_program import mnist_shaped_program

RESULTS = Path(__file__).resolve().parent / "results" / "golden_throughput.json"
SHAPE = (784, 256, 10)
TIMESTEPS = 4


@torch.inference_mode()
def run_float(program: Program, spikes: np.ndarray, batch_size: int) -> np.ndarray:
    """The same network as a float simulator runs it: float32 matmul + float LIF, tau = 2.

    SpikingJelly `LIFNode(tau=2., decay_input=False, v_reset=None)`: H = V - V/2 + X, spike when
    H >= theta, soft (subtract) reset. The readout integrates its input without a leak.
    """
    fc1, fc2 = program.layers
    w1 = torch.from_numpy(fc1.weight).float()
    w2 = torch.from_numpy(fc2.weight).float()
    theta1 = torch.from_numpy(fc1.threshold).float()
    b1 = torch.from_numpy(fc1.bias).float()
    b2 = torch.from_numpy(fc2.bias).float()
    samples, steps, _ = spikes.shape
    readout = np.empty((samples, fc2.outputs), dtype=np.float32)
    for start in range(0, samples, batch_size):
        x = torch.from_numpy(spikes[start : start + batch_size]).float()
        z1 = x @ w1  # [B, T, 256]: every timestep in one product
        v = torch.zeros(x.shape[0], fc1.outputs)
        s = torch.empty_like(z1)
        for t in range(steps):
            h = v - v / 2 + z1[:, t] + b1
            fired = (h >= theta1).float()
            v = h - fired * theta1
            s[:, t] = fired
        z2 = s @ w2
        v2 = torch.zeros(x.shape[0], fc2.outputs)
        for t in range(steps):
            v2 = v2 + z2[:, t] + b2
        readout[start : start + batch_size] = v2.numpy()
    return readout


def measure(fn, samples: int, repeats: int) -> dict:
    """Run `fn` once to warm up, then `repeats` times; samples/s of the best and the median."""
    fn()
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
    best, median = min(times), statistics.median(times)
    return {
        "best_s": best,
        "median_s": median,
        "best_samples_per_s": samples / best,
        "median_samples_per_s": samples / median,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16384, help="samples per run")
    parser.add_argument("--batch", type=int, default=256, help="batch_size passed to run_golden")
    parser.add_argument("--rate", type=float, default=0.1, help="input spike probability")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs after one warm-up")
    parser.add_argument("--seed", type=int, default=0, help="seed for the Program and inputs")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON output path")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    program = mnist_shaped_program(rng)
    shape = (args.samples, TIMESTEPS, SHAPE[0])
    spikes = (rng.random(shape) < args.rate).astype(np.uint8)
    print(
        f"seed {args.seed}: {'-'.join(map(str, SHAPE))}, T={TIMESTEPS}, rate {args.rate}, "
        f"{args.samples} samples, batch {args.batch}, {args.threads} threads, "
        f"{args.repeats} repeats"
    )

    golden = measure(
        lambda: run_golden(program, spikes, batch_size=args.batch), args.samples, args.repeats
    )
    floats = measure(
        lambda: run_float(program, spikes, batch_size=args.batch), args.samples, args.repeats
    )
    rows = [("golden (integer, exact)", golden), ("float32 reference", floats)]

    print(f"{'model':<26}{'best samples/s':>16}{'median samples/s':>18}{'best s':>10}")
    for name, row in rows:
        print(
            f"{name:<26}{row['best_samples_per_s']:>16,.0f}"
            f"{row['median_samples_per_s']:>18,.0f}{row['best_s']:>10.3f}"
        )
    ratio = golden["best_samples_per_s"] / floats["best_samples_per_s"]
    print(f"golden / float (best): {ratio:.2f}x")

    report = {
        "benchmark": "golden_throughput",
        "shape": list(SHAPE),
        "timesteps": TIMESTEPS,
        "samples": args.samples,
        "batch_size": args.batch,
        "rate": args.rate,
        "repeats": args.repeats,
        "seed": args.seed,
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "golden": golden,
        "float_reference": floats,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
