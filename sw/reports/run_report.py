"""`spikeloom report`: a run's latency, energy and workload metrics, as JSON, Markdown and plots.

The input is a result file of a hardware run (`spikeloom run` on a board or the simulated board,
or `spikeloom sim` with a hardware backend) and its Program. What it holds decides what can be
reported:

- the engine's counters give each layer's compute cycles (the layers busy) and the sample
  cycles (from a sample's first input to its end, waiting for input included), so compute
  latency at a clock and the FPGA energy estimate (`sw.reports.energy`); the golden model has
  none, and the report says so;
- a board run also records the link's bytes and each sample's time by the link's clock, so
  link time and compute time are reported apart;
- the input spikes, when given, let the golden model fill in what a board did not send (hidden
  layers' spikes in readout-only mode) and trace membranes for the plots. The golden model is
  bit-exact with every backend, so nothing is approximated by doing so.

Every number says where it comes from: `measured` (counted by the engine, or timed by the link's
clock), `derived` (arithmetic on measured numbers at a stated clock) or `estimate` (a model with
sourced coefficients, docs/energy.md).
"""

import json
from pathlib import Path

import numpy as np
from spikeloom.hw.params import EngineParams
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.program import Program, check_spikes
from spikeloom.sw.errors import InputError
from spikeloom.sw.reports import energy, metrics, plots
from spikeloom.sw.reports.table import format_table, markdown_table, number
from spikeloom.sw.result import Result

__all__ = ["make_report", "write_report", "format_report", "save_report_files"]


def _clock(board_spec, result: Result, build: dict | None) -> dict:
    """The clock the latency is quoted at, where it comes from, and the build's Fmax."""
    fmax = timing_met = None
    if build is not None:
        if build.get("board") != board_spec.name:
            raise InputError(
                f"the build report is for board {build.get('board')!r}, not {board_spec.name!r}"
            )
        if build.get("params") not in (None, board_spec.params.as_dict()):
            raise InputError(
                f"the build report's engine {build['params']} is not {board_spec.name}'s engine "
                f"{board_spec.params.as_dict()}: rebuild it"
            )
        fmax, timing_met = build.get("fmax_mhz"), build.get("timing_met")
    if result.clock_hz:  # the clock the run itself had: the board said so
        mhz, source = result.clock_hz / 1e6, "the board's INFO reply during the run"
    elif build is not None:
        mhz, source = float(build["clock_mhz"]), "the board build's report.json"
    else:
        mhz, source = float(board_spec.clock_mhz), f"{board_spec.name}'s default build clock"
    return {"clock_mhz": mhz, "fmax_mhz": fmax, "timing_met": timing_met, "source": source}


def _latency(program: Program, result: Result, clock: dict) -> dict | None:
    """Compute time from the counters at `clock`, and the link's share when a board ran."""
    if "layer_cycles" not in result.counters:
        return None
    hz = clock["clock_mhz"] * 1e6
    layer_cycles = result.counters["layer_cycles"].astype(np.float64)
    compute = layer_cycles.sum(axis=1)
    latency = {
        "clock_mhz": clock["clock_mhz"],
        "clock_source": clock["source"],
        # Cycles the layers were busy: the engine's compute, whatever fed it.
        "compute_cycles": float(compute.mean()),
        "compute_cycles_max": float(compute.max()),
        "compute_us": float(compute.mean() / hz * 1e6),
        "kind": "derived: measured cycles at the stated clock",
        "layers": {
            layer.name: {
                "compute_cycles": float(layer_cycles[:, i].mean()),
                "compute_us": float(layer_cycles[:, i].mean() / hz * 1e6),
            }
            for i, layer in enumerate(program.layers)
        },
        # From the sample's first input to its end: includes waiting for later timesteps'
        # input (on a board, for the link).
        "sample_cycles": float(result.cycles.mean()),
        "inferences_per_s_compute": float(hz / compute.mean()) if compute.mean() else None,
        "link": None,
    }
    if clock.get("fmax_mhz"):
        latency["compute_us_at_fmax"] = float(compute.mean() / (clock["fmax_mhz"] * 1e6) * 1e6)
    if result.link_bytes is not None and result.baud and len(result.link_bytes):
        sent, received = result.link_bytes.astype(np.float64).mean(axis=0)
        # Requests and replies alternate, so the line carries both directions one after the
        # other: 10 bit times a byte (8N1).
        line_us = (sent + received) * 10 / result.baud * 1e6
        link = {
            "baud": int(result.baud),
            "bytes_sent": float(sent),
            "bytes_received": float(received),
            "line_us": float(line_us),
            "line_kind": "derived: measured bytes at the line rate",
        }
        if result.seconds is not None and len(result.seconds):
            sample_us = float(result.seconds.mean() * 1e6)
            link.update(
                {
                    "sample_us": sample_us,
                    "sample_kind": "measured by the link's clock (simulated time on the "
                    "simulated board, wall time on a real one)",
                    "inferences_per_s": 1e6 / sample_us,
                    "link_share": 1 - latency["compute_us"] / sample_us,
                }
            )
        latency["link"] = link
    return latency


def _complete_spikes(program: Program, result: Result, golden: Result | None) -> Result:
    """`result` with the spikes of layers it lacks (readout-only runs) from the golden model."""
    missing = [
        layer.name for layer in program.layers if layer.spiking and layer.name not in result.spikes
    ]
    if not missing or golden is None:
        return result
    spikes = dict(result.spikes)
    spikes.update({name: golden.spikes[name] for name in missing})
    return Result(**{**result.__dict__, "spikes": spikes})


def make_report(
    program: Program,
    result: Result,
    board_spec,
    *,
    build: dict | None = None,
    input_spikes: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> dict:
    """Everything `spikeloom report` writes into report.json (plots aside)."""
    if len(result.readout) == 0:
        raise InputError("the result holds no samples")
    if result.readout.shape[1] != program.outputs:
        raise InputError(
            f"the result has {result.readout.shape[1]} outputs, the Program {program.outputs}: "
            "they do not belong together"
        )
    golden = None
    if input_spikes is not None:
        input_spikes = check_spikes(program, input_spikes)
        if len(input_spikes) < len(result.readout):
            raise InputError(
                f"the input has {len(input_spikes)} samples, the result {len(result.readout)}"
            )
        input_spikes = input_spikes[: len(result.readout)]
        golden = run_golden(program, input_spikes)
    complete = _complete_spikes(program, result, golden)
    try:
        workload = metrics.workload_metrics(program, complete, input_spikes)
    except ValueError as error:
        raise InputError(str(error)) from None

    params: EngineParams = board_spec.params
    clock = _clock(board_spec, result, build)
    latency = _latency(program, result, clock)
    fpga = None
    if latency is not None:
        try:
            counts = energy.activity(program, result, params)
        except ValueError as error:
            raise InputError(
                f"{error}: the FPGA estimate is for {board_spec.name}'s engine, so run the "
                f"Program on it (`spikeloom run --board sim:{board_spec.name}` or the board)"
            ) from None
        coefficients = energy.board_coefficients(board_spec.name, params)
        fpga = energy.fpga_energy(counts, coefficients, clock["clock_mhz"] * 1e6)
        fpga["activity"] = counts
        compute = sum(layer["total"] for layer in fpga["layers"].values())
        fpga["compute_nj"] = compute
        fpga["compute_kind"] = "estimate: the layers' share, while the engine computes"

    report = {
        "board": board_spec.name,
        "device": board_spec.device,
        "samples": int(len(result.readout)),
        "timesteps": program.timesteps,
        "layers": [layer.header() for layer in program.layers],
        "engine": params.as_dict(),
        "clock": clock,
        "accuracy": None,
        "matches_golden": None,
        "latency": latency,
        "energy": {
            "fpga": fpga,
            "literature": energy.literature_energy(workload),
        },
        "metrics": workload,
        "notes": [],
    }
    if labels is not None:
        labels = np.asarray(labels)[: len(result.readout)]
        report["accuracy"] = float(np.mean(result.predictions == labels))
    if golden is not None:
        report["matches_golden"] = bool(
            np.array_equal(golden.readout, result.readout)
            and all(np.array_equal(golden.spikes[k], v) for k, v in result.spikes.items())
        )
    if latency is None:
        report["notes"].append(
            "the result has no engine counters (a golden-model run): no latency and no FPGA "
            "energy; run it on a board or the simulated board"
        )
    if latency is not None and latency["link"] is None:
        report["notes"].append("no link was in the loop: compute only")
    return report


# --- plots ------------------------------------------------------------------------------------


def _plots(
    report: dict,
    program: Program,
    result: Result,
    out: Path,
    input_spikes,
    sample: int,
    neurons,
) -> dict[str, str]:
    """The PNGs, by name; each is skipped only when its data are missing."""
    files = {}
    # With the input, the golden model replays the chosen sample with traces: every layer's
    # spikes (a readout-only run sent only the last) and the membranes. Without it, the raster
    # shows what the run recorded.
    golden = None
    if input_spikes is not None:
        traced = check_spikes(program, input_spikes)[sample : sample + 1]
        golden = run_golden(program, traced, trace=True)
        raster, raster_sample, host = golden.spikes, 0, traced
    else:
        raster, raster_sample, host = result.spikes, sample, None
    if raster:
        files["raster"] = plots.spike_raster(
            raster, out / "raster.png", sample=raster_sample, input_spikes=host
        ).name
    if golden is not None:
        chosen = neurons or plots.default_neurons(golden.membranes)
        files["membranes"] = plots.membrane_traces(
            golden.membranes,
            chosen,
            out / "membranes.png",
            thresholds={layer.name: layer.threshold for layer in program.layers if layer.spiking},
            spikes=golden.spikes,
        ).name
    latency = report["latency"]
    if latency is not None:
        compute = latency["compute_cycles"]
        files["compute_cycles"] = plots.layer_bars(
            {
                name: {"compute cycles": entry["compute_cycles"]}
                for name, entry in latency["layers"].items()
            },
            out / "compute_cycles.png",
            title=f"Compute cycles per layer ({report['board']} engine)",
            unit="compute cycles per sample",
            number_unit="cycles",
            caption=f"All layers: {number(compute, 'cycles')} compute cycles per sample, of "
            f"{number(latency['sample_cycles'], 'cycles')} sample cycles (from the sample's "
            "first input to its end, waiting for input included).",
        ).name
    fpga = report["energy"]["fpga"]
    if fpga is not None:
        clock = number(report["clock"]["clock_mhz"], "MHz", suffix=True)
        files["energy"] = plots.energy_bars(
            fpga,
            out / "energy.png",
            title=f"Energy per sample, estimate ({report['board']} at {clock})",
        ).name
    sparsity = {}
    workload = report["metrics"]
    if workload["input"] is not None:
        sparsity["input"] = workload["input"]["activation_sparsity"]
    for name, entry in workload["layers"].items():
        if entry["activation_sparsity"] is not None:
            sparsity[name] = entry["activation_sparsity"]
    if sparsity:
        files["sparsity"] = plots.sparsity_bars(sparsity, out / "sparsity.png").name
    return files


# --- text -------------------------------------------------------------------------------------


def _sections(report: dict) -> list[tuple[str, list[str], list[list]]]:
    """(title, headers, rows) of every table, shared by the Markdown and the terminal text."""
    sections = []
    clock = report["clock"]
    summary = [
        ["board", f"{report['board']} ({report['device']})"],
        ["samples", number(report["samples"], "count")],
        ["timesteps", number(report["timesteps"], "count")],
        ["clock", f"{number(clock['clock_mhz'], 'MHz', suffix=True)} ({clock['source']})"],
    ]
    if clock["fmax_mhz"]:
        summary.append(["Fmax (place and route)", number(clock["fmax_mhz"], "MHz", suffix=True)])
    if report["accuracy"] is not None:
        summary.append(["accuracy", number(report["accuracy"], "accuracy")])
    if report["matches_golden"] is not None:
        summary.append(["bit-exact with the golden model", report["matches_golden"]])
    latency, fpga = report["latency"], report["energy"]["fpga"]
    if latency is not None:
        summary += [
            ["compute latency (derived)", number(latency["compute_us"], "us", suffix=True)],
            ["compute cycles (measured)", number(latency["compute_cycles"], "cycles")],
            ["sample cycles (measured)", number(latency["sample_cycles"], "cycles")],
        ]
        link = latency["link"]
        if link is not None and "sample_us" in link:
            summary += [
                [
                    "time per sample, link included (measured)",
                    number(link["sample_us"], "us", suffix=True),
                ],
                ["inferences/s over the link", number(link["inferences_per_s"], "count")],
            ]
    if fpga is not None:
        summary += [
            [
                "energy per sample, compute cycles (estimate)",
                number(fpga["compute_nj"], "nJ", suffix=True),
            ],
            [
                "energy per sample, sample cycles (estimate)",
                number(fpga["total"]["total"], "nJ", suffix=True),
            ],
        ]
    literature = report["energy"]["literature"]["total"]
    if literature["snn_effective"] is not None:
        summary.append(
            [
                "E_AC x effective SynOps (literature)",
                number(literature["snn_effective"], "nJ", suffix=True),
            ]
        )
    summary.append(
        ["E_MAC x MACs, equivalent ANN (literature)", number(literature["ann"], "nJ", suffix=True)]
    )
    sections.append(("Summary", ["quantity", "value"], summary))

    if latency is not None:
        rows = [
            [name, number(entry["compute_cycles"], "cycles"), number(entry["compute_us"], "us")]
            for name, entry in latency["layers"].items()
        ]
        rows.append(
            [
                "all layers",
                number(latency["compute_cycles"], "cycles"),
                number(latency["compute_us"], "us"),
            ]
        )
        mhz = number(latency["clock_mhz"], "MHz", suffix=True)
        sections.append(
            (
                f"Compute per layer (compute cycles measured, us at {mhz})",
                ["layer", "compute cycles", "compute us"],
                rows,
            )
        )
        link = latency["link"]
        if link is not None:
            rows = [
                ["bytes sent per sample (measured)", number(link["bytes_sent"], "count")],
                ["bytes received per sample (measured)", number(link["bytes_received"], "count")],
                [
                    f"line time at {number(link['baud'], 'count')} baud (derived)",
                    number(link["line_us"], "us", suffix=True),
                ],
                ["compute time (derived)", number(latency["compute_us"], "us", suffix=True)],
            ]
            if "sample_us" in link:
                rows += [
                    ["time per sample (measured)", number(link["sample_us"], "us", suffix=True)],
                    ["share of the time on the link", number(link["link_share"], "%")],
                ]
            sections.append(("Link and compute", ["quantity", "value"], rows))
    if fpga is not None:
        title, headers, rows = energy.energy_table(fpga)
        sections.append((f"{title}; docs/energy.md gives every coefficient", headers, rows))
    sections.append(energy.energy_table(report["energy"]["literature"]))
    title, headers, rows = metrics.metrics_table(report["metrics"])
    sections.append((f"{title}, NeuroBench conventions", headers, rows))
    return sections


def format_report(report: dict) -> str:
    """The report's tables for a terminal."""
    parts = [format_table(headers, rows, title) for title, headers, rows in _sections(report)]
    parts += [f"note: {note}" for note in report["notes"]]
    return "\n\n".join(parts)


def _markdown(report: dict, files: dict[str, str]) -> str:
    lines = [f"# spikeloom run report: {report['board']}", ""]
    for title, headers, rows in _sections(report):
        lines += [f"## {title}", "", markdown_table(headers, rows), ""]
    if report["notes"]:
        lines += ["## Notes", ""] + [f"- {note}" for note in report["notes"]] + [""]
    captions = {
        "raster": "Spikes per layer",
        "membranes": "Membrane traces (golden model)",
        "compute_cycles": "Compute cycles per layer",
        "energy": "Energy per sample, per layer and outside the layers (estimate)",
        "sparsity": "Activation sparsity",
    }
    if files:
        lines += ["## Plots", ""]
        lines += [f"![{captions[key]}]({name})" for key, name in files.items()]
        lines.append("")
    lines += [
        "Measured: counted by the engine or timed by the link's clock. Derived: arithmetic on "
        "measured numbers at the stated clock. Estimate: the energy model of docs/energy.md.",
        "",
    ]
    return "\n".join(lines)


def write_report(
    report: dict,
    program: Program,
    result: Result,
    out: Path,
    *,
    input_spikes=None,
    sample: int = 0,
    neurons: dict[str, list[int]] | None = None,
) -> dict[str, Path]:
    """Write report.json, report.md and the plots into `out`; returns their paths by name."""
    if not 0 <= sample < len(result.readout):
        raise InputError(f"--sample {sample} is outside 0..{len(result.readout) - 1}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        files = _plots(report, program, result, out, input_spikes, sample, neurons)
    except ValueError as error:
        raise InputError(str(error)) from None
    report = {**report, "plots": files}
    return save_report_files(report, _markdown(report, files), files, out)


def save_report_files(report: dict, markdown: str, plots: dict[str, str], out: Path):
    """Write report.json and report.md beside the plots already in `out`; returns the paths
    of all of them by name."""
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown)
    paths = {"json": out / "report.json", "markdown": out / "report.md"}
    paths.update({key: out / name for key, name in plots.items()})
    return paths
