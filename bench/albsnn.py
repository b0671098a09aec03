"""ALBSNN on digits: all 4-bit, all binary, and ALBSNN under weight budgets between the two.

A thermometer-encoded MLP with hidden layers 256 and 128 and T 4 is trained for each row, then
compiled, for each seed; the table gives the bits its weights store, and the mean over seeds of
its float accuracy and its golden (integer Program) accuracy on the 360 test images, and of the
weights BWO flipped. Writes bench/results/albsnn.json.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

from spikeloom.models.albsnn import ALBSNNOptions, layer_weight_bits
from spikeloom.models.datasets import load_dataset
from spikeloom.models.mlp import MLPConfig
from spikeloom.models.train import TrainConfig, train
from spikeloom.sw.compiler.compile import compile_model
from spikeloom.sw.compiler.evaluate import evaluate_program, evaluate_target
from spikeloom.sw.reports.table import format_table

MODEL = {"hidden": [256, 128], "timesteps": 4, "encoder": "thermometer"}


def all_bits(bits: int) -> int:
    widths = [256, *MODEL["hidden"], 10]  # 64 features x 4 thermometer levels
    return sum(layer_weight_bits(a, b, bits) for a, b in zip(widths[:-1], widths[1:]))


def rows(args) -> list[tuple[str, dict, dict]]:
    full = all_bits(4)
    out = [
        ("all 4-bit", {"weight_bits": [4, 4, 4]}, {}),
        ("all binary", {"weight_bits": [1, 1, 1]}, {}),
    ]
    for share in (0.75, 0.5):
        for estimator in args.estimators.split(","):
            for readout in (False, True):
                name = f"ALBSNN {share:.0%}, {estimator}" + (", readout too" if readout else "")
                options = ALBSNNOptions(estimator=estimator, binarize_readout=readout)
                out.append((name, {}, {"weight_budget_bits": int(full * share), "albsnn": options}))
    # BWO's share: the default run at 50% without it.
    options = ALBSNNOptions(bwo=False)
    name = f"ALBSNN 50%, {options.estimator}, no BWO"
    out.append((name, {}, {"weight_budget_bits": full // 2, "albsnn": options}))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--estimators", default="accuracy,current,weight")
    parser.add_argument("--out", default="bench/results/albsnn.json")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    x_test, y_test = load_dataset("digits", "test")
    table, records = [], []
    for name, model_kwargs, train_kwargs in rows(args):
        runs = []
        for seed in seeds:
            start = time.perf_counter()
            model, history = train(
                MLPConfig(**MODEL, **model_kwargs),
                TrainConfig(epochs=args.epochs, seed=seed, **train_kwargs),
                progress=False,
            )
            seconds = time.perf_counter() - start
            program, _ = compile_model(model)
            run = {
                "seed": seed,
                "weight_bits": model.config.weight_bits,
                "bits_stored": sum(
                    layer.weight.size * layer.weight_bits for layer in program.layers
                ),
                "float": evaluate_target(model, x_test, y_test).accuracy,
                "golden": evaluate_program(program, x_test, y_test).accuracy,
                "bwo_flips": sum(entry.get("flips", 0) for entry in history),
                "train_seconds": seconds,
                "history": history,
            }
            runs.append(run)
            print(
                f"{name} seed {seed}: bits {run['weight_bits']} stored {run['bits_stored']} "
                f"float {run['float']:.4f} golden {run['golden']:.4f} flips {run['bwo_flips']}",
                flush=True,
            )
        choices = sorted({str(run["weight_bits"]) for run in runs})
        stored = [run["bits_stored"] for run in runs]
        table.append(
            [
                name,
                " ".join(choices),
                f"{min(stored)}" if min(stored) == max(stored) else f"{min(stored)}..{max(stored)}",
                f"{max(stored) / all_bits(4):.0%}",
                f"{statistics.mean(run['float'] for run in runs):.4f}",
                f"{statistics.mean(run['golden'] for run in runs):.4f}",
                f"{statistics.mean(run['bwo_flips'] for run in runs):.0f}",
            ]
        )
        budget = train_kwargs.get("weight_budget_bits")
        records.append({"name": name, "budget_bits": budget, "runs": runs})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": MODEL, "epochs": args.epochs, "seeds": seeds, "dataset": "digits"}
    Path(args.out).write_text(json.dumps({**meta, "rows": records}, indent=1) + "\n")
    headers = ["model", "weight bits", "bits stored", "of 4-bit", "float", "golden", "BWO flips"]
    print(format_table(headers, table, title=f"{args.epochs} epochs, mean of seeds {seeds}"))


if __name__ == "__main__":
    main()
