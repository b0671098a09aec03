"""Readable summaries of Programs, compile results and evaluations."""

from spikeloom.sw.compiler.compile import LayerFold
from spikeloom.sw.compiler.fit import layer_widths
from spikeloom.sw.compiler.program import Program
from spikeloom.sw.reports.table import format_table

__all__ = ["describe_program", "describe_folds"]


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


def describe_folds(folds: list[LayerFold]) -> str:
    rows = [
        [f.name, f.flipped, f"{f.scale_min:.3g}..{f.scale_max:.3g}", "; ".join(f.notes) or "-"]
        for f in folds
    ]
    return format_table(["layer", "flipped", "|scale|", "notes"], rows, "Folding")
