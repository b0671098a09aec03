"""This project beside published SNN and BNN accelerators: one table, measured rows and quoted rows.

Measured rows (kind `measured`) are this project's engines run here, on the simulated boards:
each board's full top level (engine, link, UART) under Verilator (`sim.verilator_transport`), with
the engine, clock and PLL of `boards.board_spec(name)` (what `spikeloom run --board
sim:BOARD` runs), at 3 Mbaud. The host's own `Device` and `Link` load each Program (readout
only, no read-back) and stream the samples; every byte crosses the UART bit by bit, so the time
per sample over the link is measured in simulated time. For each workload and board:

- the readout is checked bit for bit against the golden model (`sw.compiler.golden.run_golden`);
- `sw.run_report.make_report` gives compute latency (the engine's measured busy cycles of its
  layers, at the board's clock), the time per sample by the link's clock, the FPGA energy
  estimate of docs/energy.md (`compute`: the layers while they compute; `all cycles`: also the
  cycles outside the layers, such as waiting for the link) and the literature convention
  (E_AC x effective synaptic operations);
- LUTs and Fmax come from a place-and-route report: a board build's report.json (`spikeloom
  build --out build/BOARD`, or `--build BOARD=PATH`) when there is one, else
  bench/results/fpga_builds.json (`bench/fpga_builds.py`); the JSON names the file used. The
  latency is quoted at the board's clock; the latency at that build's Fmax is given apart.

Workloads: random binary MLPs of MNIST's shape (784-256-10 and 784-128-10, T=4, LIF hidden
layer, integer readout; `sw.random_program.mnist_shaped_program`) fed Bernoulli input spikes at
`--rates` (0.10 by default). No MNIST data is used: their weights are random, so they have no
accuracy; they stand for the work an MNIST network of that shape does. The digits demo
(`runs/demo/program`, written by `make demo`) runs on its own test inputs, encoded by the
Program's encoder, and its accuracy is measured from the readout.

Quoted rows (kind `quoted`) are published figures, as their sources give them; a figure
computed here from published ones says so, with its arithmetic. Targets compare the measured
784-256-10 row at 10% input with this project's latency and throughput-per-LUT goals.

    python bench/compare.py [--samples 20] [--boards icebreaker,ulx3s-85f] [--rates 0.1]
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from spikeloom.boards import BOARDS, board_spec
from spikeloom.hw.uart import divisor_for
from spikeloom.sim.verilator_transport import VerilatorTransport
from spikeloom.sw.compiler.fit import check_fits
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.random_program import mnist_shaped_program
from spikeloom.sw.reports.run_report import make_report
from spikeloom.sw.reports.table import format_table, markdown_table
from spikeloom.sw.runtime.device import Device
from spikeloom.sw.runtime.link import Link

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
FPGA_BUILDS = RESULTS / "fpga_builds.json"
DEMO_PROGRAM = REPO / "runs" / "demo" / "program"
BAUD = 3_000_000
TIMESTEPS = 4

#: Compute latency targets of 784-256-10 at 10% input, per board (us), and inferences/s per
#: 1,000 LUTs: ten times Flexi-NeurA's (derived below).
LATENCY_TARGET_US = {"ulx3s-85f": 8.0, "icebreaker": 40.0}
TARGET_RATE = 0.1
FLEXI_INF_PER_KLUT = 1e6 / 1100.0 / (1623 / 1000)
PER_KLUT_TARGET = 10 * 560

REFERENCES = {
    "spiker+": (
        'A. Carpegna, A. Savino, S. Di Carlo, "Spiker+: a framework for the generation of '
        'efficient Spiking Neural Networks FPGA accelerators for inference at the edge", '
        "arXiv:2401.01141, 2024 (https://arxiv.org/abs/2401.01141). Its abstract gives 7,612 "
        "logic cells, 18 BRAMs, 180 mW and 780 us per image on MNIST; 93.85% accuracy is as a "
        "summary of the paper gives it (sciencestack.ai), not in the abstract. Journal version "
        "and FPGA device not confirmed here."
    ),
    "spiker": (
        'A. Carpegna, A. Savino, S. Di Carlo, "Spiker: an FPGA-optimized Hardware acceleration '
        'for Spiking Neural Networks", arXiv:2201.06993, 2022 (https://arxiv.org/abs/2201.06993). '
        "Its abstract gives a Xilinx Artix-7, 215 us and 13 mJ per MNIST image, one layer of "
        "400 LIF neurons using about 40% of the FPGA's resources; no accuracy or LUT count in "
        "the abstract. Venue not confirmed here."
    ),
    "flexi-neura": (
        'M. Farahani, M. R. Roshanshah, S. Safari, "Flexi-NeurA: A Configurable Neuromorphic '
        'Accelerator with Adaptive Bit-Precision Exploration for Edge SNNs", arXiv:2602.18140v1, '
        "2026 (https://arxiv.org/html/2602.18140v1). Its abstract: 256-128-10 LIF network on "
        "two cores, 97.23% on MNIST, 1.1 ms latency, 1,623 logic cells, 7 BRAMs, 111 mW total. "
        "A differently titled version of the same arXiv entry gives 96.23%. FPGA device not "
        "confirmed here."
    ),
    "odin": (
        'C. Frenkel, M. Lefebvre, J.-D. Legat, D. Bol, "A 0.086-mm2 12.7-pJ/SOP 64k-Synapse '
        '256-Neuron Online-Learning Digital Spiking Neuromorphic Processor in 28nm CMOS", IEEE '
        "Transactions on Biomedical Circuits and Systems, DOI 10.1109/TBCAS.2018.2880425 "
        "(accepted 2018; arXiv:1804.07858). An ASIC in 28 nm FDSOI: minimum 12.7 pJ per "
        "synaptic operation; 84.5% on 16x16 MNIST with one fully connected layer of 10 neurons "
        "(on-chip learning), 15 nJ per inference at 0.55 V."
    ),
    "finn": (
        "Y. Umuroglu, N. J. Fraser, G. Gambardella, M. Blott, P. Leong, M. Jahre, K. Vissers, "
        '"FINN: A Framework for Fast, Scalable Binarized Neural Network Inference", '
        "arXiv:1612.07119, 2016 (https://arxiv.org/abs/1612.07119). Its abstract: on a ZC706 "
        "(Zynq-7000) drawing under 25 W total system power, up to 12.3 million MNIST "
        "classifications/s with 0.31 us latency at 95.8% accuracy. A binarized non-spiking "
        "MLP; the abstract does not name the configuration (SFC-max is not confirmed here)."
    ),
}


def _quoted_rows() -> list[dict]:
    """The published figures, each with what is quoted and what is derived here."""
    spiker_plus_uj = 180e-3 * 780e-6 * 1e6
    flexi_uj = 111e-3 * 1.1e-3 * 1e6
    return [
        {
            "kind": "quoted",
            "system": "Spiker+",
            "platform": "Xilinx FPGA (device not confirmed)",
            "workload": "MNIST",
            "accuracy": 0.9385,
            "compute_us": 780.0,
            "link_us": None,
            "inferences_per_s": 1e6 / 780.0,
            "energy_uj": spiker_plus_uj,
            "literature_nj": None,
            "luts": 7612,
            "inf_per_s_per_klut": 1e6 / 780.0 / 7.612,
            "pj_per_sop": None,
            "source": "spiker+",
            "derived_fields": ["energy_uj", "inferences_per_s", "inf_per_s_per_klut"],
            "derived": [
                f"energy/inference = 180 mW x 780 us = {spiker_plus_uj:.1f} uJ",
                "inferences/s = 1 / 780 us, assuming one inference at a time",
                f"per kLUT: {1e6 / 780:.1f} / 7.612 (logic cells, as published) = "
                f"{1e6 / 780 / 7.612:.1f}",
            ],
        },
        {
            "kind": "quoted",
            "system": "Spiker",
            "platform": "Xilinx Artix-7",
            "workload": "MNIST, 1 layer of 400 LIF",
            "accuracy": None,
            "compute_us": 215.0,
            "link_us": None,
            "inferences_per_s": 1e6 / 215.0,
            "energy_uj": 13e3,
            "literature_nj": None,
            "luts": None,
            "inf_per_s_per_klut": None,
            "pj_per_sop": None,
            "source": "spiker",
            "derived_fields": ["inferences_per_s"],
            "derived": ["inferences/s = 1 / 215 us, assuming one inference at a time"],
        },
        {
            "kind": "quoted",
            "system": "Flexi-NeurA",
            "platform": "FPGA (device not confirmed)",
            "workload": "MNIST, 256-128-10 LIF",
            "accuracy": 0.9723,
            "compute_us": 1100.0,
            "link_us": None,
            "inferences_per_s": 1e6 / 1100.0,
            "energy_uj": flexi_uj,
            "literature_nj": None,
            "luts": 1623,
            "inf_per_s_per_klut": FLEXI_INF_PER_KLUT,
            "pj_per_sop": None,
            "source": "flexi-neura",
            "derived_fields": ["inferences_per_s", "inf_per_s_per_klut", "energy_uj"],
            "derived": [
                "the source gives latency, not throughput: inferences/s = 1 / 1.1 ms = 909.1, "
                "assuming one inference at a time",
                f"per kLUT: 909.1 / 1.623 (logic cells, as published) = {FLEXI_INF_PER_KLUT:.1f}",
                f"energy/inference = 111 mW x 1.1 ms = {flexi_uj:.1f} uJ",
            ],
        },
        {
            "kind": "quoted",
            "system": "ODIN",
            "platform": "ASIC, 28 nm FDSOI CMOS",
            "workload": "16x16 MNIST, 1 layer of 10, on-chip learning",
            "accuracy": 0.845,
            "compute_us": None,
            "link_us": None,
            "inferences_per_s": None,
            "energy_uj": 15e-3,
            "literature_nj": None,
            "luts": None,
            "inf_per_s_per_klut": None,
            "pj_per_sop": 12.7,
            "source": "odin",
            "derived_fields": [],
            "derived": [],
        },
        {
            "kind": "quoted",
            "system": "FINN (BNN, not spiking)",
            "platform": "Xilinx ZC706 (Zynq-7000)",
            "workload": "MNIST, binarized MLP",
            "accuracy": 0.958,
            "compute_us": 0.31,
            "link_us": None,
            "inferences_per_s": 12.3e6,
            "energy_uj": None,
            "literature_nj": None,
            "luts": None,
            "inf_per_s_per_klut": None,
            "pj_per_sop": None,
            "source": "finn",
            "derived_fields": [],
            "derived": [],
        },
    ]


# --- builds: LUTs and Fmax ----------------------------------------------------------------------


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def build_info(spec, override: str | None) -> dict | None:
    """LUTs and Fmax of `spec`'s build: `override`, else build/BOARD/report.json, else the
    board's entry in bench/results/fpga_builds.json."""
    candidates = [Path(override)] if override else [REPO / "build" / spec.name / "report.json"]
    chosen, path = None, None
    for candidate in candidates:
        candidate = candidate / "report.json" if candidate.is_dir() else candidate
        if candidate.is_file():
            report = json.loads(candidate.read_text())
            if report.get("board") == spec.name:
                chosen, path = report, candidate
                break
            print(f"{_rel(candidate)} is for board {report.get('board')!r}: not used")
    if chosen is None and not override and FPGA_BUILDS.is_file():
        for report in json.loads(FPGA_BUILDS.read_text()):
            if report.get("board") == spec.name:
                chosen, path = report, FPGA_BUILDS
                break
    if chosen is None:
        return None
    params = chosen.get("params")
    return {
        "file": _rel(path),
        "luts": chosen.get("luts"),
        "luts_total": chosen.get("luts_total"),
        "fmax_mhz": chosen.get("fmax_mhz"),
        "build_clock_mhz": chosen.get("clock_mhz"),
        "timing_met": chosen.get("timing_met"),
        "seed": chosen.get("seed"),
        # The simulated engine is today's gateware; the build may be older.
        "params_match_board": None if params is None else params == spec.params.as_dict(),
    }


# --- measuring ----------------------------------------------------------------------------------


def workloads(args) -> list[dict]:
    """Each workload: name, Program, input spikes, labels (or None) and notes."""
    out = []
    for hidden in args.hidden:
        shape = (784, hidden, 10)
        name = "-".join(str(n) for n in shape)
        program = mnist_shaped_program(
            np.random.default_rng([args.seed, shape[1]]), shape=shape, timesteps=TIMESTEPS
        )
        for rate in args.rates:
            rng = np.random.default_rng([args.seed, shape[1], round(rate * 1e6)])
            spikes = (rng.random((args.samples, TIMESTEPS, shape[0])) < rate).astype(np.uint8)
            out.append(
                {
                    "name": name,
                    "label": f"{name} random binary, T={TIMESTEPS}, {rate:.0%} input",
                    "rate": rate,
                    "program": program,
                    "spikes": spikes,
                    "labels": None,
                    "accuracy_note": "n/a (random weights)",
                }
            )
    if args.no_demo:
        return out
    if not (Path(args.demo) / "program.yaml").is_file():
        print(f"{_rel(Path(args.demo))} is missing: run `make demo` first (digits row skipped)")
        return out
    from spikeloom.models.datasets import load_dataset
    from spikeloom.sw.compiler.encode import encode
    from spikeloom.sw.compiler.program import load_program

    program = load_program(args.demo)
    x, y = load_dataset("digits", "test")
    shape = "-".join(str(n) for n in [program.inputs, *(la.outputs for la in program.layers)])
    out.append(
        {
            "name": "digits demo",
            "label": f"digits demo {shape}, T={program.timesteps}",
            "rate": None,
            "program": program,
            "spikes": encode(program, x[: args.samples]),
            "labels": y[: args.samples],
            "accuracy_note": None,
        }
    )
    return out


def measure_board(name: str, loads: list[dict], args, make_report) -> list[dict]:
    """Run every workload on board `name`'s simulated top level; one row per workload."""
    spec = board_spec(name)
    clock_hz = round(spec.pll(spec.clock_mhz * 1e6).f_out_hz)
    divisor = divisor_for(clock_hz, BAUD)
    build = build_info(spec, args.build.get(name))
    rows = []
    started = time.perf_counter()
    print(f"{name}: building or loading the Verilator board ({spec.params.lanes} lanes) ...")
    with VerilatorTransport(spec.params, clock_hz=clock_hz, divisor=divisor) as board:
        print(f"{name}: ready in {time.perf_counter() - started:.1f} s")
        device = Device(Link(board, clock=board.clock), timeout_s=1.0, baud=BAUD)
        for load in loads:
            program, spikes = load["program"], load["spikes"]
            ok, problems = check_fits(program, spec.params)
            if not ok:
                print(f"{name}: {load['label']} does not fit: {'; '.join(problems)} (skipped)")
                continue
            print(f"{name}: {load['label']}, {len(spikes)} samples")
            wall = time.perf_counter()
            device.load(program, verify=False, readout_only=True)
            result = device.run(program, spikes, progress=True)
            wall = time.perf_counter() - wall
            golden = run_golden(program, spikes)
            report = make_report(program, result, spec, input_spikes=spikes, labels=load["labels"])
            rows.append(_measured_row(name, spec, load, result, golden, report, build, wall))
    return rows


def _measured_row(name, spec, load, result, golden, report, build, wall) -> dict:
    latency, fpga = report["latency"], report["energy"]["fpga"]
    literature = report["energy"]["literature"]
    synops = report["metrics"]["total"]["synops_effective"]
    compute_us = latency["compute_us"]
    luts = build["luts"] if build else None
    fmax = build["fmax_mhz"] if build else None
    at_fmax = latency["compute_cycles"] / fmax if fmax else None
    link = latency["link"] or {}
    per_klut = (1e6 / compute_us) / (luts / 1000) if luts and compute_us else None
    return {
        "kind": "measured",
        "system": "spikeloom",
        "platform": f"{spec.device} ({spec.title.split(' (')[0]}), simulated",
        "board": name,
        "workload": load["label"],
        "workload_name": load["name"],
        "input_rate": load["rate"],
        "samples": report["samples"],
        "accuracy": report["accuracy"],
        "accuracy_note": load["accuracy_note"],
        "bit_exact_readout": bool(np.array_equal(result.readout, golden.readout)),
        "matches_golden": report["matches_golden"],
        "clock_mhz": latency["clock_mhz"],
        "compute_cycles": latency["compute_cycles"],
        "compute_us": compute_us,
        "compute_us_at_fmax": at_fmax,
        "fmax_mhz": fmax,
        "link_us": link.get("sample_us"),
        "link_bytes_per_sample": (link.get("bytes_sent") or 0) + (link.get("bytes_received") or 0),
        "inferences_per_s": latency["inferences_per_s_compute"],
        "inferences_per_s_link": link.get("inferences_per_s"),
        "energy_uj": fpga["compute_nj"] * 1e-3,
        "energy_all_cycles_uj": fpga["total"]["total"] * 1e-3,
        "literature_nj": literature["total"]["snn_effective"],
        "synops_effective": synops,
        "e_ac_pj": literature["e_ac_pj"],
        "pj_per_sop": fpga["compute_nj"] * 1e3 / synops if synops else None,
        "luts": luts,
        "inf_per_s_per_klut": per_klut,
        "inf_per_s_per_klut_at_fmax": per_klut * fmax / latency["clock_mhz"]
        if per_klut and fmax
        else None,
        "build": build,
        "source": "bench/compare.py",
        "wall_s": wall,
        "report": report,
    }


# --- targets and tables -------------------------------------------------------------------------


def targets(rows: list[dict], boards: list[str]) -> list[dict]:
    out = []
    for name in boards:
        row = next(
            (
                r
                for r in rows
                if r["board"] == name
                and r["workload_name"] == "784-256-10"
                and r["input_rate"] is not None
                and math.isclose(r["input_rate"], TARGET_RATE)
            ),
            None,
        )
        checks = [
            (
                f"compute latency, 784-256-10 at 10% input, at the board clock (us) <= "
                f"{LATENCY_TARGET_US[name]:g}",
                None if row is None else row["compute_us"],
                LATENCY_TARGET_US[name],
                "max",
            ),
            (
                f"inferences/s per 1,000 LUTs, 784-256-10 at 10% input >= 10 x 560 = "
                f"{PER_KLUT_TARGET:,}",
                None if row is None else row["inf_per_s_per_klut"],
                PER_KLUT_TARGET,
                "min",
            ),
        ]
        for what, value, target, sense in checks:
            met = (
                None if value is None else (value <= target if sense == "max" else value >= target)
            )
            out.append(
                {
                    "board": name,
                    "target": what,
                    "measured": value,
                    "limit": target,
                    "met": met,
                    "at_fmax": None
                    if row is None
                    else row[
                        "compute_us_at_fmax" if sense == "max" else "inf_per_s_per_klut_at_fmax"
                    ],
                }
            )
    return out


def _fmt(value, digits: int = 1) -> str:
    """Whole numbers from 1,000 up, one decimal from 10, else `digits` decimals."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.{min(digits, 1) if abs(value) >= 10 else digits}f}"


def _accuracy(row) -> str:
    if row.get("accuracy") is None:
        return row.get("accuracy_note") or "-"
    return f"{row['accuracy']:.2%}"


HEADERS = [
    "system",
    "platform",
    "workload",
    "accuracy",
    "compute latency (us)",
    "time/inference over link (us)",
    "inferences/s (compute)",
    "energy/inference (uJ)",
    "E_AC x SynOps (nJ)",
    "LUTs",
    "inf/s per kLUT",
    "kind",
    "source",
]


def table_rows(measured: list[dict], quoted: list[dict]) -> list[list[str]]:
    refs = list(REFERENCES)
    rows = []
    for row in measured:
        rows.append(
            [
                row["system"],
                row["platform"],
                row["workload"],
                _accuracy(row),
                _fmt(row["compute_us"], 2) + f" @ {row['clock_mhz']:g} MHz",
                _fmt(row["link_us"]),
                _fmt(row["inferences_per_s"]),
                _fmt(row["energy_uj"], 3) + " (FPGA est.)",
                _fmt(row["literature_nj"], 1),
                _fmt(row["luts"]),
                _fmt(row["inf_per_s_per_klut"]),
                "measured",
                f"this project, {row['samples']} samples"
                + ("" if row["build"] is None else f"; LUTs: {row['build']['file']}"),
            ]
        )
    for row in quoted:

        def cell(key, digits=1, row=row):
            mark = " *" if key in row["derived_fields"] else ""
            return _fmt(row[key], digits) + mark

        rows.append(
            [
                row["system"],
                row["platform"],
                row["workload"],
                _accuracy(row),
                cell("compute_us", 2),
                "-",
                cell("inferences_per_s"),
                cell("energy_uj", 3),
                "-",
                cell("luts"),
                cell("inf_per_s_per_klut"),
                "quoted",
                f"[{refs.index(row['source']) + 1}]",
            ]
        )
    return rows


def detail_rows(measured: list[dict]) -> list[list[str]]:
    rows = []
    for row in measured:
        build = row["build"] or {}
        rows.append(
            [
                row["board"],
                row["workload"],
                "yes" if row["bit_exact_readout"] else "NO",
                _fmt(row["compute_cycles"], 0),
                _fmt(row["fmax_mhz"]),
                _fmt(row["compute_us_at_fmax"], 2),
                _fmt(row["energy_all_cycles_uj"], 3),
                _fmt(row["synops_effective"], 0),
                _fmt(row["pj_per_sop"], 1),
                _fmt(row["e_ac_pj"], 1),
                "-" if not build else str(build.get("params_match_board")),
                _fmt(row["wall_s"]),
            ]
        )
    return rows


DETAIL_HEADERS = [
    "board",
    "workload",
    "bit-exact",
    "busy cycles",
    "Fmax (MHz)",
    "latency at Fmax (us)",
    "energy, all cycles (uJ)",
    "SynOps (eff.)",
    "FPGA est. pJ/SynOp",
    "E_AC pJ/SynOp",
    "build = engine",
    "wall (s)",
]


def target_rows(checks: list[dict]) -> list[list[str]]:
    rows = []
    for check in checks:
        met = {True: "met", False: "not met", None: "not measured"}[check["met"]]
        rows.append(
            [
                check["board"],
                check["target"],
                _fmt(check["measured"], 2),
                met,
                _fmt(check["at_fmax"], 2),
            ]
        )
    return rows


TARGET_HEADERS = ["board", "target", "measured", "result", "the same at the build's Fmax"]


def notes(measured: list[dict], quoted: list[dict], args) -> list[str]:
    out = [
        "measured: this project, run here on the simulated boards (Verilator, the board's full "
        f"top level with its UART at {BAUD / 1e6:g} Mbaud), seed {args.seed}; quoted: the "
        "publications' own figures [n]; a value marked * is computed here from published "
        "figures (the arithmetic follows).",
        "784-256-10 and 784-128-10 are random binary MLPs of MNIST's shape, with Bernoulli input "
        "spikes: workload-shaped, not trained, so their accuracy is n/a. No MNIST data is used. "
        "The digits demo is scikit-learn's 8x8 digits (not MNIST), accuracy on the samples run.",
        "compute latency: the engine's busy cycles of its layers (measured) at the board's "
        "clock. time/inference over link: the simulated time per sample from its first input "
        "to its counters at 3 Mbaud, readout only.",
        "energy/inference (FPGA est.): the estimate of docs/energy.md for the layers while they "
        "compute; 'energy, all cycles' adds the cycles outside the layers (waiting for the "
        "link). E_AC x SynOps: the literature convention, E_AC = 0.9 pJ per effective "
        "synaptic operation (45 nm, Horowitz), arithmetic only.",
        "LUTs and Fmax: place-and-route reports named in the JSON; they may come from an older "
        "build than the gateware simulated here ('build = engine' says whether the build's "
        "engine parameters equal the board's). inf/s per kLUT = (1e6 / compute latency in us) "
        "/ (LUTs / 1000).",
        "quoted accelerators ran trained networks on real MNIST (ODIN: 16x16, one layer); the "
        "rows compare orders of magnitude, not equal workloads. Spiker+ and Flexi-NeurA count "
        "'logic cells', used here as LUTs.",
    ]
    seen = set()
    for row in measured:
        build = row["build"]
        if build is None and row["board"] not in seen:
            out.append(f"{row['board']}: no build report found, so no LUTs or Fmax")
        elif build and build["fmax_mhz"] and build["fmax_mhz"] < row["clock_mhz"]:
            if row["board"] not in seen:
                out.append(
                    f"{row['board']}: the build's Fmax ({build['fmax_mhz']:.1f} MHz, "
                    f"{build['file']}, placed and routed for {build['build_clock_mhz']:g} MHz) "
                    f"is below the {row['clock_mhz']:g} MHz clock the latency is quoted at"
                )
        seen.add(row["board"])
    for row in quoted:
        out += [f"{row['system']}: {d}" for d in row["derived"]]
    return out


def markdown(result: dict) -> str:
    lines = [
        "<!-- written by bench/compare.py; run it again to refresh -->",
        markdown_table(HEADERS, result["table"]),
        "",
        markdown_table(DETAIL_HEADERS, result["details"]),
        "",
        "Targets:",
        "",
        markdown_table(TARGET_HEADERS, result["target_table"]),
        "",
        "Notes:",
        "",
        *[f"- {note}" for note in result["notes"]],
        "",
        "Sources:",
        "",
        *[f"{i}. {text}" for i, text in enumerate(REFERENCES.values(), 1)],
        "",
    ]
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20, help="samples per workload and board")
    parser.add_argument("--boards", default=",".join(BOARDS), help="comma-separated board names")
    parser.add_argument("--rates", default="0.1", help="input spike rates, comma-separated")
    parser.add_argument("--hidden", default="256,128", help="hidden widths of the 784-H-10 MLPs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--demo", default=str(DEMO_PROGRAM), help="the digits demo's Program")
    parser.add_argument("--no-demo", action="store_true", help="leave out the digits demo")
    parser.add_argument(
        "--build",
        action="append",
        default=[],
        metavar="BOARD=PATH",
        help="a build's report.json for BOARD's LUTs and Fmax (default: build/BOARD/report.json, "
        "else bench/results/fpga_builds.json)",
    )
    parser.add_argument("--out-dir", default=str(RESULTS))
    args = parser.parse_args()
    args.rates = _floats(args.rates)
    args.hidden = [int(h) for h in _floats(args.hidden)]
    boards = [b.strip() for b in args.boards.split(",") if b.strip()]
    for name in boards:
        if name not in BOARDS:
            parser.error(f"unknown board {name!r}: one of {', '.join(BOARDS)}")
    builds = dict(item.split("=", 1) for item in args.build)
    args.build = builds
    if args.samples < 1:
        parser.error("--samples must be at least 1")

    print(f"seed {args.seed}, {args.samples} samples per workload, boards {', '.join(boards)}")
    started = time.perf_counter()
    loads = workloads(args)
    measured = []
    for name in boards:
        measured += measure_board(name, loads, args, make_report)
    quoted = _quoted_rows()
    checks = targets(measured, boards)
    result = {
        "command": "python bench/compare.py " + " ".join(sys.argv[1:]),
        "seed": args.seed,
        "samples": args.samples,
        "rates": args.rates,
        "baud": BAUD,
        "boards": boards,
        "fpga_builds_file": _rel(FPGA_BUILDS),
        "measured": measured,
        "quoted": quoted,
        "targets": checks,
        "references": {key: text for key, text in REFERENCES.items()},
        "notes": notes(measured, quoted, args),
        "table": table_rows(measured, quoted),
        "details": detail_rows(measured),
        "target_table": target_rows(checks),
        "wall_s": None,
    }
    result["wall_s"] = time.perf_counter() - started

    print()
    print(format_table(HEADERS, result["table"], "This project beside published accelerators"))
    print()
    print(format_table(DETAIL_HEADERS, result["details"], "This project: details"))
    print()
    print(format_table(TARGET_HEADERS, result["target_table"], "Targets"))
    print()
    for note in result["notes"]:
        print(f"note: {note}")
    print()
    for i, text in enumerate(REFERENCES.values(), 1):
        print(f"[{i}] {text}")
    if not all(row["bit_exact_readout"] for row in measured):
        print("\nWARNING: a readout differs from the golden model (see bit-exact above)")

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=2, default=_json) + "\n")
    (out / "compare.md").write_text(markdown(result))
    print(f"\nwrote {_rel(out / 'compare.json')} and {_rel(out / 'compare.md')}")
    print(f"wall time {result['wall_s']:.1f} s")


def _json(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


if __name__ == "__main__":
    main()
