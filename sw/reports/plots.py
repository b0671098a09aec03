"""PNG figures for run reports: spike rasters, membrane traces, per-layer bars, sparsity.

Each function draws one figure on its own `matplotlib.figure.Figure` rendered by the Agg canvas
(no pyplot, so no global state is changed and no display is needed), writes it to `path`,
releases it and returns the Path. Bad input raises `ValueError` naming the problem.

The arrays are those of `sw.result.Result`: `spikes` maps a layer name to uint8
`[samples, T, neurons]` spike counts (a LIFB burst is a count above 1), `membranes` (the golden
model with `trace=True`) to int64 `[samples, T, neurons]` membranes after each timestep.
"""

import math
import textwrap
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import BoundaryNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from spikeloom.sw.reports.energy import COMPONENTS, OUTSIDE_LAYERS
from spikeloom.sw.reports.table import number

__all__ = [
    "spike_raster",
    "membrane_traces",
    "layer_bars",
    "energy_bars",
    "energy_bar_values",
    "sparsity_bars",
    "default_neurons",
]

DPI = 150
WIDTH_IN = 7.0
#: Share of a timestep's column that one spike's tick spans: wide enough to read, with a gap
#: so neighbouring timesteps stay apart.
TICK_WIDTH = 0.8


def _save(figure: Figure, path) -> Path:
    path = Path(path)
    FigureCanvasAgg(figure)
    try:
        figure.savefig(path, format="png", dpi=DPI)
    finally:
        # Drop the artists now rather than when the garbage collector reaches the figure.
        figure.clear()
    return path


def _check_layers(kind: str, layers: dict) -> None:
    if not layers:
        raise ValueError(f"no {kind} to plot: the dict is empty")


def _trace_array(kind: str, name: str, array, sample: int, integer: bool) -> np.ndarray:
    """`array` as `[samples, T, neurons]`, checked to hold data and the sample asked for."""
    array = np.asarray(array)
    where = f"{kind} of layer {name!r}"
    if array.ndim != 3:
        raise ValueError(f"{where}: expected [samples, T, neurons], got shape {array.shape}")
    if integer and array.dtype.kind not in "biu":
        raise ValueError(f"{where}: expected integer counts, got dtype {array.dtype}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{where}: expected numbers, got dtype {array.dtype}")
    if array.shape[1] == 0 or array.shape[2] == 0:
        raise ValueError(f"{where} is empty: shape {array.shape}")
    if not 0 <= sample < array.shape[0]:
        raise ValueError(
            f"sample {sample} is out of range for {where}, which holds {array.shape[0]} samples"
        )
    return array


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _integer_ticks(axis) -> None:
    axis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


# --- spike raster ------------------------------------------------------------------------------


def spike_raster(
    spikes: dict[str, np.ndarray], path, sample: int = 0, input_spikes: np.ndarray | None = None
) -> Path:
    """One panel per layer, stacked (the input spikes first when given): x is the timestep,
    y the neuron, a short horizontal tick per spike; its colour gives the burst count, with a
    colour bar, when any count in the sample exceeds 1. A layer without spikes says so."""
    _check_layers("spike layers", spikes)
    panels = {}
    if input_spikes is not None:
        panels["input"] = _trace_array("spikes", "input", input_spikes, sample, integer=True)
    for name, array in spikes.items():
        panels[name] = _trace_array("spikes", name, array, sample, integer=True)
    counts = {name: array[sample].astype(np.int64) for name, array in panels.items()}
    steps = {name: c.shape[0] for name, c in counts.items()}
    if len(set(steps.values())) != 1:
        listed = ", ".join(f"{name}: {t}" for name, t in steps.items())
        raise ValueError(f"layers have different numbers of timesteps ({listed})")
    for name, c in counts.items():
        if c.min() < 0:
            raise ValueError(f"spikes of layer {name!r} hold a negative count {c.min()}")
    timesteps = next(iter(steps.values()))
    most = max(int(c.max()) for c in counts.values())
    # A discrete scale with one colour per count, so each burst size reads off the colour bar.
    norm = BoundaryNorm(np.arange(0.5, most + 1.5), most) if most > 1 else None
    cmap = colormaps["viridis"].resampled(most) if most > 1 else None

    # Taller panels for wider layers, so hundreds of neurons keep some room each.
    heights = [min(3.2, max(1.4, 1.2 + c.shape[1] / 300)) for c in counts.values()]
    figure = Figure(figsize=(WIDTH_IN, 0.7 + sum(heights)), layout="constrained")
    axes = figure.subplots(
        len(panels), 1, squeeze=False, sharex=True, gridspec_kw={"height_ratios": heights}
    )[:, 0]
    for ax, panel_in, (name, c) in zip(axes, heights, counts.items(), strict=True):
        neurons = c.shape[1]
        t, neuron = np.nonzero(c)
        ax.set_title(
            f"{name}: {int(c.sum())} spikes from {neurons} neurons over {timesteps} timesteps",
            fontsize=9,
        )
        if len(t) == 0:
            ax.text(
                0.5, 0.5, "no spikes", ha="center", va="center", transform=ax.transAxes, color="0.4"
            )
        else:
            segments = np.stack(
                [
                    np.column_stack([t - TICK_WIDTH / 2, neuron]),
                    np.column_stack([t + TICK_WIDTH / 2, neuron]),
                ],
                axis=1,
            )
            # Thick ticks for few neurons, hairlines for hundreds, where neighbours merge into
            # bands that show how dense the firing is.
            points_per_neuron = panel_in * 72 / neurons
            ticks = LineCollection(segments, linewidths=min(4.0, max(0.6, 0.7 * points_per_neuron)))
            if norm is None:
                ticks.set_color("black")
            else:
                ticks.set_array(c[t, neuron])
                ticks.set_cmap(cmap)
                ticks.set_norm(norm)
            ax.add_collection(ticks)
        ax.set_xlim(-0.5, timesteps - 0.5)
        ax.set_ylim(-0.5, neurons - 0.5)
        _integer_ticks(ax.xaxis)
        _integer_ticks(ax.yaxis)
        ax.set_ylabel("neuron index")
    axes[-1].set_xlabel("timestep")
    if norm is not None:
        bar = figure.colorbar(
            ScalarMappable(norm=norm, cmap=cmap),
            ax=list(axes),
            label="spikes in one timestep (burst count)",
        )
        bar.set_ticks(range(1, most + 1))
    figure.suptitle(f"Spike raster, sample {sample}", fontsize=10)
    return _save(figure, path)


# --- membrane traces ---------------------------------------------------------------------------


def membrane_traces(
    membranes: dict[str, np.ndarray],
    neurons: dict[str, list[int]],
    path,
    sample: int = 0,
    thresholds: dict[str, np.ndarray] | None = None,
    spikes: dict[str, np.ndarray] | None = None,
) -> Path:
    """One panel per layer in `neurons`: a step line per chosen neuron of its membrane after
    each timestep's update, its threshold dashed in the same colour (when `thresholds` has the
    layer) and a triangle on each timestep where it spiked (when `spikes` has the layer), with
    the burst count beside it when above 1."""
    _check_layers("neurons", neurons)
    _check_layers("membranes", membranes)
    traces, limits, fired = {}, {}, {}
    for name, chosen in neurons.items():
        if name not in membranes:
            raise ValueError(
                f"layer {name!r} has no membrane trace; traced layers: {', '.join(membranes)}"
            )
        array = _trace_array("membranes", name, membranes[name], sample, integer=False)
        size = array.shape[2]
        chosen = list(chosen)
        if not chosen:
            raise ValueError(f"no neurons chosen for layer {name!r}")
        for index in chosen:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise ValueError(f"neuron {index!r} of layer {name!r} is not an integer index")
            if not 0 <= index < size:
                raise ValueError(
                    f"neuron index {index} is out of range for layer {name!r} of size {size}"
                )
        traces[name] = (array[sample], [int(i) for i in chosen])
        if thresholds is not None and name in thresholds:
            theta = np.asarray(thresholds[name])
            if theta.shape != (size,):
                raise ValueError(
                    f"thresholds of layer {name!r} have shape {theta.shape}, expected ({size},)"
                )
            limits[name] = theta
        if spikes is not None and name in spikes:
            counts = _trace_array("spikes", name, spikes[name], sample, integer=True)
            if counts.shape[1:] != array.shape[1:]:
                raise ValueError(
                    f"spikes of layer {name!r} have shape {counts.shape[1:]} per sample, its "
                    f"membranes {array.shape[1:]}"
                )
            fired[name] = counts[sample]

    figure = Figure(figsize=(WIDTH_IN, 0.7 + 2.4 * len(traces)), layout="constrained")
    axes = figure.subplots(len(traces), 1, squeeze=False)[:, 0]
    for ax, (name, (trace, chosen)) in zip(axes, traces.items(), strict=True):
        timesteps = trace.shape[0]
        edges = np.arange(timesteps + 1) - 0.5
        steps = np.arange(timesteps)
        for k, index in enumerate(chosen):
            colour = f"C{k % 10}"
            # A stair per timestep: the membrane holds its value from one update to the next.
            ax.stairs(trace[:, index], edges, baseline=None, color=colour, label=f"neuron {index}")
            if name in limits:
                ax.axhline(float(limits[name][index]), color=colour, linestyle="--", lw=0.9)
            if name in fired:
                when = np.nonzero(fired[name][:, index])[0]
                ax.plot(when, trace[when, index], "^", color=colour, markersize=7)
                for t in when:
                    if fired[name][t, index] > 1:
                        ax.annotate(
                            f"×{int(fired[name][t, index])}",
                            (t, trace[t, index]),
                            xytext=(5, 3),
                            textcoords="offset points",
                            fontsize=7,
                            color=colour,
                        )
        notes = [
            note
            for note, shown in (
                ("dashed: threshold", name in limits),
                ("triangles: spikes", name in fired),
            )
            if shown
        ]
        ax.set_title(f"{name}" + (f" ({'; '.join(notes)})" if notes else ""), fontsize=9)
        ax.set_xlim(edges[0], edges[-1])
        if timesteps <= 16:
            ax.set_xticks(steps)
        else:
            _integer_ticks(ax.xaxis)
        if trace.dtype.kind in "biu":
            _integer_ticks(ax.yaxis)
        ax.set_ylabel("membrane v (integer units)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    axes[-1].set_xlabel("timestep")
    figure.suptitle(f"Membrane after each timestep's update, sample {sample}", fontsize=10)
    return _save(figure, path)


def default_neurons(
    membranes: dict[str, np.ndarray], count: int = 4, sample: int = 0
) -> dict[str, list[int]]:
    """Per layer, the `count` neurons (fewer if the layer is smaller) whose membrane spans the
    widest range (max - min) over the sample's timesteps, lowest index first on ties; each
    layer's list is in ascending index order. These are the traces worth looking at."""
    _check_layers("membranes", membranes)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    chosen = {}
    for name, array in membranes.items():
        trace = _trace_array("membranes", name, array, sample, integer=False)[sample]
        spread = trace.max(axis=0) - trace.min(axis=0)
        # lexsort's last key is the primary one: widest spread first, then lowest index.
        order = np.lexsort((np.arange(spread.shape[0]), -spread))
        chosen[name] = sorted(int(i) for i in order[:count])
    return chosen


# --- bars --------------------------------------------------------------------------------------


def _format_value(value: float, unit: str | None) -> str:
    if unit is not None:
        return number(value, unit)
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def layer_bars(
    values: dict[str, dict[str, float]],
    path,
    title: str,
    unit: str,
    *,
    number_unit: str | None = None,
    xlabel: str = "layer",
    caption: str | None = None,
) -> Path:
    """Per-layer stacked bars of `values` (layer -> {component: value}), e.g. energy split
    into its parts or cycles (one component). Components stack in the order they first appear,
    with the same colour in every layer; the total stands above each bar, written as
    `sw.reports.table.number` writes `number_unit` (or plainly without one). `caption` goes
    under the axis."""
    _check_layers("layers", values)
    components: list[str] = []
    for layer, parts in values.items():
        for component, value in parts.items():
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"{component!r} of layer {layer!r} is {value}; stacked bars need finite "
                    "values >= 0"
                )
            if component not in components:
                components.append(component)
    if not components:
        raise ValueError("no components to plot: every layer's dict is empty")
    layers = list(values)
    table = np.array([[float(values[layer].get(c, 0.0)) for layer in layers] for c in components])
    totals = table.sum(axis=0)

    figure = Figure(figsize=(max(4.5, 2.6 + 1.0 * len(layers)), 4.0), layout="constrained")
    ax = figure.subplots()
    x = np.arange(len(layers))
    bottom = np.zeros(len(layers))
    handles = []
    for k, (component, heights) in enumerate(zip(components, table, strict=True)):
        handles.append(
            ax.bar(x, heights, bottom=bottom, width=0.6, label=component, color=f"C{k % 10}")
        )
        bottom += heights
    for position, total in zip(x, totals, strict=True):
        ax.annotate(
            _format_value(total, number_unit),
            (position, total),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(x, layers)
    ax.set_xlabel(xlabel)
    # Headroom for the totals written above the tallest bar.
    tallest = float(totals.max())
    ax.set_ylim(0, tallest * 1.15 if tallest > 0 else 1.0)
    if np.all(np.mod(table, 1) == 0):
        _integer_ticks(ax.yaxis)
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=10)
    if len(components) > 1:
        # Reversed, so the legend reads top to bottom like the stack.
        ax.legend(
            handles[::-1],
            components[::-1],
            fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0,
        )
    if caption:
        # About 16 characters of 7-point text to an inch, so the caption fits the figure.
        columns = int(figure.get_size_inches()[0] * 16)
        figure.supxlabel(textwrap.fill(caption, columns), fontsize=7, color="0.3")
    return _save(figure, path)


def energy_bar_values(energy: dict) -> dict[str, dict[str, float]]:
    """The bars of `energy_bars`: each layer's components and, last, the part outside the
    layers (`OUTSIDE_LAYERS`), which together add up to the estimate's total."""
    values = {
        name: {key: part[key] for key in COMPONENTS} for name, part in energy["layers"].items()
    }
    values[OUTSIDE_LAYERS] = {key: energy["other"][key] for key in COMPONENTS}
    plotted = sum(sum(parts.values()) for parts in values.values())
    total = energy["total"]["total"]
    if not math.isclose(plotted, total, rel_tol=1e-9, abs_tol=1e-9):
        raise ValueError(f"the parts add up to {plotted} nJ, not to the total {total} nJ")
    return values


def energy_bars(energy: dict, path, title: str) -> Path:
    """Stacked bars of an FPGA energy estimate (`sw.reports.energy.fpga_energy`): one per
    layer, split into its components, and one for the part outside the layers, so the bars
    add up to the estimate's total, which the caption states."""
    values = energy_bar_values(energy)
    inside = sum(energy["layers"][name]["total"] for name in energy["layers"])
    caption = (
        f"All bars: {number(energy['total']['total'], 'nJ', suffix=True)} per sample, the "
        f"estimate's total; the layers {number(inside, 'nJ', suffix=True)}. "
        f"{OUTSIDE_LAYERS.capitalize()}: the sample cycles outside the layers' compute cycles "
        "(waiting for input, on a board for the link; timestep and sample ends; the readout)."
    )
    return layer_bars(
        values,
        path,
        title,
        "nJ per sample",
        number_unit="nJ",
        xlabel="part of the sample",
        caption=caption,
    )


def sparsity_bars(sparsity: dict[str, float], path, title: str = "Activation sparsity") -> Path:
    """One bar per layer (the input too when present): the fraction of (neuron, timestep)
    slots without a spike, on a 0..1 axis, its value written on the bar."""
    _check_layers("layers", sparsity)
    for name, value in sparsity.items():
        if not _is_number(value) or not 0 <= value <= 1:  # also rejects NaN
            raise ValueError(f"sparsity of {name!r} is {value}, outside 0..1")
    names, fractions = list(sparsity), [float(v) for v in sparsity.values()]
    figure = Figure(figsize=(max(4.0, 2.2 + 0.9 * len(names)), 3.6), layout="constrained")
    ax = figure.subplots()
    colours = ["0.55" if name == "input" else "C0" for name in names]
    ax.bar(np.arange(len(names)), fractions, width=0.6, color=colours)
    for position, fraction in enumerate(fractions):
        # Near the top the label goes inside the bar, so the axis can stop at exactly 1.
        inside = fraction > 0.88
        ax.annotate(
            f"{fraction:.3f}",
            (position, fraction),
            xytext=(0, -3 if inside else 3),
            textcoords="offset points",
            ha="center",
            va="top" if inside else "bottom",
            fontsize=8,
            color="white" if inside else "black",
        )
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_xlabel("layer")
    ax.set_ylim(0, 1)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("fraction of slots\nwithout a spike")
    ax.set_title(title, fontsize=10)
    return _save(figure, path)
