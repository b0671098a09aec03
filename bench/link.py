"""Link traffic per inference, and how time splits between the serial link and the engine.

Runs a Program on the simulated board (the board's gateware at the byte level in Amaranth's
simulator) through the host's own Device and Link, and counts the bytes of every exchange of an
inference: one EVENTS frame per timestep, the RESULTS replies carrying the output events, and
COUNTERS. Empty RESULTS polls are counted apart: how many a host sends depends on how fast the
real link is against the engine, which a byte-level simulation does not model. Link time assumes
8N1 framing (10 bits a byte) at the chosen baud rate; compute time is the engine's cycle count at
the chosen clock (an assumption until a board build reports its Fmax).
"""

import argparse
import json
import time
from pathlib import Path

from hw.protocol import Command
from sim.board_sim import simulated_board
from sw.device import Device
from sw.encode import encode
from sw.link import Link
from sw.program import load_program
from sw.table import format_table

RESULTS = Path(__file__).resolve().parent / "results" / "link.json"


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--program", default="runs/demo/program")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--lanes", type=int, default=16)
    parser.add_argument("--baud", type=int, default=3_000_000)
    parser.add_argument("--clock-mhz", type=float, default=48.0)
    parser.add_argument(
        "--readout-only",
        action="store_true",
        help="keep hidden spikes on the board (deployment mode)",
    )
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    from models.datasets import load_dataset

    program = load_program(args.program)
    x, _ = load_dataset("digits", "test")
    spikes = encode(program, x[: args.samples])
    transport = simulated_board(program, args.lanes)
    link = CountingLink(transport, clock=transport.clock)
    device = Device(link, timeout_s=1.0)
    start = time.perf_counter()
    device.load(program, verify=False, readout_only=args.readout_only)
    load_bytes = link.bytes_sent + link.bytes_received
    link.by_command.clear()
    link.empty_polls = 0
    result = device.run(program, spikes, progress=True)
    seconds = time.perf_counter() - start

    per_inference = {name: count / args.samples for name, count in link.by_command.items()}
    useful = sum(v for k, v in per_inference.items() if "empty" not in k)
    link_us = useful * 10 / args.baud * 1e6
    compute_us = float(result.cycles.mean()) / args.clock_mhz
    rows = [[name, round(count, 1)] for name, count in sorted(per_inference.items())]
    rows.append(["bytes per inference (without empty polls)", round(useful, 1)])
    rows.append([f"link time at {args.baud / 1e6:g} Mbaud (us)", round(link_us, 1)])
    rows.append([f"compute at {args.clock_mhz:g} MHz (us, assumed clock)", round(compute_us, 1)])
    rows.append(["inferences/s, link and compute in turn", round(1e6 / (link_us + compute_us))])
    rows.append(["Program load (bytes, no read-back)", load_bytes])
    mode = "readout only" if args.readout_only else "every spike reported"
    title = f"{args.program}, {args.samples} samples, {mode}"
    print(format_table(["quantity", "value"], rows, title))
    report = {
        "program": args.program,
        "readout_only": args.readout_only,
        "samples": args.samples,
        "lanes": args.lanes,
        "baud": args.baud,
        "clock_mhz_assumed": args.clock_mhz,
        "bytes_per_inference": per_inference,
        "useful_bytes_per_inference": useful,
        "link_us": link_us,
        "compute_us": compute_us,
        "cycles_per_inference": float(result.cycles.mean()),
        "load_bytes": load_bytes,
        "simulation_seconds": seconds,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
