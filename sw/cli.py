"""The `spikeloom` command line: train, compile, encode, sim, eval, run, report, build and more.

Every failure caused by the user's input ends in one line on stderr and a non-zero exit; an
option that does not apply to the command or backend is such a failure, not ignored. A run
interrupted by Ctrl-C or by a lost board saves the samples that completed and says where.
"""

import argparse
import json
import sys
from contextlib import closing
from pathlib import Path

import numpy as np
from spikeloom.boards import BOARDS
from spikeloom.hw.params import BURST_MAX, V_BITS, WEIGHT_BITS
from spikeloom.models.datasets import DATASETS
from spikeloom.sw.arguments import (
    Parser,
    int_in,
    int_list,
    leak_shift,
    neuron_choice,
    positive_float,
)
from spikeloom.sw.errors import InputError, SpikeloomError
from spikeloom.sw.models_io import (
    load_build_report,
    load_labels,
    load_spikes,
    output_file,
    output_folder,
)

__all__ = ["main", "build_parser"]

#: Widest engine the command line builds: a word of lanes x 8 bits stays a manageable bus.
MAX_LANES = 256
#: Exit status after Ctrl-C, as a shell reports a process killed by SIGINT.
INTERRUPTED = 130
BOARD_CHOICES = tuple(BOARDS)
SIMULATED_BOARDS = ("sim", *(f"sim:{name}" for name in BOARD_CHOICES))
DEMO_BOARD = "sim:icebreaker"
#: `train --model`: the kinds of models.zoo, and albsnn (a dense model under a weight budget).
MODEL_CHOICES = ("dense", "mixer", "snn-mlp", "albsnn")
FLASH_DIR = "build/board"


# --- checks shared by the commands -------------------------------------------------------------


def _given(args, name: str) -> bool:
    """Whether the user gave option `name` (its default is None when not given)."""
    return getattr(args, name, None) is not None


def _not_with(args, option: str, reason: str) -> None:
    """An option that does not apply here is an error, never silently ignored."""
    if _given(args, option.removeprefix("--").replace("-", "_")):
        raise InputError(f"{option} does not apply {reason}")


def _runner(args):
    from spikeloom.sim.registry import backend_runner

    if args.backend == "golden":
        _not_with(args, "--lanes", "to the golden model (it has no engine)")
        _not_with(args, "--waves", "to the golden model (it has no waveforms)")
    elif args.waves is not None:
        # Amaranth's simulator writes VCD; the cocotb simulators FST where they can, else VCD.
        formats = (".vcd",) if args.backend == "amaranth" else (".vcd", ".fst")
        if Path(args.waves).suffix not in formats:
            raise InputError(
                f"--waves {args.waves}: {args.backend} writes {' or '.join(formats)} files"
            )
    # Runs in batches show one bar over all samples; a single waveform run shows the backend's.
    return backend_runner(args.backend, _lanes(args), args.waves, progress=bool(args.waves))


def _lanes(args) -> int:
    return args.lanes or _default_lanes()


def _run_saving(runner, program, spikes, out: Path | None, batch: int, what: str):
    """Run in batches; on Ctrl-C or a lost board, save the completed samples to `out`."""
    from spikeloom.sw.batch import run_in_batches
    from spikeloom.sw.errors import RunError

    try:
        return run_in_batches(runner, program, spikes, batch, progress=True, desc=what)
    except RunError as error:
        partial = error.result
        where = "none saved"
        if out is not None and partial.samples:
            partial.save(out)
            where = f"their results are in {out}"
        elif out is None:
            where = "not saved (no --out)"
        status = INTERRUPTED if getattr(error, "interrupted", False) else 1
        raise _Stopped(f"{error} ({where})", status, partial) from None


class _Stopped(SpikeloomError):
    """A run that stopped early, after saving what completed; `status` is the exit code."""

    def __init__(self, message: str, status: int, result=None):
        super().__init__(message)
        self.status, self.result = status, result


def _dataset(args, recorded: str | None) -> str:
    """--dataset, else the data set the checkpoint or Program records, else digits."""
    dataset = args.dataset or recorded or "digits"
    if dataset == "digits" and args.data_dir is not None:
        raise InputError("--data-dir does not apply to digits (it ships with scikit-learn)")
    return dataset


def _load_data(args, recorded: str | None, split: str):
    from spikeloom.sw.models_io import load_data

    dataset = _dataset(args, recorded)
    return dataset, *load_data(dataset, split, args.data_dir)


# --- the commands ------------------------------------------------------------------------------


def cmd_train(args):
    from spikeloom.models.albsnn import BudgetError
    from spikeloom.models.train import (
        TrainConfig,
        TrainingInterrupted,
        save_checkpoint,
        train,
    )
    from spikeloom.models.zoo import MODEL_KINDS

    out = output_file(args.out, ".pt")
    kind = MODEL_KINDS["dense" if args.model == "albsnn" else args.model]
    albsnn = _albsnn_options(args)
    if args.neuron == "lifb" and args.burst_max is None:
        raise InputError(f"--neuron lifb needs --burst-max (2..{BURST_MAX})")
    dataset, x_train, _ = _load_data(args, None, "train")  # fail early, before training
    try:
        config = _graph_config(args, kind, x_train.shape[1]) if kind.graph else _dense_config(args)
    except ValueError as error:
        raise InputError(str(error)) from None
    train_config = TrainConfig(
        dataset=dataset,
        data_dir=args.data_dir,
        epochs=args.epochs,
        lr=args.lr or kind.lr,
        seed=args.seed,
        batch_size=args.batch_size,
        weight_budget_bits=args.weight_budget,
        albsnn=albsnn,
    )
    try:
        model, history = train(config, train_config, progress=not args.quiet)
    except BudgetError as error:
        raise InputError(f"--weight-budget: {error}") from None
    except TrainingInterrupted as stop:
        if stop.history:
            save_checkpoint(out, stop.model, train_config, stop.history)
        raise _training_stopped(stop, out) from None
    save_checkpoint(out, model, train_config, history)
    print(f"float test accuracy {history[-1]['test_accuracy']:.4f}; checkpoint {out}")


#: Options of `train` that shape one family of models only, and their defaults.
_DENSE_OPTIONS = {"hidden": [256], "encoder": "analog", "output": "readout"}
_GRAPH_OPTIONS = ("channels", "blocks", "patch", "levels", "gain_shift", "stages")


def _dense_config(args):
    from spikeloom.models.mlp import MLPConfig

    for name in _GRAPH_OPTIONS:
        _not_with(args, "--" + name.replace("_", "-"), f"to --model {args.model}")
    given = {name: getattr(args, name) for name in _DENSE_OPTIONS}
    dense = {
        name: default if given[name] is None else given[name]
        for name, default in _DENSE_OPTIONS.items()
    }
    return MLPConfig(
        **dense,
        timesteps=args.timesteps,
        neuron=args.neuron,
        burst_max=args.burst_max or 1,
        leak_shift=args.leak_shift,
        reset=args.reset or "subtract",
        weight_bits=args.weight_bits,
    )


def _graph_config(args, kind, pixels: int):
    """A graph model's configuration: the image's side from the data set, a 4x4 token grid
    unless --patch says otherwise, the configuration's defaults for what is not given."""
    import dataclasses
    import math

    for name in _DENSE_OPTIONS:
        _not_with(args, "--" + name, f"to --model {args.model} (a graph model)")
    side = math.isqrt(pixels)
    if side * side != pixels:
        raise InputError(f"--model {args.model} reads square images; samples have {pixels} pixels")
    fields = {
        "image_size": side,
        "patch": args.patch or max(side // 4, 1),
        "timesteps": args.timesteps,
        "neuron": args.neuron,
        "burst_max": args.burst_max or 1,
        "leak_shift": args.leak_shift,
    }
    if args.weight_bits is not None:
        if len(args.weight_bits) != 1:
            raise InputError(
                f"--weight-bits {','.join(map(str, args.weight_bits))}: --model {args.model} "
                "takes one value, the readout's bits (every other weight is binary)"
            )
        fields["weight_bits"] = args.weight_bits[0]
    known = {f.name for f in dataclasses.fields(kind.config)}
    for name in ("reset", *_GRAPH_OPTIONS):
        if getattr(args, name) is None:
            continue
        if name not in known:
            option = "--" + name.replace("_", "-")
            raise InputError(f"{option} does not apply to --model {args.model}")
        fields[name] = getattr(args, name)
    return kind.config(**fields)


def _albsnn_options(args):
    """ALBSNN's options when --weight-budget asks for it; its other options need it."""
    from spikeloom.models.albsnn import ALBSNNOptions

    if args.model == "albsnn" and args.weight_budget is None:
        raise InputError("--model albsnn needs --weight-budget BITS (its weight-memory budget)")
    if args.weight_budget is None:
        for option in ("--k-bits", "--estimator"):
            _not_with(args, option, "without --weight-budget (ALBSNN's options)")
        return None
    if args.model not in ("dense", "albsnn"):
        raise InputError(
            f"--weight-budget does not apply to --model {args.model} (ALBSNN chooses the bits "
            "of a dense model's layers)"
        )
    _not_with(args, "--weight-bits", "with --weight-budget (ALBSNN chooses the bits)")
    chosen = {"k_bits": args.k_bits, "estimator": args.estimator}
    return ALBSNNOptions(**{key: value for key, value in chosen.items() if value is not None})


def _training_stopped(stop, checkpoint: Path) -> "_Stopped":
    """What to say when training was interrupted (its checkpoint, if any, already saved)."""
    if not stop.history:
        return _Stopped(f"{stop}; no epoch completed, nothing saved", INTERRUPTED)
    return _Stopped(
        f"{stop}; the checkpoint of epoch {len(stop.history)} is in {checkpoint}", INTERRUPTED
    )


def cmd_compile(args):
    from spikeloom.sw.compiler.compile_trained import compile_trained
    from spikeloom.sw.compiler.describe import describe_folds, describe_graph, describe_program
    from spikeloom.sw.compiler.evaluate import evaluate_program, evaluate_target
    from spikeloom.sw.compiler.graph import Graph, save_graph
    from spikeloom.sw.compiler.program import save_program
    from spikeloom.sw.models_io import load_model

    if args.no_eval:
        _not_with(args, "--dataset", "with --no-eval")
        _not_with(args, "--data-dir", "with --no-eval")
    out = output_folder(args.out, "program.yaml")
    model, checkpoint = load_model(args.checkpoint)
    trained = checkpoint.get("train") or {}
    program, folds = compile_trained(model, args.v_bits)
    program.dataset = trained.get("dataset")
    graph = isinstance(program, Graph)
    (save_graph if graph else save_program)(program, out)
    print((describe_graph if graph else describe_program)(program))
    print()
    print(describe_folds(folds))
    what = "population" if graph else "layer"
    for fold in folds:
        for note in fold.notes:
            print(f"spikeloom: warning: {what} {fold.name!r}: {note}", file=sys.stderr)
    if not args.no_eval:
        if args.data_dir is None and args.dataset in (None, trained.get("dataset")):
            args.data_dir = trained.get("data_dir")
        dataset, x, y = _load_data(args, trained.get("dataset"), "test")
        float_acc = evaluate_target(model, x, y).accuracy
        golden_acc = evaluate_program(program, x, y).accuracy
        print(
            f"\n{dataset} test: float {float_acc:.4f}, integer (golden) {golden_acc:.4f}, "
            f"gap {float_acc - golden_acc:+.4f}"
        )
    print(f"Program written to {out}")


def cmd_encode(args):
    from spikeloom.sw.compiler.encode import encode
    from spikeloom.sw.models_io import load_any_program

    out = output_file(args.out, ".npy")
    labels_out = output_file(args.labels, ".npy", "--labels") if args.labels else None
    program = load_any_program(args.program)
    dataset, x, y = _load_data(args, program.dataset, args.split)
    spikes = encode(program, x)
    np.save(out, spikes)
    if labels_out is not None:
        np.save(labels_out, y)
    also = f", labels -> {labels_out}" if labels_out else ""
    print(f"{dataset} {args.split}: {len(spikes)} samples, spikes {spikes.shape} -> {out}{also}")


def cmd_sim(args):
    from spikeloom.sw.compiler.graph import Graph
    from spikeloom.sw.models_io import load_any_program

    out = output_file(args.out, ".npz")
    program = load_any_program(args.program)
    spikes = load_spikes(args.input)
    runner = _graph_runner(args) if isinstance(program, Graph) else _runner(args)
    batch = _batch(args, len(spikes))
    result = _run_saving(runner, program, spikes, out, batch, args.backend)
    result.save(out)
    print(f"{result.samples} samples on {args.backend}{_cycles_text(result)}; results -> {out}")


def _graph_runner(args):
    """The golden model, the one backend that runs a graph Program (format 2) today."""
    from spikeloom.sw.compiler.graph_golden import run_graph_golden

    if args.backend != "golden":
        raise InputError(
            f"--backend {args.backend}: the engine runs chains of dense layers (format 1) "
            "today; a graph Program (format 2) runs on --backend golden"
        )
    _runner(args)  # the golden model's option checks
    return run_graph_golden


def _batch(args, samples: int) -> int:
    """Samples per call of the backend: all of them when one waveform file must hold them."""
    from spikeloom.sw.batch import BATCH

    return max(samples, 1) if getattr(args, "waves", None) else BATCH[args.backend]


def _cycles_text(result) -> str:
    """Compute cycles (the layers busy) per sample, where an engine counted them."""
    if "layer_cycles" not in result.counters or not result.samples:
        return ""
    compute = result.counters["layer_cycles"].sum(axis=1).mean()
    return f", {compute:,.1f} compute cycles/sample"


def cmd_eval(args):
    from spikeloom.sw.compiler.encode import encode
    from spikeloom.sw.compiler.evaluate import evaluate_target
    from spikeloom.sw.compiler.graph import Graph
    from spikeloom.sw.compiler.program import Program
    from spikeloom.sw.models_io import load_target

    target, recorded = load_target(args.target)
    out = output_file(args.out, ".npz") if args.out else None
    is_program = isinstance(target, (Program, Graph))
    if not is_program:
        reason = "to a checkpoint: it is evaluated in float (compile it to run on a backend)"
        for option in ("--backend", "--lanes", "--waves", "--out"):
            _not_with(args, option, reason)
    args.backend = args.backend or "golden"
    dataset, x, y = _load_data(args, recorded, args.split)
    report = {"target": str(args.target), "dataset": dataset, "split": args.split}
    if is_program:
        runner = _graph_runner(args) if isinstance(target, Graph) else _runner(args)
        batch = _batch(args, len(x))
        try:
            result = _run_saving(runner, target, encode(target, x), out, batch, args.backend)
        except _Stopped as stopped:
            done = stopped.result.samples if stopped.result is not None else 0
            if done:
                accuracy = float((stopped.result.predictions == y[:done]).mean())
                stopped.args = (f"{stopped}; accuracy {accuracy:.4f} on those {done}",)
            raise
        if out is not None:
            result.save(out)
        accuracy = float((result.predictions == y).mean()) if len(y) else 0.0
        report.update(backend=args.backend, samples=result.samples, accuracy=accuracy)
    else:
        evaluation = evaluate_target(target, x, y)
        report.update(backend="float", samples=evaluation.samples, accuracy=evaluation.accuracy)
    if args.json:
        print(json.dumps(report))
    else:
        saved = f"; results -> {out}" if out else ""
        print(
            f"{dataset} {args.split}: accuracy {report['accuracy']:.4f} on {report['samples']} "
            f"samples ({report['backend']}){saved}"
        )


def cmd_info(args):
    from spikeloom.sw.compiler.describe import describe_graph, describe_program
    from spikeloom.sw.compiler.program import Program
    from spikeloom.sw.models_io import load_any_program, load_model

    path = Path(args.path)
    if path.is_dir():
        program = load_any_program(path)
        describe = describe_program if isinstance(program, Program) else describe_graph
        print(describe(program))
        if program.dataset:
            print(f"trained on {program.dataset}")
        return
    model, checkpoint = load_model(path)
    print(f"checkpoint {path}: {checkpoint['kind']} model")
    for key, value in checkpoint["model"].items():
        print(f"  {key}: {value}")
    if checkpoint.get("train"):
        print(f"  data set: {checkpoint['train'].get('dataset')}")
    if checkpoint.get("history"):
        epochs = (checkpoint.get("train") or {}).get("epochs")
        done = len(checkpoint["history"])
        print(f"  epochs: {done}" + (f" of {epochs}" if epochs and epochs != done else ""))
        print(f"  float test accuracy: {checkpoint['history'][-1]['test_accuracy']:.4f}")


def _simulated_spec(board: str):
    """The board spec of `sim:BOARD`, None for `sim`."""
    return None if board == "sim" else _board_spec(board.removeprefix("sim:"))


def _board_spec(name: str):
    from spikeloom.boards import board_spec

    try:
        return board_spec(name)
    except ValueError as error:
        raise InputError(str(error)) from None


def _check_board_lanes(args) -> None:
    """Only `sim` sizes an engine for the Program; a board's engine has its own lanes."""
    if args.board != "sim":
        _not_with(args, "--lanes", f"to {args.board}: its engine's lanes are fixed by its build")


def _check_board_name(board: str) -> None:
    if board not in SIMULATED_BOARDS and not board.startswith("serial:"):
        raise InputError(
            f"--board {board!r} is not one of {', '.join(SIMULATED_BOARDS)} or serial:PORT"
        )
    if board == "serial:":
        raise InputError("--board serial: needs a port, e.g. serial:/dev/ttyUSB1")


def cmd_run(args):
    from spikeloom.sw.compiler.program import check_spikes, load_program
    from spikeloom.sw.runtime.device import Device
    from spikeloom.sw.runtime.link import Link

    _check_board_name(args.board)
    _check_board_lanes(args)
    out = output_file(args.out, ".npz")
    program = load_program(args.program)
    spikes = check_spikes(program, load_spikes(args.input))
    if args.board.startswith("serial:"):
        from spikeloom.sw.runtime.serial import SerialTransport

        baud = args.baud or 115200
        transport = SerialTransport(args.board.removeprefix("serial:"), baud)
        link = Link(transport)
    else:
        from spikeloom.sim.registry import simulated_board
        from spikeloom.sim.verilator_transport import DEFAULT_BAUD

        baud = args.baud or DEFAULT_BAUD
        transport = simulated_board(program, _simulated_spec(args.board), _lanes(args), baud)
        link = Link(transport, clock=transport.clock)
    with closing(transport):  # the simulated board's harness must not outlive the run
        device = Device(link, timeout_s=args.timeout, baud=baud)
        device.load(program, readout_only=args.readout_only, progress=True)
        result = _run_saving(
            lambda program, spikes: device.run(program, spikes, progress=True),
            program,
            spikes,
            out,
            len(spikes) or 1,  # the device keeps every completed sample itself
            args.board,
        )
    result.save(out)
    print(
        f"{result.samples} samples on {args.board}{_cycles_text(result)}; "
        f"{link.bytes_sent:,} bytes sent, {link.bytes_received:,} received; results -> {out}"
    )


def cmd_bridge(args):
    import time

    from spikeloom.sim.pty_bridge import PtyBridge
    from spikeloom.sim.registry import simulated_board
    from spikeloom.sw.compiler.program import load_program

    if args.board not in SIMULATED_BOARDS:
        raise InputError(f"--board {args.board!r} is not one of {', '.join(SIMULATED_BOARDS)}")
    _check_board_lanes(args)
    program = load_program(args.program)
    transport = simulated_board(program, _simulated_spec(args.board), _lanes(args), args.baud)
    with closing(transport), PtyBridge(transport) as bridge:
        print(f"simulated board on {bridge.port} (Ctrl-C to stop)", flush=True)
        try:
            while bridge.alive:
                time.sleep(0.2)
        except KeyboardInterrupt:  # the way to stop a bridge: not a failure
            print("bridge stopped", file=sys.stderr)
            return
    raise InputError(f"the bridge stopped: {bridge.error or 'the simulated board went away'}")


def cmd_build(args):
    from spikeloom.boards.build import BuildError, build, format_report
    from spikeloom.sw.compiler.program import load_program

    spec = _board_spec(args.board)
    images = None
    if args.program:
        from spikeloom.sw.runtime.engine_stream import program_images

        images = program_images(load_program(args.program), spec.params)
    out = output_folder(args.out, "report.json")
    try:
        report = build(
            spec,
            out,
            images=images,
            program_name=args.program,
            clock_mhz=args.clock_mhz,
            baud=args.baud,
            seed=args.seed,
        )
    except BuildError as error:
        raise InputError(str(error)) from None
    print(format_report(report))
    print(f"report -> {out / 'report.json'}")
    if not report["timing_met"]:
        raise InputError(
            f"timing fails: Fmax {report['fmax_mhz']:.1f} MHz is below the "
            f"{report['clock_mhz']:.1f} MHz clock (try --clock-mhz or another --seed)"
        )


def cmd_flash(args):
    from spikeloom.boards.flash import FlashError, flash

    if args.bitstream and args.dir:
        raise InputError("give --bitstream or --dir, not both")
    spec = _board_spec(args.board)
    try:
        flash(spec, Path(args.bitstream) if args.bitstream else None, Path(args.dir or FLASH_DIR))
    except FlashError as error:
        raise InputError(str(error)) from None


def cmd_report(args):
    from spikeloom.sw.compiler.graph import Graph
    from spikeloom.sw.models_io import load_any_program
    from spikeloom.sw.result import load_result

    if args.input is None:
        _not_with(args, "--neurons", "without --input (membrane traces need the input spikes)")
    program = load_any_program(args.program)
    result = load_result(args.result)
    result.check_against(program)
    spikes, labels = _report_inputs(args, result)
    if isinstance(program, Graph):
        return _graph_report(args, program, result, spikes, labels)
    _chain_report(args, program, result, spikes, labels)


def _report_inputs(args, result):
    """`(input spikes, labels)` of a report, each None when not given; both must hold the
    samples the result was asked to run."""
    requested = result.requested or result.samples
    spikes = labels = None
    if args.input:
        spikes = load_spikes(args.input)
        if len(spikes) != requested:
            raise InputError(
                f"--input {args.input} has {len(spikes)} samples, the result was run on "
                f"{requested}: they do not belong together"
            )
    if args.labels:
        labels = load_labels(args.labels, requested)
    return spikes, labels


def _graph_report(args, graph, result, spikes, labels):
    from spikeloom.sw.compiler.graph import check_graph_spikes
    from spikeloom.sw.reports.graph_report import (
        format_graph_report,
        make_graph_report,
        write_graph_report,
    )

    reason = "to a graph Program (it runs on the golden model, which has no clock or board)"
    for option in ("--board", "--build", "--neurons"):
        _not_with(args, option, reason)
    if spikes is not None:
        spikes = check_graph_spikes(graph, spikes)
    report = make_graph_report(graph, result, spikes, labels)
    out = output_folder(_report_folder(args), "report.json")
    paths = write_graph_report(report, graph, result, out, input_spikes=spikes, sample=args.sample)
    print(format_graph_report(report))
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")


def _report_folder(args) -> Path:
    result_path = Path(args.result)
    return args.out or result_path.with_name(result_path.stem + "_report")


def _chain_report(args, program, result, spikes, labels):
    from spikeloom.sw.reports.run_report import format_report, make_report, write_report

    if args.board is None:
        raise InputError("--board is needed for a chain Program: its energy model and clock")
    spec = _board_spec(args.board)
    build = load_build_report(args.build) if args.build else None
    layers = {layer.name for layer in program.layers}
    for name in args.neurons or {}:
        if name not in layers:
            raise InputError(f"--neurons names layer {name!r}; the Program has {sorted(layers)}")
    report = make_report(program, result, spec, build=build, input_spikes=spikes, labels=labels)
    out = output_folder(_report_folder(args), "report.json")
    paths = write_report(
        report, program, result, out, input_spikes=spikes, sample=args.sample, neurons=args.neurons
    )
    print(format_report(report))
    if not result.complete:
        print(f"\nnote: the run stopped early: {result.samples} of {result.requested} samples")
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")


def cmd_demo(args):
    from spikeloom.models.train import TrainingInterrupted
    from spikeloom.sw.demo import run_demo
    from spikeloom.sw.errors import RunError

    if args.backend is not None:
        _not_with(args, "--board", "with --backend (the demo runs on one of them)")
        if args.backend == "golden":
            _not_with(args, "--lanes", "to the golden model (it has no engine)")
        from spikeloom.sim.registry import backend_runner

        hw_backend, board = args.backend, None
        hw_runner = None if args.backend == "golden" else backend_runner(args.backend, _lanes(args))
    else:
        _not_with(args, "--lanes", "to a board (its engine's lanes are fixed by its build)")
        board = args.board or DEMO_BOARD
        hw_backend = f"simulated board ({board})"
        from spikeloom.sim.registry import simulated_board_runner

        hw_runner = simulated_board_runner(_simulated_spec(board), progress=not args.quiet)
    out = output_folder(args.out, "checkpoint.pt")
    try:
        run_demo(
            out,
            epochs=args.epochs,
            quiet=args.quiet,
            hw_backend=hw_backend,
            hw_runner=hw_runner,
            board_spec=_board_spec(board.removeprefix("sim:")) if board else None,
            hw_batch=_batch(args, 0) if args.backend not in (None, "golden") else None,
        )
    except TrainingInterrupted as stop:
        raise _training_stopped(stop, out / "checkpoint.pt") from None
    except RunError as error:
        saved = out / "hw_result.npz"
        where = f"their results are in {saved}" if error.result.samples else "none saved"
        raise _Stopped(f"{error} ({where})", INTERRUPTED if error.interrupted else 1) from None


def cmd_clean_cache(args):
    from spikeloom.sim.build_cache import clear_cache

    root, freed = clear_cache()
    print(f"removed {freed / 2**20:,.1f} MiB of cached builds from {root}")


# --- the parser --------------------------------------------------------------------------------


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spikeloom")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    from spikeloom.sim.registry import BACKENDS  # the registry itself imports no simulator

    parser = Parser(
        prog="spikeloom",
        description=__doc__.split("\n\n")[0],
        epilog="The usual path: train -> compile -> encode -> sim or run -> report.\n"
        "`spikeloom COMMAND --help` gives each command's options, defaults and an example.",
    )
    parser.add_argument("--version", action="version", version=f"spikeloom {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_model_commands(sub, BACKENDS)
    _add_board_commands(sub)
    _add_job_commands(sub, BACKENDS)
    return parser


def _command(sub, name: str, summary: str, example: str, func):
    """A subcommand whose help ends with an example."""
    label = "examples" if "\n" in example else "example"
    parser = sub.add_parser(
        name, help=summary, description=summary, epilog=f"{label}:\n  {example}"
    )
    parser.set_defaults(func=func)
    return parser


def _default_lanes() -> int:
    from spikeloom.sim.registry import DEFAULT_LANES

    return DEFAULT_LANES


def _add_lanes(parser, what: str) -> None:
    parser.add_argument(
        "--lanes",
        type=int_in(1, MAX_LANES),
        default=None,
        help=f"{what} (default: {_default_lanes()})",
    )


def _add_data_args(parser, split: bool = True):
    parser.add_argument(
        "--dataset",
        default=None,
        choices=DATASETS,
        help="data set (default: the one the model was trained on, else digits)",
    )
    parser.add_argument("--data-dir", default=None, help="folder of IDX files (mnist, fashion)")
    if split:
        parser.add_argument("--split", default="test", choices=("train", "test"), help="split")


def _add_backend_args(parser, backends, default):
    parser.add_argument("--backend", default=default, choices=backends, help="backend")
    _add_lanes(parser, "engine lanes of a hardware backend")
    parser.add_argument(
        "--waves",
        default=None,
        metavar="FILE",
        help="write waveforms of a hardware backend to FILE (.vcd; .fst too under cocotb)",
    )


def _add_model_commands(sub, backends):
    """train, compile, encode, sim, eval, info: from data to a Program and its outputs."""
    _add_train_command(sub)
    _add_compile_command(sub)
    _add_encode_command(sub)
    _add_sim_command(sub, backends)
    _add_eval_command(sub, backends)
    _add_info_command(sub)


def _add_train_command(sub):
    p = _command(
        sub,
        "train",
        "train a spiking network (dense MLP, Mixer-SNN, SNN-MLP or ALBSNN) and write a checkpoint",
        "spikeloom train --hidden 256 --epochs 60 --out runs/mlp.pt\n"
        "  spikeloom train --model mixer --channels 32 --out runs/mixer.pt\n"
        "  spikeloom train --model albsnn --weight-budget 60000 --out runs/albsnn.pt",
        cmd_train,
    )
    _add_data_args(p, split=False)
    p.add_argument(
        "--model",
        default="dense",
        choices=MODEL_CHOICES,
        help="architecture: dense MLP (format-1 Program), mixer (Mixer-SNN, a graph), snn-mlp "
        "(spiking SNN-MLP, a graph with scan neurons), albsnn (a dense MLP whose layers' bits "
        "ALBSNN chooses under --weight-budget)",
    )
    _add_dense_model_options(p)
    _add_graph_model_options(p)
    p.add_argument("--timesteps", type=int_in(1, 4096), default=4, help="timesteps T")
    p.add_argument("--neuron", default="lif", choices=("lif", "lifb"), help="neuron kind")
    p.add_argument(
        "--burst-max",
        type=int_in(1, BURST_MAX),
        default=None,
        help=f"spikes per burst of a lifb neuron, 2..{BURST_MAX} (lif: 1)",
    )
    p.add_argument("--leak-shift", type=leak_shift, default=1, help="k of tau=2^k, or 'none'")
    p.add_argument(
        "--reset",
        default=None,
        choices=("zero", "subtract"),
        help="reset (default: subtract for dense, zero for mixer)",
    )
    p.add_argument(
        "--weight-bits",
        type=int_list(WEIGHT_BITS.start, WEIGHT_BITS.stop - 1),
        default=None,
        help="bits per engine layer, e.g. 1,2 (default: all binary); a graph model: the "
        "readout's bits, every other weight binary",
    )
    p.add_argument(
        "--weight-budget",
        type=int_in(1),
        default=None,
        metavar="BITS",
        help="weight-memory budget: ALBSNN chooses binary or --k-bits weights per layer "
        "(docs/albsnn.md)",
    )
    p.add_argument(
        "--k-bits",
        type=int_in(2, WEIGHT_BITS.stop - 1),
        default=None,
        help="bits of a layer ALBSNN keeps multi-bit (default: 4)",
    )
    p.add_argument(
        "--estimator",
        default=None,
        choices=("accuracy", "current", "weight"),
        help="ALBSNN's estimate of what binarizing a layer costs (default: accuracy)",
    )
    p.add_argument("--epochs", type=int_in(1, 100000), default=60, help="training epochs")
    p.add_argument("--batch-size", type=int_in(2, 1 << 20), default=64, help="batch size")
    p.add_argument(
        "--lr",
        type=positive_float(10.0),
        default=None,
        help="peak learning rate (default: 3e-3 for dense, 1e-2 for mixer)",
    )
    p.add_argument("--seed", type=int_in(0, 2**63 - 1), default=0, help="random seed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="checkpoint file to write (.pt)")


def _add_dense_model_options(p):
    """train's options of the dense and albsnn models."""
    dense = p.add_argument_group("dense and albsnn models")
    dense.add_argument(
        "--hidden",
        type=int_list(1, 65536),
        default=None,
        help="hidden widths, e.g. 256,128 (default: 256)",
    )
    dense.add_argument(
        "--encoder",
        default=None,
        choices=("analog", "thermometer", "rate"),
        help="encoder (default: analog)",
    )
    dense.add_argument(
        "--output",
        default=None,
        choices=("readout", "spikes"),
        help="last layer's output (default: readout)",
    )


def _add_graph_model_options(p):
    """train's options of the graph models."""
    graph = p.add_argument_group("graph models (mixer, snn-mlp)")
    graph.add_argument(
        "--channels", type=int_in(1, 4096), default=None, help="channels per token (default: 32)"
    )
    graph.add_argument("--blocks", type=int_in(1, 64), default=None, help="blocks (default: 2)")
    graph.add_argument(
        "--patch",
        type=int_in(1, 4096),
        default=None,
        help="patch side and stride (default: a quarter of the image side, a 4x4 token grid)",
    )
    graph.add_argument(
        "--levels",
        type=int_in(1, 255),
        default=None,
        help="thermometer channels per pixel (default: 4)",
    )
    graph.add_argument(
        "--gain-shift",
        type=int_in(0, 7),
        default=None,
        help="every projection's current times 2^g: thresholds resolved in 2^-g (default: 7 "
        "for mixer, 4 for snn-mlp)",
    )
    graph.add_argument(
        "--stages",
        type=int_in(1, 2),
        default=None,
        help="mixer: 2 adds the spiking patch encoding and a stage on a halved grid (default: 1)",
    )


def _add_compile_command(sub):
    p = _command(
        sub,
        "compile",
        "compile a checkpoint into an integer Program",
        "spikeloom compile runs/mlp.pt --out runs/program",
        cmd_compile,
    )
    p.add_argument("checkpoint", help="checkpoint of `spikeloom train`")
    p.add_argument("--out", required=True, help="Program folder to write")
    p.add_argument(
        "--v-bits",
        type=int_in(V_BITS.start, V_BITS.stop - 1),
        default=None,
        help="membrane width (default: the smallest that cannot overflow)",
    )
    p.add_argument("--no-eval", action="store_true", help="skip the float-vs-integer check")
    _add_data_args(p, split=False)


def _add_encode_command(sub):
    p = _command(
        sub,
        "encode",
        "encode a data split into a Program's input spikes",
        "spikeloom encode runs/program --out runs/x.npy --labels runs/y.npy",
        cmd_encode,
    )
    p.add_argument("program", help="Program folder (its encoder is used)")
    _add_data_args(p)
    p.add_argument("--out", required=True, help=".npy file of uint8 spikes [samples, T, inputs]")
    p.add_argument("--labels", default=None, help="also write the labels to this .npy")


def _add_sim_command(sub, backends):
    p = _command(
        sub,
        "sim",
        "run a Program on input spikes on a backend",
        "spikeloom sim runs/program --input runs/x.npy --backend verilator --out runs/r.npz",
        cmd_sim,
    )
    p.add_argument("program", help="Program folder")
    p.add_argument("--input", required=True, help=".npy of uint8 spikes [samples, T, inputs]")
    _add_backend_args(p, backends, "golden")
    p.add_argument("--out", required=True, help="result file to write (.npz)")


def _add_eval_command(sub, backends):
    p = _command(
        sub,
        "eval",
        "accuracy of a checkpoint (float) or a Program (on a backend) on a data split",
        "spikeloom eval runs/program --backend amaranth --lanes 32",
        cmd_eval,
    )
    p.add_argument("target", help="checkpoint file or Program folder")
    _add_data_args(p)
    _add_backend_args(p, backends, None)
    p.add_argument("--out", default=None, help="also write the Program's result (.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON line")


def _add_info_command(sub):
    p = _command(
        sub, "info", "describe a Program or a checkpoint", "spikeloom info runs/program", cmd_info
    )
    p.add_argument("path", help="Program folder or checkpoint file")


def _add_board_commands(sub):
    """run, bridge, build, flash, report: a Program on a board, real or simulated."""
    boards = f"{', '.join(SIMULATED_BOARDS)} or serial:PORT"
    p = _command(
        sub,
        "run",
        "run a Program on a board, real or simulated, over its serial link",
        "spikeloom run runs/program --board sim:icebreaker --input runs/x.npy --out runs/r.npz",
        cmd_run,
    )
    p.add_argument("program", help="Program folder")
    p.add_argument(
        "--board",
        default="sim",
        help=f"{boards}: serial:PORT for a real board; sim for the simulated board (Verilator, "
        "UART included) sized for the Program; sim:BOARD for that board's engine and clock",
    )
    p.add_argument("--input", required=True, help=".npy of uint8 spikes [samples, T, inputs]")
    p.add_argument("--out", required=True, help="result file to write (.npz)")
    p.add_argument(
        "--baud",
        type=int_in(300, 100_000_000),
        default=None,
        help="line rate (default: 115200 on a serial port, 3000000 simulated)",
    )
    _add_lanes(p, "lanes of the engine of --board sim")
    p.add_argument(
        "--timeout", type=positive_float(3600), default=1.0, help="seconds to wait for a reply"
    )
    p.add_argument(
        "--readout-only",
        action="store_true",
        help="bring back the last layer only (hidden spikes stay on the board)",
    )

    p = _command(
        sub,
        "bridge",
        "serve the simulated board on a pseudo-terminal, for any serial client",
        "spikeloom bridge runs/program --board sim:icebreaker",
        cmd_bridge,
    )
    p.add_argument("program", help="Program the simulated board is sized for")
    p.add_argument(
        "--board", default="sim", choices=SIMULATED_BOARDS, help="sim or sim:BOARD's engine"
    )
    _add_lanes(p, "lanes of the engine of --board sim")
    p.add_argument(
        "--baud",
        type=int_in(300, 100_000_000),
        default=None,
        help="the simulated UART's rate (default: 3000000)",
    )

    p = _command(
        sub,
        "build",
        "build a board's bitstream with open tools, and its report.json",
        "spikeloom build --board icebreaker --out build/icebreaker",
        cmd_build,
    )
    p.add_argument("--board", required=True, choices=BOARD_CHOICES, help="board")
    p.add_argument("--program", help="bake this Program into the memories (else load at run time)")
    p.add_argument("--out", required=True, help="build folder")
    p.add_argument(
        "--clock-mhz",
        type=positive_float(1000),
        default=None,
        help="PLL clock (default: the board's)",
    )
    p.add_argument("--baud", type=int_in(300, 100_000_000), default=115200, help="UART rate")
    p.add_argument("--seed", type=int_in(0, 2**31 - 1), default=1, help="place-and-route seed")

    p = _command(
        sub,
        "flash",
        "program a board with a built bitstream",
        "spikeloom flash --board icebreaker --dir build/icebreaker",
        cmd_flash,
    )
    p.add_argument("--board", required=True, choices=BOARD_CHOICES, help="board")
    p.add_argument(
        "--dir", default=None, help=f"build folder of `spikeloom build` (default: {FLASH_DIR})"
    )
    p.add_argument("--bitstream", help="bitstream file (instead of --dir)")

    p = _command(
        sub,
        "report",
        "latency, energy and workload metrics of a run: JSON, Markdown, plots",
        "spikeloom report runs/r.npz --program runs/program --board icebreaker "
        "--input runs/x.npy --labels runs/y.npy",
        cmd_report,
    )
    p.add_argument("result", help="result .npz of `spikeloom run` (or `sim` on hardware)")
    p.add_argument("--program", required=True, help="the Program the result ran")
    p.add_argument(
        "--board",
        default=None,
        choices=BOARD_CHOICES,
        help="board: energy model and clock (needed for a chain Program; not for a graph)",
    )
    p.add_argument("--build", help="build folder or report.json of `spikeloom build`: its clock")
    p.add_argument("--input", help="the run's input spikes .npy: traces and hidden layers")
    p.add_argument("--labels", help="labels .npy: accuracy")
    p.add_argument("--sample", type=int_in(0), default=0, help="sample shown in the plots")
    p.add_argument(
        "--neurons",
        type=neuron_choice,
        default=None,
        help="membrane traces to plot, LAYER:I,J[;LAYER:K] (default: the liveliest)",
    )
    p.add_argument("--out", help="report folder (default: next to RESULT, NAME_report)")


def _add_job_commands(sub, backends):
    """demo and clean-cache."""
    p = _command(
        sub,
        "demo",
        "train, compile and run the default digits model on the simulated iCEBreaker",
        "spikeloom demo --out runs/demo",
        cmd_demo,
    )
    p.add_argument("--out", default="runs/demo", help="output folder")
    p.add_argument("--epochs", type=int_in(1, 100000), default=60, help="training epochs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--board",
        default=None,
        choices=SIMULATED_BOARDS[1:],
        help=f"simulated board the Program runs on, UART included (default: {DEMO_BOARD})",
    )
    p.add_argument(
        "--backend",
        default=None,
        choices=backends,
        help="run on this engine backend instead of a board (golden: none); no latency then",
    )
    _add_lanes(p, "engine lanes for --backend")

    p = _command(
        sub,
        "clean-cache",
        "remove the cached simulator builds (Verilator, Icarus)",
        "spikeloom clean-cache",
        cmd_clean_cache,
    )
    p.description = (
        "Remove the cached simulator builds: $SPIKELOOM_CACHE, else "
        "$XDG_CACHE_HOME/spikeloom, else ~/.cache/spikeloom."
    )


def main(argv=None) -> int:
    from spikeloom.sw.process import sigterm_raises

    args = build_parser().parse_args(argv)
    try:
        with sigterm_raises():  # `kill PID` saves what finished, as Ctrl-C does
            args.func(args)
    except _Stopped as stopped:
        print(f"spikeloom: {stopped}", file=sys.stderr)
        return stopped.status
    except SpikeloomError as error:
        print(f"spikeloom: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # unreadable or unwritable files
        print(f"spikeloom: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("spikeloom: interrupted", file=sys.stderr)
        return INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
