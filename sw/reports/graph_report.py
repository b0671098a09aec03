"""The report of a graph Program's run (format 2, on the golden model): accuracy, activity per
population, synaptic operations per projection, weight memory and the literature-convention
energy estimate (docs/energy.md), as JSON, Markdown, a table and plots.

A graph runs on the golden model, which counts no cycles: there is no latency or FPGA energy
to report until the engine runs graphs.
"""

from pathlib import Path

import numpy as np
from spikeloom.sw.compiler.describe import weight_bits_stored
from spikeloom.sw.compiler.graph import Graph
from spikeloom.sw.compiler.graph_metrics import connections, projection_label, synaptic_operations
from spikeloom.sw.errors import InputError
from spikeloom.sw.reports.energy import load_coefficients
from spikeloom.sw.reports.plots import sparsity_bars, spike_raster
from spikeloom.sw.reports.run_report import save_report_files
from spikeloom.sw.reports.table import format_table, markdown_table
from spikeloom.sw.result import Result

__all__ = ["make_graph_report", "format_graph_report", "write_graph_report"]


def make_graph_report(graph: Graph, result: Result, input_spikes=None, labels=None) -> dict:
    """Everything the report says, as plain JSON-able values."""
    samples = result.samples
    notes = []
    report = {"kind": "graph", "samples": samples, "timesteps": graph.timesteps}
    if labels is not None:
        report["accuracy"] = float((result.predictions == labels[:samples]).mean())
    populations = {}
    for population in graph.populations:
        if not population.spiking:
            continue
        spikes = result.spikes[population.name]
        per_sample = float(spikes.sum(dtype=np.int64)) / max(samples, 1)
        populations[population.name] = {
            "neurons": population.size,
            "spikes_per_sample": per_sample,
            "rate": per_sample / (population.size * graph.timesteps),
            # The fraction of (neuron, timestep) pairs without a spike: events an engine skips.
            "sparsity": 1 - np.count_nonzero(spikes) / max(spikes.size, 1),
        }
    report["populations"] = populations
    sources = dict(result.spikes)
    if input_spikes is not None:
        sources[graph.input_name] = input_spikes[:samples]
    else:
        notes.append("no --input: synaptic operations of projections from the input not counted")
    operations = synaptic_operations(graph, sources)
    report["projections"] = [
        {
            "projection": projection_label(projection),
            "kind": projection.kind,
            "connections": connections(graph, projection),
            "synops_per_sample": ops,
        }
        for projection, ops in zip(graph.projections, operations, strict=True)
    ]
    counted = [ops for ops in operations if ops is not None]
    total = float(sum(counted))
    e_ac = float(load_coefficients()["literature"]["add"]["value"])
    report["total"] = {
        "synops_per_sample": total,
        "complete": len(counted) == len(operations),
        "connections": sum(entry["connections"] for entry in report["projections"]),
        "weight_bits_stored": weight_bits_stored(graph),
        "energy_nj_literature": total * e_ac * 1e-3,
        "e_ac_pj": e_ac,
    }
    if not result.complete:
        notes.append(f"the run stopped early: {samples} of {result.requested} samples")
    report["notes"] = notes
    return report


def _sections(report: dict) -> list[tuple[str, list[str], list[list]]]:
    total = report["total"]
    summary = [
        ["samples", report["samples"]],
        ["accuracy", report.get("accuracy", "-")],
        ["synaptic operations / sample", f"{total['synops_per_sample']:,.0f}"],
        ["weight bits stored", f"{total['weight_bits_stored']:,}"],
        ["connections", f"{total['connections']:,}"],
        [
            f"energy / sample, E_AC {total['e_ac_pj']} pJ (literature convention)",
            f"{total['energy_nj_literature']:.2f} nJ",
        ],
    ]
    populations = [
        [
            name,
            p["neurons"],
            f"{p['spikes_per_sample']:,.1f}",
            f"{p['rate']:.4f}",
            f"{p['sparsity']:.4f}",
        ]
        for name, p in report["populations"].items()
    ]
    projections = [
        [
            entry["projection"],
            entry["kind"],
            f"{entry['connections']:,}",
            "-" if entry["synops_per_sample"] is None else f"{entry['synops_per_sample']:,.1f}",
        ]
        for entry in report["projections"]
    ]
    return [
        ("Run (golden model, graph Program)", ["quantity", "value"], summary),
        (
            "Populations",
            ["population", "neurons", "spikes / sample", "rate", "sparsity"],
            populations,
        ),
        (
            "Projections",
            ["projection", "kind", "connections", "synaptic ops / sample"],
            projections,
        ),
    ]


def format_graph_report(report: dict) -> str:
    parts = [format_table(headers, rows, title) for title, headers, rows in _sections(report)]
    parts += [f"note: {note}" for note in report["notes"]]
    return "\n\n".join(parts)


def _markdown(report: dict, files: dict[str, str]) -> str:
    lines = ["# spikeloom run report: graph Program on the golden model", ""]
    for title, headers, rows in _sections(report):
        lines += [f"## {title}", "", markdown_table(headers, rows), ""]
    if report["notes"]:
        lines += ["## Notes", ""] + [f"- {note}" for note in report["notes"]] + [""]
    captions = {"raster": "Spikes per population", "sparsity": "Activation sparsity"}
    lines += ["## Plots", ""] + [f"![{captions[k]}]({name})" for k, name in files.items()]
    return "\n".join(lines) + "\n"


def write_graph_report(
    report: dict, graph: Graph, result: Result, out: Path, *, input_spikes=None, sample: int = 0
) -> dict[str, Path]:
    """Write report.json, report.md, a spike raster per population (neurons flattened in C
    order) and the sparsity bars into `out`; returns their paths by name."""
    if not 0 <= sample < result.samples:
        raise InputError(f"--sample {sample} is outside 0..{result.samples - 1}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    flat = {name: spikes.reshape(*spikes.shape[:2], -1) for name, spikes in result.spikes.items()}
    inputs = None
    if input_spikes is not None:
        inputs = input_spikes.reshape(*input_spikes.shape[:2], -1)
    files = {
        "raster": spike_raster(flat, out / "raster.png", sample, inputs).name,
        "sparsity": sparsity_bars(
            {name: p["sparsity"] for name, p in report["populations"].items()},
            out / "sparsity.png",
        ).name,
    }
    report = {**report, "plots": files}
    return save_report_files(report, _markdown(report, files), files, out)
