"""`make demo`: train the default binary-weight spiking MLP on digits, compile, evaluate.

The Program runs on the golden model and, when a hardware runner is given, on that too, which
must agree bit for bit. The CLI passes the simulated iCEBreaker (its engine and UART under
Verilator, at its clock and 3 Mbaud), so the demo also reports the compute latency and the
energy estimate there, and writes `spikeloom report`'s files into `report/`. Writes
`checkpoint.pt`, `program/` and `summary.json` under the output folder and prints a table.
Fields nothing measured stay null (an engine backend without a board has no latency).
`compute_cycles` are the engine's layers busy per sample, `sample_cycles` the cycles from a
sample's first input to its end, waiting for input included (docs/energy.md).
"""

import json
import time
from pathlib import Path

from spikeloom.models.datasets import load_dataset
from spikeloom.models.mlp import MLPConfig
from spikeloom.models.train import TrainConfig, TrainingInterrupted, save_checkpoint, train
from spikeloom.sw.batch import run_in_batches
from spikeloom.sw.compiler.compile import compile_model
from spikeloom.sw.compiler.describe import describe_program
from spikeloom.sw.compiler.encode import encode
from spikeloom.sw.compiler.evaluate import Evaluation, Runner, evaluate_program, evaluate_target
from spikeloom.sw.compiler.program import save_program
from spikeloom.sw.errors import RunError
from spikeloom.sw.reports.run_report import make_report, write_report
from spikeloom.sw.reports.table import format_table, number
from spikeloom.sw.result import Result

__all__ = ["DEMO_MODEL", "run_demo"]

#: How the printed table writes each number of the summary (`sw.reports.table.number`).
_UNITS = {
    "float_accuracy": "accuracy",
    "golden_accuracy": "accuracy",
    "hw_accuracy": "accuracy",
    "compute_cycles": "cycles",
    "sample_cycles": "cycles",
    "clock_mhz": "MHz",
    "latency_us": "us",
    "energy_nj": "nJ",
    "link_us_per_inference": "us",
}

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
    board_spec=None,
    hw_batch: int | None = None,
) -> dict:
    """Train, compile, evaluate; with `hw_runner`, run the test set on it too. With
    `board_spec` (the board `hw_runner` simulates), also report latency and energy there and
    write `report/` (`spikeloom report`). The hardware run goes in batches of `hw_batch`
    samples (default: all in one) and its result is written to `hw_result.npz`, also when Ctrl-C or
    a lost board stops it (`RunError` then, with the samples that completed).
    `TrainingInterrupted` leaves the last whole epoch's checkpoint behind."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train_config = TrainConfig(dataset="digits", epochs=epochs, seed=0)
    try:
        model, history = train(MLPConfig(**DEMO_MODEL), train_config, progress=not quiet)
    except TrainingInterrupted as stop:  # keep the last whole epoch, as `spikeloom train` does
        if stop.history:
            save_checkpoint(out / "checkpoint.pt", stop.model, train_config, stop.history)
        raise
    save_checkpoint(out / "checkpoint.pt", model, train_config, history)
    train_seconds = time.perf_counter() - start

    program, _ = compile_model(model)
    program.dataset = train_config.dataset
    save_program(program, out / "program")
    x, y = load_dataset("digits", "test")
    float_acc = evaluate_target(model, x, y).accuracy
    golden = evaluate_program(program, x, y)
    hw = {
        "hw_backend": None,
        "hw_accuracy": None,
        "bit_exact": None,
        "compute_cycles": None,
        "sample_cycles": None,
    }
    costs = {"board": None, "clock_mhz": None, "latency_us": None, "energy_nj": None}
    if hw_runner is not None:
        start = time.perf_counter()
        spikes = encode(program, x)
        try:
            result = run_in_batches(hw_runner, program, spikes, hw_batch or len(spikes), not quiet)
        except RunError as error:  # the completed samples are kept, as `spikeloom sim` does
            if error.result.samples:
                error.result.save(out / "hw_result.npz")
            raise
        result.save(out / "hw_result.npz")
        run = Evaluation(float((result.predictions == y).mean()), len(y), hw_backend, result)
        hw_seconds = time.perf_counter() - start
        hw = {
            "hw_backend": hw_backend,
            "hw_accuracy": run.accuracy,
            "bit_exact": golden.result.same_outputs(run.result),
            **_cycles(run.result),
        }
        if board_spec is not None:
            costs = _board_costs(program, run.result, board_spec, encode(program, x), y, out)

    summary = {
        "dataset": "digits",
        "float_accuracy": float_acc,
        "golden_accuracy": golden.accuracy,
        **hw,
        **costs,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print()
    print(describe_program(program))
    print()
    rows = [
        [key, number(value, _UNITS[key]) if key in _UNITS else value]
        for key, value in summary.items()
    ]
    rows.append(["test samples", number(len(y), "count")])
    rows.append(["training time", number(train_seconds, "s", suffix=True)])
    if hw_runner is not None:
        rows.append([f"{hw_backend} time", number(hw_seconds, "s", suffix=True)])
    print(format_table(["metric", "value"], rows, "spikeloom demo (digits)"))
    written = [out / "summary.json", out / "program", out / "checkpoint.pt"]
    if hw_runner is not None:
        written.append(out / "hw_result.npz")
    if costs["board"] is not None:
        written.append(out / "report")
    print(f"\nwrote {', '.join(str(path) for path in written)}")
    return summary


def _cycles(result: Result) -> dict:
    """Compute cycles (the layers busy) and sample cycles (first input to the end, which on a
    board also counts the waits for later timesteps' input, paced by the link) per sample;
    None for a result without the engine's counters."""
    if "layer_cycles" not in result.counters:
        return {"compute_cycles": None, "sample_cycles": None}
    return {
        "compute_cycles": float(result.counters["layer_cycles"].sum(axis=1).mean()),
        "sample_cycles": float(result.cycles.mean()),
    }


def _board_costs(program, result: Result, board_spec, spikes, labels, out: Path) -> dict:
    """Latency and energy of the board run, from `spikeloom report`'s model; the report's
    files go to `out/report`."""
    report = make_report(program, result, board_spec, input_spikes=spikes, labels=labels)
    write_report(report, program, result, out / "report", input_spikes=spikes)
    latency, fpga = report["latency"], report["energy"]["fpga"]
    link = latency["link"] or {}
    return {
        "board": board_spec.name,
        "clock_mhz": latency["clock_mhz"],
        # The layers' busy cycles at the board's clock, and the energy estimate for them.
        "latency_us": latency["compute_us"],
        "energy_nj": fpga["compute_nj"],
        # With the link in the loop (3 Mbaud UART), measured in simulated time.
        "link_us_per_inference": link.get("sample_us"),
    }
