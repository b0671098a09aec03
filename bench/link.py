"""Link traffic per inference, and how time splits between the serial link and the engine.

Runs a Program on the Verilator board (`sim.verilator_transport`: the board's full top level, UART
included, at 3 Mbaud on a 48 MHz clock by default) through the host's own Device and Link, in both
output modes: every spike reported, and readout only. Every byte goes through the UART bit by bit,
so the time an inference takes is measured in simulated time, not derived from a byte count: the
run's time (its RESET, then each sample's EVENTS, RESULTS and COUNTERS exchanges, with the board's
turnaround and any RESULTS polls while the engine computes) over the samples. The host answers in
zero simulated time, so this is the bound a real host approaches. Compute time is the cycles the
engine's layers were busy (its `layer_cycles` counters) at the clock, an assumption until a board
build reports its Fmax; its `cycles` counter also counts the waits for later timesteps' input,
which the link paces. The bytes of each exchange are filed under its command; empty RESULTS polls
are counted apart.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from spikeloom.boards import BOARDS, board_spec
from spikeloom.hw.protocol import Command
from spikeloom.hw.uart import divisor_for
from spikeloom.sim.verilator_transport import DEFAULT_BAUD, DEFAULT_CLOCK_HZ, VerilatorTransport
from spikeloom.sw.compiler.encode import encode
from spikeloom.sw.compiler.fit import params_for_program
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.program import load_program
from spikeloom.sw.reports.table import format_table
from spikeloom.sw.runtime.device import Device
from spikeloom.sw.runtime.link import Link

RESULTS = Path(__file__).resolve().parent / "results"
MODES = {"all_spikes": False, "readout_only": True}


class CountingLink(Link):
    """A Link that files the bytes of each exchange under its command."""

    def __init__(self, transport, **kwargs):
        super().__init__(transport, **kwargs)
        self.by_command: dict[str, int] = {}
        self.empty_polls = 0

    def request(self, command, payload=b"", timeout_s=1.0, retries=3):
        before = self.bytes_sent + self.bytes_received
        reply = super().request(command, payload, timeout_s, retries)
        used = self.bytes_sent + self.bytes_received - before
        name = {
            Command.EVENTS: "EVENTS",
            Command.RESULTS: "RESULTS",
            Command.COUNTERS: "COUNTERS",
        }.get(command, "other")
        if command == Command.RESULTS and not reply:
            self.empty_polls += 1
            name = "RESULTS (empty polls)"
        self.by_command[name] = self.by_command.get(name, 0) + used
        return reply

    def total(self) -> int:
        return self.bytes_sent + self.bytes_received


def measure(device, board, program, spikes, readout_only: bool) -> dict:
    """Load `program` in one output mode and run `spikes`; bytes and simulated times."""
    link, samples = device.link, len(spikes)
    start_bytes, start_s = link.total(), board.clock()
    device.load(program, verify=False, readout_only=readout_only)
    load_bytes, load_s = link.total() - start_bytes, board.clock() - start_s
    link.by_command.clear()
    link.empty_polls = 0
    start_bytes, start_s = link.total(), board.clock()
    result = device.run(program, spikes, progress=True)
    run_bytes, run_s = link.total() - start_bytes, board.clock() - start_s

    golden = run_golden(program, spikes)
    exact = np.array_equal(result.readout, golden.readout)
    if not readout_only:
        exact &= all(np.array_equal(result.spikes[k], v) for k, v in golden.spikes.items())
    inference_us = run_s / samples * 1e6
    compute = float(result.counters["layer_cycles"].sum(axis=1).mean())
    return {
        "readout_only": readout_only,
        "bytes_per_inference": {k: v / samples for k, v in sorted(link.by_command.items())},
        "link_bytes_per_inference": run_bytes / samples,
        "empty_polls_per_inference": link.empty_polls / samples,
        "line_us": run_bytes / samples * 10 / board.clock_hz * board.divisor * 1e6,
        "inference_us": inference_us,
        "inferences_per_s": 1e6 / inference_us,
        # From timestep 0's input to SAMPLE_END: with the UART in the loop this includes the
        # engine waiting for later timesteps' EVENTS, so compute is what the layers were busy.
        "sample_cycles": float(result.cycles.mean()),
        "compute_cycles": compute,
        "compute_us": compute / board.clock_hz * 1e6,
        "load_bytes": load_bytes,
        "load_s": load_s,
        "matches_golden": bool(exact),
        "tx_framing_errors": board.framing_errors,
    }


def table(report: dict, args) -> str:
    baud = report["clock_hz"] / report["divisor"]
    rows = [[name, round(count, 1)] for name, count in report["bytes_per_inference"].items()]
    rows += [
        ["link bytes per inference (all of the above)", round(report["link_bytes_per_inference"])],
        [f"their time on the line at {baud / 1e6:g} Mbaud 8N1 (us)", round(report["line_us"], 1)],
        ["inference time, measured on the simulated link (us)", round(report["inference_us"], 1)],
        [
            f"compute (layers busy) at {report['clock_hz'] / 1e6:g} MHz (us)",
            round(report["compute_us"], 1),
        ],
        ["sample cycles: timestep 0 input to sample end", round(report["sample_cycles"])],
        ["inferences/s", round(report["inferences_per_s"])],
        ["Program load (bytes, no read-back)", report["load_bytes"]],
        ["Program load, simulated (s)", round(report["load_s"], 3)],
        ["matches the golden model", str(report["matches_golden"])],
    ]
    mode = "readout only" if report["readout_only"] else "every spike reported"
    title = f"{args.program}, {args.samples} samples, {mode}, Verilator board (UART in the loop)"
    return format_table(["quantity", "value"], rows, title)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--program", default="runs/demo/program")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--lanes", type=int, default=16)
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD)
    parser.add_argument("--clock-mhz", type=float, default=DEFAULT_CLOCK_HZ / 1e6)
    parser.add_argument(
        "--readout-only",
        action="store_true",
        help="only the readout-only mode (hidden spikes stay on the board)",
    )
    parser.add_argument(
        "--board",
        choices=sorted(BOARDS),
        help="that board's engine and clock (its --lanes and --clock-mhz win over the options)",
    )
    parser.add_argument("--out-dir", default=str(RESULTS), help="writes link_<mode>.json here")
    args = parser.parse_args()

    from spikeloom.models.datasets import load_dataset

    program = load_program(args.program)
    x, _ = load_dataset("digits", "test")
    spikes = encode(program, x[: args.samples])
    if args.board:
        spec = board_spec(args.board)
        params = spec.params
        clock_hz = round(spec.pll(spec.clock_mhz * 1e6).f_out_hz)
        args.lanes, args.clock_mhz = params.lanes, clock_hz / 1e6
    else:
        params = params_for_program(program, args.lanes)
        clock_hz = round(args.clock_mhz * 1e6)
    divisor = divisor_for(clock_hz, args.baud)
    wall = time.perf_counter()
    with VerilatorTransport(params, clock_hz=clock_hz, divisor=divisor) as board:
        device = Device(CountingLink(board, clock=board.clock), timeout_s=1.0)
        built = time.perf_counter() - wall
        for mode, readout_only in MODES.items():
            if args.readout_only and not readout_only:
                continue
            start = time.perf_counter()
            report = {
                "program": args.program,
                "samples": args.samples,
                "lanes": args.lanes,
                "board": f"verilator, full top level with UART ({args.board or 'sized'} engine)",
                "baud": args.baud,
                "clock_hz": clock_hz,
                "divisor": divisor,
                **measure(device, board, program, spikes, readout_only),
            }
            report["wall_seconds"] = time.perf_counter() - start
            report["build_or_cache_seconds"] = built
            print(table(report, args))
            suffix = f"_{args.board}" if args.board else ""
            out = Path(args.out_dir) / f"link_{mode}{suffix}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=2) + "\n")
            print(f"wrote {out}\n")


if __name__ == "__main__":
    main()
