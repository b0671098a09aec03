"""`make demo`: train the default binary-weight spiking MLP on digits, compile, evaluate.

The Program runs on the golden model and, when a hardware backend is given (the CLI passes the
Verilator simulation of the engine), on that backend too, which must agree bit for bit.
Writes `checkpoint.pt`, `program/` and `summary.json` under the output folder and prints a
table. Fields nothing has measured yet stay null.
"""

import json
import time
from pathlib import Path

import numpy as np

from models.datasets import load_dataset
from models.mlp import MLPConfig
from models.train import TrainConfig, save_checkpoint, train

from .compile import compile_model
from .evaluate import Runner, evaluate_program, evaluate_target
from .program import save_program
from .report import describe_program
from .result import Result
from .table import format_table

__all__ = ["DEMO_MODEL", "run_demo", "same_outputs"]

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


def run_demo(
    out: Path,
    epochs: int = 60,
    quiet: bool = False,
    hw_backend: str | None = None,
    hw_runner: Runner | None = None,
) -> dict:
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
    golden = evaluate_program(program, x, y)
    hw = {"hw_backend": None, "hw_accuracy": None, "bit_exact": None, "cycles_per_inference": None}
    if hw_runner is not None:
        start = time.perf_counter()
        run = evaluate_program(program, x, y, hw_runner, hw_backend)
        hw_seconds = time.perf_counter() - start
        hw = {
            "hw_backend": hw_backend,
            "hw_accuracy": run.accuracy,
            "bit_exact": same_outputs(golden.result, run.result),
            "cycles_per_inference": float(run.result.cycles.mean()),
        }

    summary = {
        "dataset": "digits",
        "float_accuracy": float_acc,
        "golden_accuracy": golden.accuracy,
        **hw,
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
    if hw_runner is not None:
        rows.append([f"{hw_backend} time (s)", f"{hw_seconds:.1f}"])
    print(format_table(["metric", "value"], rows, "spikeloom demo (digits)"))
    print(f"\nwrote {out / 'summary.json'}, {out / 'program'}, {out / 'checkpoint.pt'}")
    return summary


def same_outputs(a: Result, b: Result) -> bool:
    """Whether two backends produced the same readouts and the same spikes in every layer."""
    return (
        np.array_equal(a.readout, b.readout)
        and a.spikes.keys() == b.spikes.keys()
        and all(np.array_equal(a.spikes[name], b.spikes[name]) for name in a.spikes)
    )
