"""Accuracy on the digits test split: float and integer (golden) spiking MLPs beside baselines.

Trains each spiking configuration for every seed, compiles it, and evaluates the float model and
the integer Program on the same 360 test images as scikit-learn's MLPClassifier((128,)) and
SVC(). Prints a table and writes bench/results/accuracy.json.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from spikeloom.models.datasets import load_dataset
from spikeloom.models.mlp import MLPConfig
from spikeloom.models.train import TrainConfig, train
from spikeloom.sw.compiler.compile import compile_model
from spikeloom.sw.compiler.evaluate import evaluate_program, evaluate_target
from spikeloom.sw.demo import DEMO_MODEL
from spikeloom.sw.reports.table import format_table

CONFIGS = {
    "demo: analog enc, 256 LIF, binary": DEMO_MODEL,
    "thermometer enc, 256 LIF, binary": {**DEMO_MODEL, "encoder": "thermometer"},
    "analog enc, 256 LIFB(M=3), binary": {**DEMO_MODEL, "neuron": "lifb", "burst_max": 3},
}


def baselines(x_train, y_train, x_test, y_test) -> dict:
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    mlp = MLPClassifier((128,), max_iter=1000, random_state=0).fit(x_train, y_train)
    svc = SVC().fit(x_train, y_train)
    return {
        "sklearn MLPClassifier((128,))": mlp.score(x_test, y_test),
        "sklearn SVC()": svc.score(x_test, y_test),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--configs", default=None, help="comma-separated indices into CONFIGS")
    parser.add_argument("--out", default="bench/results/accuracy.json")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    names = list(CONFIGS)
    if args.configs:
        names = [names[int(i)] for i in args.configs.split(",")]

    x_train, y_train = load_dataset("digits", "train")
    x_test, y_test = load_dataset("digits", "test")
    rows, records = [], []
    for name in names:
        floats, goldens = [], []
        start = time.perf_counter()
        for seed in seeds:
            model, _ = train(
                MLPConfig(**CONFIGS[name]),
                TrainConfig(epochs=args.epochs, seed=seed),
                progress=False,
            )
            program, _ = compile_model(model)
            floats.append(evaluate_target(model, x_test, y_test).accuracy)
            goldens.append(evaluate_program(program, x_test, y_test).accuracy)
            print(
                f"{name} seed {seed}: float {floats[-1]:.4f} golden {goldens[-1]:.4f}", flush=True
            )
        seconds = (time.perf_counter() - start) / len(seeds)
        records.append(
            {
                "model": name,
                "config": CONFIGS[name],
                "seeds": seeds,
                "float": floats,
                "golden": goldens,
                "train_seconds": seconds,
            }
        )
        rows.append(
            [name, float(np.mean(floats)), float(np.mean(goldens)), min(goldens), round(seconds, 1)]
        )
    for name, accuracy in baselines(x_train, y_train, x_test, y_test).items():
        rows.append([name, accuracy, None, None, None])
        records.append({"model": name, "float": [accuracy]})
    print()
    print(
        format_table(
            ["model", "float", "golden (mean)", "golden (min)", "train s"],
            rows,
            f"digits test split (360 images), seeds {seeds}, {args.epochs} epochs",
        )
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"epochs": args.epochs, "results": records}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
