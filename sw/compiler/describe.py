"""Readable summaries of Programs, compile results and evaluations."""

from spikeloom.sw.compiler.compile import LayerFold
from spikeloom.sw.compiler.fit import layer_widths
from spikeloom.sw.compiler.graph import Graph
from spikeloom.sw.compiler.graph_metrics import connections
from spikeloom.sw.compiler.program import Program
from spikeloom.sw.reports.table import format_table

__all__ = ["describe_program", "describe_graph", "weight_bits_stored", "describe_folds"]


def describe_program(program: Program) -> str:
    rows = []
    for layer, widths in zip(program.layers, layer_widths(program), strict=True):
        rows.append(
            [
                layer.name,
                f"{layer.inputs}x{layer.outputs}",
                layer.weight_bits,
                layer.neuron,
                layer.burst_max,
                "none" if layer.leak_shift is None else layer.leak_shift,
                layer.reset,
                layer.v_bits,
                f"{layer.threshold.min()}..{layer.threshold.max()}",
                f"{layer.bias.min()}..{layer.bias.max()}",
                widths.current_bits,
                widths.sum_bits,
            ]
        )
    encoder = (program.encoder or {}).get("kind", "none")
    title = (
        f"Program: T={program.timesteps}, {program.inputs} inputs, "
        f"{len(program.layers)} layers, encoder {encoder}"
    )
    headers = [
        "layer",
        "shape",
        "w_bits",
        "neuron",
        "M",
        "leak",
        "reset",
        "v_bits",
        "theta",
        "bias",
        "z_bits",
        "sum_bits",
    ]  # z_bits, sum_bits: widths that hold one step's current and the unsaturated sum
    return format_table(headers, rows, title)


def _shape(shape) -> str:
    return "x".join(str(size) for size in shape)


def weight_bits_stored(graph: Graph) -> int:
    """Distinct weight bits: each weight tensor counted once, however many projections use it."""
    return sum(weight.values.size * weight.bits for weight in graph.weights.values())


def describe_graph(graph: Graph) -> str:
    """The populations and the projections of a format-2 Program, as two tables."""
    populations = [
        [
            population.name,
            _shape(population.shape),
            population.neuron,
            population.burst_max,
            "none" if population.leak_shift is None else population.leak_shift,
            population.reset,
            population.v_bits,
            f"{population.threshold.min()}..{population.threshold.max()}",
            _shape(population.threshold.shape),
            f"{population.bias.min()}..{population.bias.max()}",
            "-"
            if population.scan is None
            else f"axis {population.scan.axis}, group {population.scan.group}, "
            f"carry >> {population.scan.carry_shift}",
        ]
        for population in graph.populations
    ]
    projections = []
    total_connections = 0
    for projection in graph.projections:
        weight = graph.weights.get(projection.weight)
        links = connections(graph, projection)
        total_connections += links
        details = {
            "axis": [f"axis {projection.axis}"],
            "conv": [
                f"stride {list(projection.stride)}, padding {list(projection.padding)}, "
                f"groups {projection.groups}"
            ],
        }.get(projection.kind, [])
        start, stop = graph.channel_range(projection)
        if stop - start < graph.shape_of(projection.target)[0]:
            details.append(f"channels [{start}, {stop}]")
        detail = ", ".join(details)
        projections.append(
            [
                f"{projection.source} -> {projection.target}",
                projection.kind,
                projection.weight or "-",
                _shape(weight.values.shape) if weight else "-",
                weight.bits if weight else "-",
                projection.gain_shift,
                links,
                detail or "-",
            ]
        )
    encoder = (graph.encoder or {}).get("kind", "none")
    title = (
        f"Program (graph): T={graph.timesteps}, input {graph.input_name} "
        f"{_shape(graph.input_shape)}, {len(graph.populations)} populations, "
        f"{len(graph.projections)} projections, encoder {encoder}"
    )
    headers = ["population", "shape", "neuron", "M", "leak", "reset", "v_bits", "theta"]
    headers += ["theta shape", "bias", "scan"]
    stored = weight_bits_stored(graph)
    return "\n\n".join(
        [
            format_table(headers, populations, title),
            format_table(
                [
                    "projection",
                    "kind",
                    "weight",
                    "weight shape",
                    "bits",
                    "gain_shift",
                    "connections",
                    "options",
                ],
                projections,
                f"Projections, in the order they add; {len(graph.weights)} weight tensors, "
                f"{stored:,} weight bits stored once; {total_connections:,} connections (the "
                "synaptic operations of one timestep in which every neuron spikes once)",
            ),
        ]
    )


def describe_folds(folds: list) -> str:
    """The compile notes of a chain (`LayerFold`s) or of a graph (`PopulationFold`s)."""
    if folds and not isinstance(folds[0], LayerFold):
        return _describe_population_folds(folds)
    rows = [
        [f.name, f.flipped, f"{f.scale_min:.3g}..{f.scale_max:.3g}", "; ".join(f.notes) or "-"]
        for f in folds
    ]
    return format_table(["layer", "flipped", "|scale|", "notes"], rows, "Folding")


def _describe_population_folds(folds: list) -> str:
    rows = [
        [f.name, f"{f.scale_min:.3g}..{f.scale_max:.3g}", "; ".join(f.notes) or "-"] for f in folds
    ]
    return format_table(["population", "|scale|", "notes"], rows, "Folding")
