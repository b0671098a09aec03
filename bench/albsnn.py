"""ALBSNN on digits: all 4-bit, all binary, and ALBSNN under weight budgets between the two.

A thermometer-encoded MLP with hidden layers 256 and 128 and T 4 is trained for each row, then
compiled; the table gives the bits its weights store, its float accuracy and its golden
(integer Program) accuracy on the 360 test images. Writes bench/results/albsnn.json.
"""

import argparse
import json
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
    out.append(
        ("ALBSNN 50%, accuracy, no BWO", {}, {"weight_budget_bits": full // 2, "albsnn": options})
    )
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--estimators", default="accuracy,current,weight")
    parser.add_argument("--out", default="bench/results/albsnn.json")
    args = parser.parse_args()
    x_test, y_test = load_dataset("digits", "test")
    table, records = [], []
    for name, model_kwargs, train_kwargs in rows(args):
        start = time.perf_counter()
        model, history = train(
            MLPConfig(**MODEL, **model_kwargs),
            TrainConfig(epochs=args.epochs, seed=args.seed, **train_kwargs),
            progress=False,
        )
        seconds = time.perf_counter() - start
        program, _ = compile_model(model)
        stored = sum(layer.weight.size * layer.weight_bits for layer in program.layers)
        floating = evaluate_target(model, x_test, y_test).accuracy
        golden = evaluate_program(program, x_test, y_test).accuracy
        bits = model.config.weight_bits
        budget = train_kwargs.get("weight_budget_bits")
        flips = sum(entry.get("flips", 0) for entry in history)
        print(
            f"{name}: bits {bits} stored {stored} float {floating:.4f} golden {golden:.4f} "
            f"flips {flips} ({seconds:.0f} s)",
            flush=True,
        )
        table.append(
            [
                name,
                str(bits),
                f"{stored}",
                f"{stored / all_bits(4):.0%}",
                f"{floating:.4f}",
                f"{golden:.4f}",
            ]  # fmt: skip
        )
        records.append(
            {
                "name": name,
                "budget_bits": budget,
                "weight_bits": bits,
                "bits_stored": stored,
                "float": floating,
                "golden": golden,
                "bwo_flips": flips,
                "train_seconds": seconds,
                "history": history,
            }
        )
    print(
        format_table(
            ["model", "weight bits", "bits stored", "of 4-bit", "float", "golden", "BWO flips"],
            table,
        )
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": MODEL, "epochs": args.epochs, "seed": args.seed, "dataset": "digits"}
    Path(args.out).write_text(json.dumps({**meta, "runs": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()
