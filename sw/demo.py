"""`make demo`: train the default binary-weight spiking MLP on digits, compile, evaluate.

Writes `checkpoint.pt`, `program/` and `summary.json` under the output folder and prints a
table. Fields that need a hardware backend stay null until one runs.
"""

import json
import time
from pathlib import Path

from models.datasets import load_dataset
from models.mlp import MLPConfig
from models.train import TrainConfig, save_checkpoint, train

from .compile import compile_model
from .evaluate import evaluate_program, evaluate_target
from .program import save_program
from .report import describe_program
from .table import format_table

__all__ = ["DEMO_MODEL", "run_demo"]

#: The bundled default: analog encoder on the host, one binary hidden layer, binary readout.
DEMO_MODEL = dict(
    hidden=[256],
    timesteps=4,
    encoder="analog",
    encoder_width=128,
    neuron="lif",
    leak_shift=1,
    reset="subtract",
    output="readout",
)


def run_demo(out: Path, epochs: int = 60, quiet: bool = False) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train_config = TrainConfig(dataset="digits", epochs=epochs, seed=0)
    model, history = train(MLPConfig(**DEMO_MODEL), train_config, progress=not quiet)
    save_checkpoint(out / "checkpoint.pt", model, train_config, history)
    train_seconds = time.perf_counter() - start

    program, _ = compile_model(model)
    save_program(program, out / "program")
    x, y = load_dataset("digits", "test")
    float_acc = evaluate_target(model, x, y).accuracy
    golden = evaluate_program(program, x, y, "golden")

    summary = {
        "dataset": "digits",
        "float_accuracy": float_acc,
        "golden_accuracy": golden.accuracy,
        "hw_backend": None,
        "hw_accuracy": None,
        "bit_exact": None,
        "cycles_per_inference": None,
        "latency_us": None,
        "energy_nj": None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print()
    print(describe_program(program))
    print()
    rows = [[key, value] for key, value in summary.items()]
    rows.append(["test samples", len(y)])
    rows.append(["training time (s)", f"{train_seconds:.1f}"])
    print(format_table(["metric", "value"], rows, "spikeloom demo (digits)"))
    print(f"\nwrote {out / 'summary.json'}, {out / 'program'}, {out / 'checkpoint.pt'}")
    return summary
