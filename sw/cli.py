"""The `spikeloom` command line: train, compile, encode, sim, eval, info, demo.

Every failure caused by the user's input ends in one line on stderr and a non-zero exit.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from spikeloom.models.datasets import DATASETS
from spikeloom.sw.errors import InputError, SpikeloomError

__all__ = ["main"]


def _leak(text: str):
    if text.lower() == "none":
        return None
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"leak shift must be >= 0 or 'none', got {value}")
    return value


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _add_backend_args(parser, backends):
    parser.add_argument("--backend", default="golden", choices=backends)
    parser.add_argument("--lanes", type=int, default=16, help="engine lanes (hardware backends)")
    parser.add_argument(
        "--waves",
        default=None,
        metavar="FILE",
        help="write waveforms (amaranth: this VCD file; cocotb: in its build dir)",
    )


def _runner(args):
    from spikeloom.sim.registry import backend_runner

    if args.lanes < 1:
        raise InputError(f"--lanes must be >= 1, got {args.lanes}")
    return backend_runner(args.backend, args.lanes, args.waves)


def _add_data_args(parser, split: bool = True):
    parser.add_argument(
        "--dataset",
        default=None,
        choices=DATASETS,
        help="data set (default: the one the model was trained on, else digits)",
    )
    parser.add_argument("--data-dir", default=None, help="folder of IDX files (mnist, fashion)")
    if split:
        parser.add_argument("--split", default="test", choices=("train", "test"))


def cmd_train(args):
    from spikeloom.models.mlp import MLPConfig
    from spikeloom.models.train import TrainConfig, save_checkpoint, train
    from spikeloom.sw.models_io import load_data

    try:
        config = MLPConfig(
            hidden=args.hidden,
            timesteps=args.timesteps,
            encoder=args.encoder,
            neuron=args.neuron,
            burst_max=args.burst_max,
            leak_shift=args.leak_shift,
            reset=args.reset,
            weight_bits=args.weight_bits,
            output=args.output,
        )
    except ValueError as error:
        raise InputError(str(error)) from None
    train_config = TrainConfig(
        dataset=args.dataset or "digits",
        data_dir=args.data_dir,
        epochs=args.epochs,
        lr=args.lr,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    load_data(train_config.dataset, "train", args.data_dir)  # fail early, before training
    model, history = train(config, train_config, progress=not args.quiet)
    save_checkpoint(args.out, model, train_config, history)
    print(f"float test accuracy {history[-1]['test_accuracy']:.4f}; checkpoint {args.out}")


def _dataset_of(args, checkpoint: dict | None = None) -> str:
    if args.dataset:
        return args.dataset
    trained_on = (checkpoint or {}).get("train") or {}
    return trained_on.get("dataset", "digits")


def cmd_compile(args):
    from spikeloom.sw.compiler.compile import CompileOptions, compile_model
    from spikeloom.sw.compiler.describe import describe_folds, describe_program
    from spikeloom.sw.compiler.evaluate import evaluate_program, evaluate_target
    from spikeloom.sw.compiler.program import save_program
    from spikeloom.sw.models_io import load_data, load_model

    model, checkpoint = load_model(args.checkpoint)
    program, folds = compile_model(model, CompileOptions(v_bits=args.v_bits))
    save_program(program, args.out)
    print(describe_program(program))
    print()
    print(describe_folds(folds))
    for fold in folds:
        for note in fold.notes:
            print(f"spikeloom: warning: layer {fold.name!r}: {note}", file=sys.stderr)
    summary = {"program": str(args.out)}
    if not args.no_eval:
        dataset = _dataset_of(args, checkpoint)
        x, y = load_data(
            dataset, "test", args.data_dir or (checkpoint.get("train") or {}).get("data_dir")
        )
        float_acc = evaluate_target(model, x, y).accuracy
        golden_acc = evaluate_program(program, x, y).accuracy
        summary.update(
            dataset=dataset,
            float_accuracy=float_acc,
            golden_accuracy=golden_acc,
            gap=float_acc - golden_acc,
        )
        print(
            f"\n{dataset} test: float {float_acc:.4f}, integer (golden) {golden_acc:.4f}, "
            f"gap {float_acc - golden_acc:+.4f}"
        )
    print(f"Program written to {args.out}")
    return summary


def cmd_encode(args):
    from spikeloom.sw.compiler.encode import encode
    from spikeloom.sw.compiler.program import load_program
    from spikeloom.sw.models_io import load_data

    program = load_program(args.program)
    x, y = load_data(args.dataset or "digits", args.split, args.data_dir)
    spikes = encode(program, x)
    np.save(args.out, spikes)
    if args.labels:
        np.save(args.labels, y)
    print(f"{len(spikes)} samples, spikes {spikes.shape} -> {args.out}")


def _load_spikes(path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such input file")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise InputError(f"{path}: not a .npy array ({str(error).splitlines()[0]})") from None


def cmd_sim(args):
    from spikeloom.sw.compiler.program import load_program

    program = load_program(args.program)
    result = _runner(args)(program, _load_spikes(args.input))
    result.save(args.out)
    cycles = f", {result.cycles.mean():.0f} cycles/sample" if result.cycles.any() else ""
    print(f"{len(result.readout)} samples on {args.backend}{cycles}; results -> {args.out}")


def cmd_eval(args):
    from spikeloom.sw.compiler.evaluate import evaluate_target
    from spikeloom.sw.models_io import load_data, load_target

    target = load_target(args.target)
    x, y = load_data(_dataset_of(args), args.split, args.data_dir)
    evaluation = evaluate_target(target, x, y, _runner(args), args.backend)
    report = {
        "target": str(args.target),
        "dataset": _dataset_of(args),
        "split": args.split,
        "backend": evaluation.backend,
        "samples": evaluation.samples,
        "accuracy": evaluation.accuracy,
    }
    print(
        json.dumps(report)
        if args.json
        else f"{report['dataset']} {args.split}: accuracy {evaluation.accuracy:.4f} on "
        f"{evaluation.samples} samples ({evaluation.backend})"
    )


def cmd_info(args):
    from spikeloom.sw.compiler.describe import describe_program
    from spikeloom.sw.compiler.program import load_program
    from spikeloom.sw.models_io import load_model

    path = Path(args.path)
    if path.is_dir():
        print(describe_program(load_program(path)))
        return
    model, checkpoint = load_model(path)
    print(f"checkpoint {path}")
    for key, value in checkpoint["model"].items():
        print(f"  {key}: {value}")
    if checkpoint.get("history"):
        print(f"  float test accuracy: {checkpoint['history'][-1]['test_accuracy']:.4f}")


def _simulated_board(board: str, program, lanes: int, baud: int | None):
    """`sim` (an engine sized for `program`) or `sim:BOARD` (that board's engine and clock)."""
    from spikeloom.sim.registry import simulated_board

    return simulated_board(program, _simulated_spec(board), lanes, baud)


def _simulated_spec(board: str):
    """The board spec of `sim:BOARD`, None for `sim`."""
    return None if board == "sim" else _board_spec(board.removeprefix("sim:"))


def _board_spec(name: str):
    from spikeloom.boards import board_spec

    try:
        return board_spec(name)
    except ValueError as error:
        raise InputError(str(error)) from None


def cmd_run(args):
    from spikeloom.sw.compiler.program import load_program
    from spikeloom.sw.runtime.device import Device, RunError
    from spikeloom.sw.runtime.link import Link

    program = load_program(args.program)
    spikes = _load_spikes(args.input)
    if args.board == "sim" or args.board.startswith("sim:"):
        from spikeloom.sim.verilator_transport import DEFAULT_BAUD

        baud = args.baud or DEFAULT_BAUD
        transport = _simulated_board(args.board, program, args.lanes, baud)
        link = Link(transport, clock=transport.clock)
    elif args.board.startswith("serial:"):
        from spikeloom.sw.runtime.serial import SerialTransport

        baud = args.baud or 115200
        link = Link(SerialTransport(args.board.removeprefix("serial:"), baud))
    else:
        raise InputError(f"--board {args.board!r} is not 'sim', 'sim:BOARD' or 'serial:PORT'")
    device = Device(link, timeout_s=args.timeout, baud=baud)
    device.load(program, readout_only=args.readout_only)
    try:
        result = device.run(program, spikes, progress=True)
    except RunError as error:
        error.result.save(args.out)
        raise InputError(f"{error} (their results are in {args.out})") from None
    result.save(args.out)
    print(
        f"{len(result.readout)} samples on {args.board}, {result.cycles.mean():.0f} "
        f"cycles/sample; {link.bytes_sent} bytes sent, {link.bytes_received} received; "
        f"results -> {args.out}"
    )


def cmd_bridge(args):
    import time

    from spikeloom.sim.pty_bridge import PtyBridge
    from spikeloom.sw.compiler.program import load_program

    transport = _simulated_board(args.board, load_program(args.program), args.lanes, args.baud)
    with PtyBridge(transport) as bridge:
        print(f"simulated board on {bridge.port} (Ctrl-C to stop)", flush=True)
        while True:
            time.sleep(1)


def cmd_build(args):
    from spikeloom.boards.build import BuildError, build, format_report
    from spikeloom.sw.compiler.program import load_program

    spec = _board_spec(args.board)
    images = None
    if args.program:
        from spikeloom.sw.runtime.engine_stream import program_images

        images = program_images(load_program(args.program), spec.params)
    try:
        report = build(
            spec,
            Path(args.out),
            images=images,
            program_name=args.program,
            clock_mhz=args.clock_mhz,
            baud=args.baud,
            seed=args.seed,
        )
    except BuildError as error:
        raise InputError(str(error)) from None
    print(format_report(report))
    print(f"report -> {Path(args.out) / 'report.json'}")
    if not report["timing_met"]:
        raise InputError(
            f"timing fails: Fmax {report['fmax_mhz']:.1f} MHz is below the "
            f"{report['clock_mhz']:.1f} MHz clock (try --clock-mhz or another --seed)"
        )


def cmd_flash(args):
    from spikeloom.boards.flash import FlashError, flash

    spec = _board_spec(args.board)
    try:
        flash(spec, Path(args.bitstream) if args.bitstream else None, Path(args.dir))
    except FlashError as error:
        raise InputError(str(error)) from None


def _neuron_choice(text: str) -> dict[str, list[int]]:
    """`layer:i,j;layer2:k` -> {"layer": [i, j], "layer2": [k]}."""
    chosen = {}
    for part in filter(None, text.split(";")):
        name, _, indices = part.partition(":")
        try:
            chosen[name] = [int(i) for i in indices.split(",") if i]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected LAYER:I,J[;LAYER:K], got {text!r}"
            ) from None
        if not name or not chosen[name]:
            raise argparse.ArgumentTypeError(f"expected LAYER:I,J[;LAYER:K], got {text!r}")
    return chosen


def cmd_report(args):
    from spikeloom.sw.compiler.program import load_program
    from spikeloom.sw.reports.run_report import format_report, make_report, write_report
    from spikeloom.sw.result import load_result

    program = load_program(args.program)
    result = load_result(args.result)
    spec = _board_spec(args.board)
    build = None
    if args.build:
        path = Path(args.build)
        path = path / "report.json" if path.is_dir() else path
        try:
            build = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"build report {path} does not exist") from None
        except json.JSONDecodeError as error:
            raise InputError(f"{path} is not a build report: {error}") from None
    spikes = _load_spikes(args.input) if args.input else None
    labels = _load_spikes(args.labels) if args.labels else None
    layers = {layer.name for layer in program.layers}
    for name in args.neurons or {}:
        if name not in layers:
            raise InputError(f"--neurons names layer {name!r}; the Program has {sorted(layers)}")
    report = make_report(program, result, spec, build=build, input_spikes=spikes, labels=labels)
    result_path = Path(args.result)
    out = Path(args.out) if args.out else result_path.with_name(result_path.stem + "_report")
    paths = write_report(
        report, program, result, out, input_spikes=spikes, sample=args.sample, neurons=args.neurons
    )
    print(format_report(report))
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")


def cmd_demo(args):
    from spikeloom.sw.demo import run_demo

    if args.backend is not None:
        hw_backend, board = args.backend, None
        from spikeloom.sim.registry import backend_runner

        hw_runner = None if args.backend == "golden" else backend_runner(args.backend, args.lanes)
    else:
        hw_backend, board = f"simulated board ({args.board})", args.board
        if not args.board.startswith("sim:"):
            raise InputError(f"--board {args.board!r}: the demo runs on 'sim:BOARD'")
        from spikeloom.sim.registry import simulated_board_runner

        hw_runner = simulated_board_runner(_simulated_spec(args.board), progress=not args.quiet)
    run_demo(
        Path(args.out),
        epochs=args.epochs,
        quiet=args.quiet,
        hw_backend=hw_backend,
        hw_runner=hw_runner,
        board_spec=_board_spec(board.removeprefix("sim:")) if board else None,
    )


def cmd_clean_cache(args):
    from spikeloom.sim.build_cache import clear_cache

    root, freed = clear_cache()
    print(f"removed {freed / 2**20:.1f} MiB of cached builds from {root}")


def build_parser() -> argparse.ArgumentParser:
    from spikeloom.sim.registry import BACKENDS  # the registry itself imports no simulator

    parser = argparse.ArgumentParser(prog="spikeloom", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_model_commands(sub, BACKENDS)
    _add_board_commands(sub)
    _add_job_commands(sub, BACKENDS)
    return parser


def _add_model_commands(sub, backends):
    """train, compile, encode, sim, eval, info: from data to a Program and its outputs."""
    p = sub.add_parser("train", help="train a spiking MLP and write a checkpoint")
    _add_data_args(p, split=False)
    p.add_argument("--hidden", type=_int_list, default=[256], help="hidden widths, e.g. 256,128")
    p.add_argument("--timesteps", type=int, default=4)
    p.add_argument("--encoder", default="analog", choices=("analog", "thermometer", "rate"))
    p.add_argument("--neuron", default="lif", choices=("lif", "lifb"))
    p.add_argument("--burst-max", type=int, default=1)
    p.add_argument("--leak-shift", type=_leak, default=1, help="k of tau=2^k, or 'none'")
    p.add_argument("--reset", default="subtract", choices=("zero", "subtract"))
    p.add_argument(
        "--weight-bits",
        type=_int_list,
        default=None,
        help="bits per engine layer, e.g. 1,1 (default: all binary)",
    )
    p.add_argument("--output", default="readout", choices=("readout", "spikes"))
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="checkpoint file to write")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("compile", help="compile a checkpoint into an integer Program")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True, help="Program directory to write")
    p.add_argument("--v-bits", type=int, default=None, help="membrane width (default: auto)")
    p.add_argument("--no-eval", action="store_true", help="skip the float-vs-integer check")
    _add_data_args(p, split=False)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("encode", help="encode a data split into a Program's input spikes")
    p.add_argument("program")
    _add_data_args(p)
    p.add_argument("--out", required=True, help=".npy file of uint8 spikes [samples, T, inputs]")
    p.add_argument("--labels", default=None, help="also write the labels to this .npy")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("sim", help="run a Program on input spikes")
    p.add_argument("program")
    p.add_argument("--input", required=True, help=".npy of uint8 spikes [samples, T, inputs]")
    _add_backend_args(p, backends)
    p.add_argument("--out", required=True, help="result .npz")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("eval", help="accuracy of a checkpoint or Program on a data split")
    p.add_argument("target", help="checkpoint file or Program directory")
    _add_data_args(p)
    _add_backend_args(p, backends)
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("info", help="describe a Program or a checkpoint")
    p.add_argument("path")
    p.set_defaults(func=cmd_info)


def _add_board_commands(sub):
    """run, bridge, build, flash, report: a Program on a board, real or simulated."""
    p = sub.add_parser("run", help="run a Program on a board (or the simulated board)")
    p.add_argument("program")
    p.add_argument(
        "--board",
        default="sim",
        help="serial:PORT for a real board; sim for the simulated board (Verilator, UART "
        "included) sized for the Program, or sim:BOARD for that board's engine and clock",
    )
    p.add_argument("--input", required=True, help=".npy of uint8 spikes [samples, T, inputs]")
    p.add_argument("--out", required=True, help="result .npz")
    p.add_argument(
        "--baud", type=int, default=None, help="115200 for a serial port, 3000000 simulated"
    )
    p.add_argument("--lanes", type=int, default=16, help="lanes of the simulated board")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for a reply")
    p.add_argument(
        "--readout-only",
        action="store_true",
        help="bring back the last layer only (hidden spikes stay on the board)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("bridge", help="serve the simulated board on a pseudo-terminal")
    p.add_argument("program", help="Program the simulated board is sized for")
    p.add_argument("--board", default="sim", help="sim, or sim:BOARD for that board's engine")
    p.add_argument("--lanes", type=int, default=16)
    p.add_argument("--baud", type=int, default=None, help="the simulated UART's rate (3 Mbaud)")
    p.set_defaults(func=cmd_bridge)

    p = sub.add_parser("build", help="build a board's bitstream (open tools) and report.json")
    p.add_argument("--board", required=True, help="icebreaker or ulx3s-85f")
    p.add_argument("--program", help="bake this Program into the memories (else load at run time)")
    p.add_argument("--out", required=True, help="build folder")
    p.add_argument("--clock-mhz", type=float, default=None, help="PLL clock (board default)")
    p.add_argument("--baud", type=int, default=115200, help="the board's UART rate")
    p.add_argument("--seed", type=int, default=1, help="place-and-route seed")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("flash", help="program a board with a built bitstream")
    p.add_argument("--board", required=True, help="icebreaker or ulx3s-85f")
    p.add_argument("--dir", default="build/board", help="build folder of `spikeloom build`")
    p.add_argument("--bitstream", help="bitstream file (default: the one in --dir)")
    p.set_defaults(func=cmd_flash)

    p = sub.add_parser(
        "report", help="latency, energy and workload metrics of a run: JSON, Markdown, plots"
    )
    p.add_argument("result", help="result .npz of `spikeloom run` (or `sim` on hardware)")
    p.add_argument("--program", required=True, help="the Program the result ran")
    p.add_argument("--board", required=True, help="icebreaker or ulx3s-85f: energy and clock")
    p.add_argument("--build", help="build folder or report.json of `spikeloom build`: its clock")
    p.add_argument("--input", help="the run's input spikes .npy: traces and hidden layers")
    p.add_argument("--labels", help="labels .npy: accuracy")
    p.add_argument("--sample", type=int, default=0, help="sample shown in the plots")
    p.add_argument(
        "--neurons",
        type=_neuron_choice,
        default=None,
        help="membrane traces to plot, LAYER:I,J[;LAYER:K] (default: the liveliest)",
    )
    p.add_argument("--out", help="report folder (default: next to RESULT, NAME_report)")
    p.set_defaults(func=cmd_report)


def _add_job_commands(sub, backends):
    """demo and clean-cache."""
    p = sub.add_parser("demo", help="train, compile and evaluate the default digits model")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--board",
        default="sim:icebreaker",
        help="simulated board the Program runs on, UART included (sim:icebreaker, sim:ulx3s-85f)",
    )
    p.add_argument(
        "--backend",
        default=None,
        choices=backends,
        help="run on this engine backend instead of a board (golden: none); no latency then",
    )
    p.add_argument("--lanes", type=int, default=16, help="engine lanes for --backend")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "clean-cache",
        help="remove the cached simulator builds (Verilator, Icarus)",
        description="Remove the cached simulator builds: $SPIKELOOM_CACHE, else "
        "$XDG_CACHE_HOME/spikeloom, else ~/.cache/spikeloom.",
    )
    p.set_defaults(func=cmd_clean_cache)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SpikeloomError as error:
        print(f"spikeloom: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # unreadable or unwritable files
        print(f"spikeloom: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("spikeloom: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
