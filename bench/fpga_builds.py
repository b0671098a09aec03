"""Fmax and resources of every board build, against the targets.

Builds each board's bitstream (`boards.build`, the engine and link as shipped, no Program baked
in, the PLL asked for the target clock) for one or more place-and-route seeds and prints one
row per build; writes
bench/results/fpga_builds.json. Targets: >= 48 MHz on the iCE40 UP5K, >= 90 MHz on the ECP5-85F.

    python bench/fpga_builds.py [--board icebreaker] [--seeds 1 2 3] [--out-dir build/bench]
"""

import argparse
import json
from pathlib import Path

from spikeloom.boards import BOARDS, board_spec
from spikeloom.boards.build import build
from spikeloom.sw.reports.table import format_table

RESULTS = Path(__file__).resolve().parent / "results" / "fpga_builds.json"
TARGET_MHZ = {"icebreaker": 48.0, "ulx3s-85f": 90.0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", action="append", choices=sorted(BOARDS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--out-dir", default="build/bench")
    args = parser.parse_args()
    rows, reports = [], []
    for name in args.board or sorted(BOARDS):
        spec = board_spec(name)
        for seed in args.seeds:
            # Asked for the target clock, so that Fmax says how far each build is from it.
            folder = Path(args.out_dir) / f"{name}-seed{seed}"
            report = build(spec, folder, seed=seed, clock_mhz=TARGET_MHZ[name])
            report["target_mhz"] = TARGET_MHZ[name]
            reports.append(report)
            rows.append(
                [
                    name,
                    seed,
                    f"{report['lanes']} / {report['sweep_lanes']}",
                    f"{report['luts']} / {report['luts_total']}",
                    report["ffs"],
                    f"{report['brams']} / {report['brams_total']}",
                    f"{report['spram']} / {report['spram_total']}",
                    round(report["fmax_mhz"], 1),
                    TARGET_MHZ[name],
                    report["build_seconds"],
                ]
            )
    print(
        format_table(
            [
                "board",
                "seed",
                "lanes / units",
                "logic",
                "FFs",
                "block RAM",
                "SPRAM",
                "Fmax MHz",
                "target",
                "build s",
            ],
            rows,
        )
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(reports, indent=2) + "\n")
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
