"""Connections and synaptic operations of graph Programs, against plain loops over the sums of
docs/semantics.md section 8.2."""

from dataclasses import replace

import numpy as np
import pytest
from spikeloom.sw.compiler.graph import Graph, Population, Projection, Weight
from spikeloom.sw.compiler.graph_metrics import connections, fan_out, synaptic_operations

SEED = 5


def _population(name, shape, neuron="lif"):
    ones = np.ones((1,) * len(shape), np.int32)
    return Population(name, shape, neuron, ones, 0 * ones, leak_shift=1)


def _conv_graph(stride, padding, groups) -> Graph:
    rng = np.random.default_rng(SEED)
    c_in, c_out = 4, 8
    values = rng.integers(-1, 2, (c_out, c_in // groups, 3, 2)).astype(np.int8)  # zeros too
    weight = Weight("k", 2, values)
    source = (c_in, 5, 7)
    h = (5 + 2 * padding[0] - 3) // stride[0] + 1
    w = (7 + 2 * padding[1] - 2) // stride[1] + 1
    target = _population("y", (c_out, h, w))
    projection = Projection(
        "x", "y", "conv", weight="k", stride=stride, padding=padding, groups=groups
    )
    return Graph(2, "x", source, [target], {"k": weight}, [projection]).validate()


def _conv_fan_out_by_loop(graph: Graph) -> np.ndarray:
    """Count, for every output position, channel and nonzero tap, the input neuron it reads."""
    projection = graph.projections[0]
    c_in, height, width = graph.input_shape
    c_out, out_h, out_w = graph.populations[0].shape
    weight = graph.weights["k"].values
    c_group, kh, kw = weight.shape[1:]
    (sh, sw), (ph, pw) = projection.stride, projection.padding
    per_group = c_out // projection.groups
    counts = np.zeros(graph.input_shape, dtype=np.int64)
    for o in range(c_out):
        group = o // per_group
        for c in range(c_group):
            for y in range(out_h):
                for x in range(out_w):
                    for dy in range(kh):
                        for dx in range(kw):
                            iy, ix = y * sh - ph + dy, x * sw - pw + dx
                            inside = 0 <= iy < height and 0 <= ix < width
                            if inside and weight[o, c, dy, dx] != 0:
                                counts[group * c_group + c, iy, ix] += 1
    return counts


@pytest.mark.parametrize(
    "stride, padding, groups", [((1, 1), (0, 0), 1), ((2, 1), (1, 1), 2), ((2, 2), (1, 0), 4)]
)
def test_conv_fan_out_matches_a_loop_over_the_sum(stride, padding, groups):
    graph = _conv_graph(stride, padding, groups)
    expected = _conv_fan_out_by_loop(graph)
    assert np.array_equal(fan_out(graph, graph.projections[0]), expected)
    assert connections(graph, graph.projections[0]) == expected.sum()


def test_synaptic_operations_count_every_spike_times_its_fan_out():
    rng = np.random.default_rng(SEED)
    source = _population("a", (3, 4, 5))
    mixed = _population("b", (3, 4, 5))
    head = Population("r", (7,), "readout", np.ones(1, np.int32), np.zeros(1, np.int32))
    weights = {
        "m": Weight("m", 2, np.array([[1, 0, -1, 1]] * 4, np.int8)),  # 3 nonzero per row
        "d": Weight("d", 1, rng.choice([-1, 1], (60, 7)).astype(np.int8)),
    }
    projections = [
        Projection("x", "a", "identity"),
        Projection("a", "b", "axis", weight="m", axis=1),
        Projection("b", "r", "dense", weight="d"),
    ]
    graph = Graph(3, "x", (3, 4, 5), [source, mixed, head], weights, projections).validate()
    spikes = {
        "x": rng.integers(0, 2, (6, 3, 3, 4, 5)).astype(np.uint8),
        "a": rng.integers(0, 3, (6, 3, 3, 4, 5)).astype(np.uint8),  # bursts count n times
    }
    operations = synaptic_operations(graph, spikes)
    assert operations[0] == spikes["x"].sum() / 6  # identity: one target each
    assert operations[1] == spikes["a"].sum() * 3 / 6  # along H: 3 nonzero weights each
    assert operations[2] is None  # no spikes of b given
    assert [connections(graph, p) for p in projections] == [60, 180, 420]


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_chain_as_a_graph_counts_the_synaptic_operations_of_the_chain_metrics(seed):
    """The graph count and the chain metrics of sw/reports/metrics.py agree on every layer."""
    from spikeloom.sw.compiler.golden import run_golden
    from spikeloom.sw.compiler.graph import graph_from_chain
    from spikeloom.sw.compiler.random_program import random_program, random_spikes
    from spikeloom.sw.reports.metrics import workload_metrics

    rng = np.random.default_rng(seed)
    program = random_program(rng)
    spikes = random_spikes(rng, program, 9)
    result = run_golden(program, spikes)
    graph = graph_from_chain(program)
    sources = {graph.input_name: spikes, **result.spikes}
    operations = synaptic_operations(graph, sources)
    chain = workload_metrics(program, result, spikes)["layers"]
    for layer, ops in zip(program.layers, operations, strict=True):
        assert ops == pytest.approx(chain[layer.name]["synops_effective"]), (seed, layer.name)


def test_a_projection_into_a_channel_range_reaches_that_range_only():
    """Each projection into channels of `h` [6, 4, 5] reaches as many targets as the same
    projection into a population of its range's shape, and `describe_graph` shows the range."""
    from spikeloom.sw.compiler.describe import describe_graph

    rng = np.random.default_rng(SEED)
    weights = {
        "m": Weight("m", 2, rng.integers(-1, 2, (3, 2)).astype(np.int8)),  # zeros too
        "k": Weight("k", 2, rng.integers(-1, 2, (3, 3, 3, 3)).astype(np.int8)),
    }
    ranged = [
        Projection("x", "h", "axis", weight="m", axis=0, channels=(4, 6)),
        Projection("x", "h", "conv", weight="k", padding=(1, 1), channels=(1, 4)),
        Projection("x", "h", "identity", channels=(0, 3)),
    ]
    graph = Graph(1, "x", (3, 4, 5), [_population("h", (6, 4, 5))], weights, ranged).validate()
    for projection in ranged:
        start, stop = projection.channels
        alone = replace(projection, target="part", channels=None)
        part = Graph(
            1, "x", (3, 4, 5), [_population("part", (stop - start, 4, 5))], weights, [alone]
        )
        part.weights = {name: w for name, w in weights.items() if name == projection.weight}
        expected = fan_out(part.validate(), alone)
        assert np.array_equal(fan_out(graph, projection), expected), projection.kind
    # The identity: every source neuron reaches one target neuron, 60 in all.
    assert connections(graph, ranged[2]) == 60
    table = describe_graph(graph)
    assert "axis 0, channels [4, 6]" in table
    assert "groups 1, channels [1, 4]" in table
    assert "channels [0, 3]" in table
