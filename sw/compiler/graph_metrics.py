"""Connections and synaptic operations of a graph Program (docs/semantics.md, section 8).

A *connection* is one (source neuron, target neuron, nonzero weight) term of a projection's
sum; a *synaptic operation* is one addition of a weight into a target's current, done once per
spike: a count `n` (a burst) adds its weight `n` times, as an accumulate-only engine does, and a
zero weight (possible in a multi-bit tensor) adds nothing, as in the chain metrics
(`sw/reports/metrics.py`). So a source neuron's *fan-out*, the targets it reaches through
nonzero weights, times its spike count is the work it causes.
Weights shared by several projections count once per projection here: sharing saves memory,
not additions.
"""

import numpy as np
import torch
import torch.nn.functional as F
from spikeloom.sw.compiler.graph import Graph, Projection

__all__ = ["fan_out", "connections", "synaptic_operations", "projection_label"]


def projection_label(projection: Projection) -> str:
    return f"{projection.source} -> {projection.target}"


def fan_out(graph: Graph, projection: Projection) -> np.ndarray:
    """int64 array of the source's shape: how many targets each source neuron adds into. A
    projection into a channel range reaches that range only; its weight (or, for an identity,
    the source's shape) already has the range's size, so nothing here depends on where."""
    source = graph.shape_of(projection.source)
    if projection.kind == "identity":
        return np.ones(source, dtype=np.int64)
    nonzero = graph.weights[projection.weight].values != 0
    if projection.kind == "dense":
        return np.count_nonzero(nonzero, axis=1).astype(np.int64).reshape(source)
    if projection.kind == "axis":
        # Along its axis, source index i reaches the targets of row i's nonzero weights; the
        # target's other axes either match the source's or are 1 (summed into), so nothing
        # multiplies that.
        per_index = np.count_nonzero(nonzero, axis=1).astype(np.int64)
        shape = [1] * len(source)
        shape[projection.axis] = len(per_index)
        return np.broadcast_to(per_index.reshape(shape), source).copy()
    return _conv_fan_out(source, nonzero, projection)


def _conv_fan_out(source, nonzero: np.ndarray, projection: Projection) -> np.ndarray:
    """The gradient of the summed output of the convolution with weights 1 where nonzero,
    with respect to its input: for each input position, the (output, tap) pairs that read it
    through a nonzero weight, padding and strides included."""
    counts = torch.ones((1, *source), dtype=torch.float64, requires_grad=True)
    F.conv2d(
        counts,
        torch.from_numpy(nonzero.astype(np.float64)),
        stride=tuple(projection.stride),
        padding=tuple(projection.padding),
        groups=projection.groups,
    ).sum().backward()
    return counts.grad[0].round().to(torch.int64).numpy()


def connections(graph: Graph, projection: Projection) -> int:
    """Connections of one projection: the additions if every source neuron spiked once."""
    return int(fan_out(graph, projection).sum())


def synaptic_operations(graph: Graph, spikes: dict[str, np.ndarray]) -> list[float | None]:
    """Mean synaptic operations per sample of each projection, in the graph's order, from the
    spike counts `[samples, T, *shape]` of its source (`spikes` holds the input's under the
    graph's input name, and the populations'); None where the source's spikes are missing."""
    operations = []
    for projection in graph.projections:
        counts = spikes.get(projection.source)
        if counts is None:
            operations.append(None)
            continue
        per_neuron = counts.sum(axis=1, dtype=np.int64)  # [samples, *shape]
        total = (per_neuron * fan_out(graph, projection)).sum(dtype=np.int64)
        operations.append(float(total) / max(len(counts), 1))
    return operations
