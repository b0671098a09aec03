"""Golden-model throughput: samples/s of `sw.compiler.golden.run_golden` on a 784-256-10 binary MLP.

The work is the MNIST-sized reference network (T=4, 10% input rate). For comparison the same
work is also done the "SpikingJelly way": a dense float32 matrix product and a float LIF loop
in torch with no integer state, saturation or rounding. That is not bit-exact with the engine;
it is only the speed a float simulator reaches on the same shapes.

The format-2 golden model (`sw.compiler.graph_golden.run_graph_golden`) runs the same network
read as a graph (`graph_from_chain`), and an untrained digits Mixer-SNN (`models.mixer`,
compiled by `compile_mixer`) on the thermometer-encoded digits test images, tiled to
`--mixer-samples`.

Every model is timed in turns (one run of each, `--repeats` times, after one warm-up each) so
that load from other processes falls on all of them alike. On a machine shared with other
processes, `OMP_WAIT_POLICY=PASSIVE` keeps torch's threads from spinning against them (without
it, medians there fell to a twentieth of the best run); the report records the setting. Prints
a table and writes `bench/results/golden_throughput.json`.

    .venv/bin/python bench/golden_throughput.py [--samples N] [--batch B] [--rate R]
                                                [--repeats K] [--seed S] [--threads N]
                                                [--mixer-samples N]
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from spikeloom.models.datasets import load_dataset
from spikeloom.models.mixer import MixerConfig, SpikingMixer
from spikeloom.sw.compiler.compile_graph import compile_mixer
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.graph import Graph, graph_from_chain
from spikeloom.sw.compiler.graph_golden import run_graph_golden
from spikeloom.sw.compiler.program import Program
from spikeloom.sw.compiler.random_program import mnist_shaped_program

RESULTS = Path(__file__).resolve().parent / "results" / "golden_throughput.json"
SHAPE = (784, 256, 10)
TIMESTEPS = 4
#: Row names of the table.
GOLDEN = "golden (integer, exact)"
FLOAT = "float32 reference"
GRAPH_DENSE = "format 2 (graph) dense 784-256-10"
GRAPH_MIXER = "Mixer-SNN digits (graph)"


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


def mixer_workload(samples: int, seed: int) -> tuple[Graph, np.ndarray]:
    """An untrained digits Mixer-SNN compiled to a graph, and the encoder's spikes for the
    digits test images, tiled to `samples` (throughput does not depend on training)."""
    torch.manual_seed(seed)
    model = SpikingMixer(MixerConfig()).eval()
    graph, _ = compile_mixer(model)
    images, _ = load_dataset("digits", "test")
    images = np.resize(images, (samples, images.shape[1]))
    with torch.no_grad():
        spikes = model.encoder(torch.from_numpy(images)).to(torch.uint8).numpy()
    return graph, np.ascontiguousarray(spikes)


def measure(fns: dict, repeats: int) -> dict:
    """Run each `(fn, samples)` once to warm up, then all in turns `repeats` times; samples/s
    of the best and the median run of each."""
    for fn, _ in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (fn, _) in fns.items():
            begin = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - begin)
    rows = {}
    for name, (_, samples) in fns.items():
        best, median = min(times[name]), statistics.median(times[name])
        rows[name] = {
            "best_s": best,
            "median_s": median,
            "best_samples_per_s": samples / best,
            "median_samples_per_s": samples / median,
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16384, help="samples per run")
    parser.add_argument("--batch", type=int, default=256, help="batch_size passed to run_golden")
    parser.add_argument("--rate", type=float, default=0.1, help="input spike probability")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs after one warm-up")
    parser.add_argument("--seed", type=int, default=0, help="seed for the Program and inputs")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--mixer-samples", type=int, default=4096, help="Mixer-SNN samples per run")
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

    graph = graph_from_chain(program)
    mixer, mixer_spikes = mixer_workload(args.mixer_samples, args.seed)
    batch = args.batch
    rows = measure(
        {
            GOLDEN: (lambda: run_golden(program, spikes, batch_size=batch), args.samples),
            FLOAT: (lambda: run_float(program, spikes, batch_size=batch), args.samples),
            GRAPH_DENSE: (lambda: run_graph_golden(graph, spikes, batch_size=batch), args.samples),
            GRAPH_MIXER: (
                lambda: run_graph_golden(mixer, mixer_spikes, batch_size=batch),
                args.mixer_samples,
            ),
        },
        args.repeats,
    )
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report(args, rows), indent=2) + "\n")
    print(f"wrote {args.out}")


def versus_format_1(rows: dict, name: str) -> float:
    """Median samples/s of row `name` over format 1's (`run_golden` as it runs here)."""
    return rows[name]["median_samples_per_s"] / rows[GOLDEN]["median_samples_per_s"]


def print_table(rows: dict) -> None:
    print(
        f"{'model':<36}{'best samples/s':>16}{'median samples/s':>18}{'best s':>10}"
        f"{'/ format 1':>12}"
    )
    for name, row in rows.items():
        print(
            f"{name:<36}{row['best_samples_per_s']:>16,.0f}"
            f"{row['median_samples_per_s']:>18,.0f}{row['best_s']:>10.3f}"
            f"{versus_format_1(rows, name):>11.2f}x"
        )
    ratio = rows[GOLDEN]["best_samples_per_s"] / rows[FLOAT]["best_samples_per_s"]
    print(f"golden / float (best): {ratio:.2f}x")
    print(f"format 2 / format 1 (median): {versus_format_1(rows, GRAPH_DENSE):.2f}x")


def report(args: argparse.Namespace, rows: dict) -> dict:
    return {
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
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "golden": rows[GOLDEN],
        "float_reference": rows[FLOAT],
        "graph_dense": {
            **rows[GRAPH_DENSE],
            "median_ratio_to_golden": versus_format_1(rows, GRAPH_DENSE),
        },
        "graph_mixer": {
            **rows[GRAPH_MIXER],
            "samples": args.mixer_samples,
            "config": MixerConfig().as_dict(),
            "median_ratio_to_golden": versus_format_1(rows, GRAPH_MIXER),
        },
    }


if __name__ == "__main__":
    main()
