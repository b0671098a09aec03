"""The seeds' networks side by side: dense MLP, Mixer-SNN, Mixer-SNN with SPE, SNN-MLP and
ALBSNN under two weight budgets, each with LIF and with LIFB neurons.

Every row is trained on digits with `models.train.train` (the path of `spikeloom train`),
compiled with `compile_trained` (the path of `spikeloom compile`) and run on the golden model
of its graph (a dense Program as the graph it is). For each seed it records the float and the
golden accuracy on the 360 test images, the weight bits stored (a weight tensor counts once,
however many projections use it), and the synaptic operations per inference measured on the
test images (docs/semantics.md section 8; `sw/compiler/graph_metrics.py`: every spike times
its nonzero fan-out, a burst of n counting n). The MNIST-sized configurations are built
untrained and compiled: their weight bits and connections, without accuracy (no MNIST here;
`spikeloom train --dataset mnist --data-dir DIR` trains them where the IDX files are).

Writes bench/results/seeds.json after every run and bench/results/seeds.md at the end. A run
already in the JSON (same row, neuron, seed and epochs) is kept, not repeated: an interrupted
bench resumes, and rows can be run in turns (`--fresh` starts over).

    .venv/bin/python bench/seeds.py [--seeds 0,1,2] [--epochs 60] [--row NAME ...]
                                    [--neurons lif,lifb] [--threads 2]
"""

import argparse
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from spikeloom.models.datasets import load_dataset
from spikeloom.models.mixer import MIXER_PRESETS
from spikeloom.models.train import TrainConfig, train
from spikeloom.models.zoo import MODEL_KINDS, build_model
from spikeloom.sw.compiler.compile_trained import compile_trained
from spikeloom.sw.compiler.describe import weight_bits_stored
from spikeloom.sw.compiler.encode import encode
from spikeloom.sw.compiler.evaluate import evaluate_target
from spikeloom.sw.compiler.graph import Graph, graph_from_chain
from spikeloom.sw.compiler.graph_golden import run_graph_golden
from spikeloom.sw.compiler.graph_metrics import connections, synaptic_operations
from spikeloom.sw.reports.table import format_table, markdown_table

RESULTS = Path(__file__).resolve().parent / "results"
#: The dense model of `make demo`: analog encoder (the first layer, on the host), 256 neurons.
DENSE = {"hidden": [256], "encoder": "analog", "timesteps": 4}
#: ALBSNN's two budgets in bits (layers it keeps multi-bit are 4-bit). The dense model's engine
#: layers take 35,328 bits all binary, 43,008 with a 4-bit readout, 133,632 with a 4-bit hidden
#: layer and 141,312 all 4-bit: each budget leaves ALBSNN a different choice.
BUDGETS = (135_000, 45_000)
BURST_MAX = 3


@dataclass
class Row:
    name: str
    kind: str
    config: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)


def digits_rows() -> list[Row]:
    rows = [
        Row("dense", "dense", DENSE),
        Row("Mixer-SNN", "mixer"),
        Row("Mixer-SNN + SPE", "mixer", {"stages": 2}),
        Row("SNN-MLP", "snn-mlp", {"channels": 48}),
    ]
    for budget in BUDGETS:
        name = f"ALBSNN, {budget:,}-bit budget"
        rows.append(Row(name, "dense", DENSE, {"weight_budget_bits": budget}))
    return rows


def _preset(name: str) -> dict:
    """A Mixer preset's configuration, without the fields each row sets itself."""
    config = MIXER_PRESETS[name].as_dict()
    for key in ("neuron", "burst_max"):
        config.pop(key)
    return config


def mnist_rows() -> list[Row]:
    return [
        Row(
            "dense: 784 pixels -> 128 analog (host) -> 256 -> 10",
            "dense",
            {**DENSE, "in_features": 784},
        ),
        Row("Mixer-SNN, 7x7 patches (4x4 tokens)", "mixer", {**_preset("mnist-p7"), "stages": 1}),
        Row("Mixer-SNN + SPE, 7x7 patches (mnist-p7)", "mixer", _preset("mnist-p7")),
        Row("Mixer-SNN + SPE, 4x4 patches (mnist-p4)", "mixer", _preset("mnist-p4")),
        Row("SNN-MLP, 7x7 patches", "snn-mlp", {"image_size": 28, "patch": 7, "channels": 48}),
    ]


def _neuron(neuron: str) -> dict:
    return {"neuron": neuron, "burst_max": BURST_MAX if neuron == "lifb" else 1}


def as_graph(program) -> Graph:
    return program if isinstance(program, Graph) else graph_from_chain(program)


def run_row(row: Row, neuron: str, seed: int, epochs: int, data) -> dict:
    """Train, compile and measure one row for one seed."""
    (x_test, y_test) = data
    kind = MODEL_KINDS[row.kind]
    config = kind.config(**row.config, **_neuron(neuron))
    train_config = TrainConfig(epochs=epochs, seed=seed, lr=kind.lr, **row.train)
    start = time.perf_counter()
    model, history = train(config, train_config, progress=False)
    seconds = time.perf_counter() - start
    program, _ = compile_trained(model)
    graph = as_graph(program)
    spikes = encode(program, x_test)  # a chain's [n, T, inputs] is its graph's input shape
    result = run_graph_golden(graph, spikes)
    operations = synaptic_operations(graph, {graph.input_name: spikes, **result.spikes})
    return {
        "seed": seed,
        "float": evaluate_target(model, x_test, y_test).accuracy,
        "golden": float((result.predictions == y_test).mean()),
        "weight_bits": weight_bits_stored(graph),
        "synops": float(sum(operations)),
        "train_seconds": seconds,
        "epochs": len(history),
    }


def measure_untrained(row: Row, neuron: str) -> dict:
    """Weight bits and connections of an untrained model, compiled."""
    kind = MODEL_KINDS[row.kind]
    model = build_model(row.kind, kind.config(**row.config, **_neuron(neuron)))
    graph = as_graph(compile_trained(model.eval())[0])
    return {
        "weight_bits": weight_bits_stored(graph),
        "connections": sum(connections(graph, p) for p in graph.projections),
        "neurons": sum(p.size for p in graph.populations),
        "timesteps": graph.timesteps,
    }


def _summary(runs: list[dict]) -> dict:
    def mean(key):
        return statistics.fmean(run[key] for run in runs)

    return {
        "float": mean("float"),
        "float_min": min(run["float"] for run in runs),
        "golden": mean("golden"),
        "golden_min": min(run["golden"] for run in runs),
        "gap": mean("float") - mean("golden"),
        "weight_bits": runs[0]["weight_bits"],
        "synops": mean("synops"),
        "train_seconds": mean("train_seconds"),
    }


def digits_table(records: dict) -> tuple[list[str], list[list]]:
    headers = ["model", "neuron", "seeds", "float", "golden", "gap (points)", "weight bits"]
    headers += ["synops / inference", "train s"]
    order = [row.name for row in digits_rows()]
    rows = []
    for entry in sorted(records.values(), key=lambda e: (order.index(e["row"]), e["neuron"])):
        if not entry["runs"]:
            continue
        s = _summary(entry["runs"])
        rows.append(
            [
                entry["row"],
                entry["neuron"],
                ",".join(str(run["seed"]) for run in entry["runs"]),
                f"{s['float']:.4f} (min {s['float_min']:.4f})",
                f"{s['golden']:.4f} (min {s['golden_min']:.4f})",
                f"{100 * s['gap']:+.2f}",
                f"{s['weight_bits']:,}",
                f"{s['synops']:,.0f}",
                f"{s['train_seconds']:.0f}",
            ]
        )
    return headers, rows


def mnist_table(records: dict) -> tuple[list[str], list[list]]:
    headers = ["model (28x28, untrained)", "neuron", "weight bits", "neurons", "connections"]
    rows = [
        [
            entry["row"],
            entry["neuron"],
            f"{entry['weight_bits']:,}",
            f"{entry['neurons']:,}",
            f"{entry['connections']:,}",
        ]
        for entry in records.values()
    ]
    return headers, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="training seeds (default: 0,1,2)")
    parser.add_argument("--epochs", type=int, default=60, help="epochs per run (default: 60)")
    parser.add_argument(
        "--row", action="append", default=None, help="only this row (repeatable; default: all)"
    )
    parser.add_argument("--neurons", default="lif,lifb", help="neuron kinds (default: lif,lifb)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--out", default=str(RESULTS / "seeds.json"))
    parser.add_argument("--fresh", action="store_true", help="ignore the runs already in --out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    neurons = args.neurons.split(",")
    wanted = None if args.row is None else set(args.row)
    data = load_dataset("digits", "test")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"epochs": args.epochs, "digits": {}, "mnist": {}}
    if out.exists() and not args.fresh:
        previous = json.loads(out.read_text())
        if previous.get("epochs") == args.epochs:
            report = previous

    def save():
        out.write_text(json.dumps(report, indent=2) + "\n")

    for row in digits_rows():
        if wanted is not None and row.name not in wanted:
            continue
        for neuron in neurons:
            key = f"{row.name} / {neuron}"
            entry = {"row": row.name, "neuron": neuron, "kind": row.kind, "runs": []}
            entry = report["digits"].setdefault(key, entry)
            for seed in seeds:
                if any(run["seed"] == seed for run in entry["runs"]):
                    continue
                entry["runs"].append(run_row(row, neuron, seed, args.epochs, data))
                run = entry["runs"][-1]
                print(
                    f"{key}, seed {seed}: float {run['float']:.4f} golden {run['golden']:.4f} "
                    f"({run['train_seconds']:.0f} s)",
                    flush=True,
                )
                save()
    for row in mnist_rows():
        if wanted is not None and row.name not in wanted:
            continue
        for neuron in neurons:
            key = f"{row.name} / {neuron}"
            report["mnist"][key] = {
                "row": row.name,
                "neuron": neuron,
                **measure_untrained(row, neuron),
            }
            save()

    title = (
        f"Digits (360 test images), {args.epochs} epochs, mean over the seeds listed; LIFB "
        f"bursts up to {BURST_MAX}"
    )
    tables = [(title, *digits_table(report["digits"]))]
    if report["mnist"]:
        tables.append(
            ("MNIST-sized configurations, compiled untrained", *mnist_table(report["mnist"]))
        )
    for heading, headers, rows in tables:
        print()
        print(format_table(headers, rows, heading))
    markdown = ["# The seeds' networks", ""]
    for heading, headers, rows in tables:
        markdown += [f"## {heading}", "", markdown_table(headers, rows), ""]
    out.with_suffix(".md").write_text("\n".join(markdown))
    print(f"\nwrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
