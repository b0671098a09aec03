"""The format-2 golden model against a plain loop on random graphs, against hand-computed cases
for every projection kind and the scan neuron, and against the format-1 golden model on
format-1 Programs read as graphs.

The sweeps print their seed; set `SPIKELOOM_SEED` to rerun one with another.
"""

import os
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from spikeloom.sw.compiler import graph_golden
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.graph import (
    Graph,
    Population,
    Projection,
    Scan,
    Weight,
    graph_from_chain,
)
from spikeloom.sw.compiler.graph_golden import run_graph_golden
from spikeloom.sw.compiler.random_graph import random_graph, random_graph_spikes
from spikeloom.sw.compiler.random_program import edge_programs, random_program, random_spikes
from spikeloom.sw.errors import InputError

from .graph_loop_reference import run_graph_sample

SEED = int(os.environ.get("SPIKELOOM_SEED", "20240611"))
GRAPHS = 500
SAMPLES = 3


def seeded(offset: int) -> np.random.Generator:
    print(f"seed {SEED} (SPIKELOOM_SEED), offset {offset}")
    return np.random.default_rng([SEED, offset])


def assert_matches_loop(graph: Graph, spikes: np.ndarray, where: str) -> None:
    result = run_graph_golden(graph, spikes, record_membranes=True)
    assert set(result.spikes) == {p.name for p in graph.populations if p.spiking}, where
    assert set(result.membranes) == {p.name for p in graph.populations}, where
    for sample in range(len(spikes)):
        readout, counts, membranes = run_graph_sample(graph, spikes[sample])
        assert result.readout[sample].tolist() == readout, f"{where}, sample {sample}: readout"
        for name, steps in counts.items():
            got = result.spikes[name][sample].reshape(graph.timesteps, -1).tolist()
            assert got == steps, f"{where}, sample {sample}: spikes of {name}"
        for name, steps in membranes.items():
            got = result.membranes[name][sample].reshape(graph.timesteps, -1).tolist()
            assert got == steps, f"{where}, sample {sample}: membranes of {name}"


# --- (a) the batched model against the plain loop ---------------------------------------------


def test_random_graphs_match_the_loop_reference():
    rng = seeded(0)
    for index in range(GRAPHS):
        graph = random_graph(rng)
        spikes = random_graph_spikes(rng, graph, SAMPLES)
        assert_matches_loop(graph, spikes, f"graph {index} (seed {SEED})")


def test_random_graphs_cover_every_rule():
    """The sweep above draws from this generator: check that it reaches every rule."""
    rng = seeded(0)
    seen = Counter()
    for _ in range(GRAPHS):
        graph = random_graph(rng)
        spikes = random_graph_spikes(rng, graph, SAMPLES)
        result = run_graph_golden(graph, spikes, record_membranes=True)
        seen.update(features(graph, result))
    expected = {
        "dense",
        "axis",
        "axis summing an axis",
        "conv",
        "conv stride > 1",
        "conv padding",
        "conv groups",
        "conv depthwise",
        "identity",
        "gain_shift",
        "shared weight",
        "one projection repeated into two populations",
        "one projection repeated into one population",
        "several projections into one population",
        "skip from the input",
        "skip past a population",
        "threshold per channel",
        "threshold per token",
        "threshold all ones",
        "threshold full",
        "bias broadcast",
        "lif",
        "lifb",
        "scan",
        "readout",
        "burst > 1",
        "zero reset",
        "subtract reset",
        "no leak",
        "leak 0",
        "leak > 0",
        "scan shorter last group",
        "scan carry_shift 0",
        "scan carry_shift > 0",
        "saturated high",
        "saturated low",
        "spiking last population",
        "channels axis",
        "channels axis 0",
        "channels conv",
        "channels conv groups",
        "channels identity",
        "channels rank 1",
        "channels rank 2",
        "channels rank 3",
        "channels overlapping",
        "channels no projection reaches",
        "one current added at two channel ranges",
    }
    assert expected <= set(seen), f"never drawn: {sorted(expected - set(seen))}"


def signature(graph: Graph, projection: Projection) -> tuple:
    """Everything a projection's current depends on but its target's name and the channel
    range's start (where it is added)."""
    return (
        projection.source,
        projection.kind,
        projection.weight,
        projection.gain_shift,
        projection.axis,
        tuple(projection.stride),
        tuple(projection.padding),
        projection.groups,
        graph.current_shape(projection),
    )


def channel_features(graph: Graph) -> set[str]:
    found = set()
    for projection in graph.projections:
        if projection.channels is None:
            continue
        target = graph.shape_of(projection.target)
        found.add(f"channels {projection.kind}")
        found.add(f"channels rank {len(target)}")
        if projection.kind == "axis" and projection.axis == 0:
            found.add("channels axis 0")
        if projection.kind == "conv" and projection.groups > 1:
            found.add("channels conv groups")
    for population in graph.populations:
        reached = np.zeros(population.shape[0], dtype=np.int64)
        for projection in graph.projections_into(population.name):
            start, stop = graph.channel_range(projection)
            reached[start:stop] += 1
        ranged = [p for p in graph.projections_into(population.name) if p.channels is not None]
        if ranged and (reached > 1).any():
            found.add("channels overlapping")
        if (reached == 0).any():
            found.add("channels no projection reaches")
    starts: dict[tuple, set[int]] = {}
    for projection in graph.projections:
        starts.setdefault(signature(graph, projection), set()).add(
            graph.channel_range(projection)[0]
        )
    if any(len(found_starts) > 1 for found_starts in starts.values()):
        found.add("one current added at two channel ranges")
    return found


def features(graph: Graph, result) -> set[str]:
    found = set()
    order = {graph.input_name: -1, **{p.name: i for i, p in enumerate(graph.populations)}}
    for projection in graph.projections:
        found.add(projection.kind)
        source, target = graph.shape_of(projection.source), graph.shape_of(projection.target)
        if projection.gain_shift:
            found.add("gain_shift")
        if projection.kind == "axis" and any(
            t == 1 < s for d, (s, t) in enumerate(zip(source, target)) if d != projection.axis
        ):
            found.add("axis summing an axis")
        if projection.kind == "conv":
            if max(projection.stride) > 1:
                found.add("conv stride > 1")
            if max(projection.padding) > 0:
                found.add("conv padding")
            if projection.groups > 1:
                found.add("conv groups")
                if projection.groups == source[0] == target[0]:
                    found.add("conv depthwise")
        if order[projection.target] - order[projection.source] > 1:
            found.add("skip past a population")
    uses = Counter(p.weight for p in graph.projections if p.weight is not None)
    if any(count > 1 for count in uses.values()):
        found.add("shared weight")
    # Projections of one signature carry one current, which the golden model computes once.
    targets: dict[tuple, list[str]] = {}
    for projection in graph.projections:
        targets.setdefault(signature(graph, projection), []).append(projection.target)
    for names in targets.values():
        if len(set(names)) > 1:
            found.add("one projection repeated into two populations")
        if len(set(names)) < len(names):
            found.add("one projection repeated into one population")
    for population in graph.populations:
        into = graph.projections_into(population.name)
        if len(into) > 1:
            found.add("several projections into one population")
            if any(p.source == graph.input_name for p in into[1:]):
                found.add("skip from the input")
        found.add(population.neuron)
        if population.neuron != "readout":
            found.add(f"{population.reset} reset")
        shape, theta = population.shape, population.threshold.shape
        if len(shape) == 3 and shape[0] > 1 and theta == (shape[0], 1, 1) != shape:
            found.add("threshold per channel")
        if len(shape) == 3 and shape[0] > 1 and theta == (1, *shape[1:]) != shape:
            found.add("threshold per token")
        if population.size > 1 and theta == (1,) * len(shape):
            found.add("threshold all ones")
        if population.size > 1 and theta == shape:
            found.add("threshold full")
        if population.bias.shape != shape:
            found.add("bias broadcast")
        if population.neuron == "scan":
            scan = population.scan
            if scan.group < shape[scan.axis] and shape[scan.axis] % scan.group:
                found.add("scan shorter last group")
            found.add("scan carry_shift 0" if scan.carry_shift == 0 else "scan carry_shift > 0")
        else:
            k = population.leak_shift
            found.add("no leak" if k is None else "leak 0" if k == 0 else "leak > 0")
        if population.spiking and (result.spikes[population.name] > 1).any():
            found.add("burst > 1")
        low, high = -(1 << (population.v_bits - 1)), (1 << (population.v_bits - 1)) - 1
        membranes = result.membranes[population.name]
        # After a spike the membrane is reset, so a saturated h shows as high - n * theta.
        theta_full = np.broadcast_to(population.threshold, shape)
        counts = result.spikes.get(population.name, np.zeros_like(membranes))
        h_if_subtract = membranes + counts * theta_full
        if (membranes == high).any() or (
            population.reset == "subtract" and (h_if_subtract == high).any()
        ):
            found.add("saturated high")
        if (membranes == low).any():
            found.add("saturated low")
    if graph.populations[-1].spiking:
        found.add("spiking last population")
    return found | channel_features(graph)


def population_runs(graph: Graph) -> list:
    return [graph_golden._PopulationRun(graph, p) for p in graph.populations]


@pytest.mark.parametrize("path", ["float64", "int64"])
def test_wide_product_paths_match_the_loop_reference(monkeypatch, path):
    """Currents are summed in float32 whenever their bound allows, so random graphs rarely
    reach the float64 and int64 paths: force them."""
    monkeypatch.setattr(graph_golden, "FLOAT32_EXACT", 0)
    if path == "int64":
        monkeypatch.setattr(graph_golden, "FLOAT64_EXACT", 0)
    rng = seeded(1)
    for index in range(25):
        graph = random_graph(rng)
        assert {run.dtype for run in population_runs(graph)} == {getattr(torch, path)}
        spikes = random_graph_spikes(rng, graph, SAMPLES)
        assert_matches_loop(graph, spikes, f"graph {index} ({path}, seed {SEED})")


def test_int64_membranes_match_the_loop_reference(monkeypatch):
    """Membranes run in int32 unless v_bits or the current is too wide for it (random graphs
    draw v_bits = 32 now and then): force int64 everywhere."""
    monkeypatch.setattr(graph_golden, "INT32_MAX", 0)
    rng = seeded(4)
    for index in range(25):
        graph = random_graph(rng)
        assert {run.state for run in population_runs(graph)} == {torch.int64}
        spikes = random_graph_spikes(rng, graph, SAMPLES)
        assert_matches_loop(graph, spikes, f"graph {index} (int64 membranes, seed {SEED})")


def test_reduced_float32_precision_falls_back_to_float64():
    graph = random_graph(np.random.default_rng(3))
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")  # bfloat16 products: not exact
        assert torch.float32 not in {run.dtype for run in population_runs(graph)}
    finally:
        torch.set_float32_matmul_precision(before)
    assert all(run.dtype != torch.float64 for run in population_runs(graph))


def test_batches_give_the_same_result():
    rng = seeded(2)
    for _ in range(10):
        graph = random_graph(rng)
        spikes = random_graph_spikes(rng, graph, 7)
        whole = run_graph_golden(graph, spikes, record_membranes=True)
        parts = run_graph_golden(graph, spikes, record_membranes=True, batch_size=3)
        assert whole.same_outputs(parts)
        for name in whole.membranes:
            assert np.array_equal(whole.membranes[name], parts.membranes[name])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), populations=st.integers(1, 6))
def test_property_random_graphs_match_the_loop_reference(seed, populations):
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, max_populations=populations, max_size=4)
    assert_matches_loop(graph, random_graph_spikes(rng, graph, 2), f"hypothesis seed {seed}")


def test_spikes_are_checked():
    graph = random_graph(np.random.default_rng(0))
    with pytest.raises(InputError, match="shape"):
        run_graph_golden(graph, np.zeros((1, graph.timesteps + 1, *graph.input_shape)))
    spikes = np.full((1, graph.timesteps, *graph.input_shape), 2)
    with pytest.raises(InputError, match="0 or 1"):
        run_graph_golden(graph, spikes)


# --- (b) hand-computed cases ------------------------------------------------------------------


def population(name, shape, neuron="readout", threshold=1, bias=0, **settings) -> Population:
    rank = len(shape)
    threshold, bias = np.asarray(threshold, np.int32), np.asarray(bias, np.int32)
    return Population(
        name=name,
        shape=tuple(shape),
        neuron=neuron,
        threshold=threshold.reshape((1,) * rank) if threshold.ndim == 0 else threshold,
        bias=bias.reshape((1,) * rank) if bias.ndim == 0 else bias,
        **settings,
    )


def weight(name, values, bits=8) -> Weight:
    return Weight(name, bits, np.asarray(values, np.int8))


def run(input_shape, populations, projections, weights, spikes, **options):
    spikes = np.asarray(spikes, np.uint8)
    graph = Graph(
        timesteps=spikes.shape[1],
        input_name="x",
        input_shape=tuple(input_shape),
        populations=populations,
        weights={w.name: w for w in weights},
        projections=projections,
    ).validate()
    result = run_graph_golden(graph, spikes, record_membranes=True, **options)
    assert_matches_loop(graph, spikes, "hand-computed case")
    return result


MIX = [[1, 2], [3, -1], [-2, 5]]  # [3, 2]: three source positions mixed into two


def test_axis_projection_along_h_of_chw():
    # x[c, s, w], c in 0..1, s (H) in 0..2, w in 0..1; z[c, u, w] = sum_s x[c, s, w] MIX[s][u].
    x = [[[1, 0], [1, 1], [0, 1]], [[0, 1], [0, 0], [1, 1]]]
    result = run(
        (2, 3, 2),
        [population("out", (2, 2, 2))],
        [Projection("x", "out", "axis", weight="mix", axis=1)],
        [weight("mix", MIX)],
        [[x]],
    )
    # c0: u0 = (1*1 + 1*3 + 0*-2, 0*1 + 1*3 + 1*-2) = (4, 1); u1 = (2 - 1 + 0, 0 - 1 + 5) = (1, 4)
    # c1: u0 = (0 + 0 - 2, 1 + 0 - 2) = (-2, -1); u1 = (0 + 0 + 5, 2 + 0 + 5) = (5, 7)
    assert result.readout.tolist() == [[4, 1, 1, 4, -2, -1, 5, 7]]
    assert result.membranes["out"][0, 0].tolist() == [[[4, 1], [1, 4]], [[-2, -1], [5, 7]]]


@pytest.mark.parametrize(
    "axis, target, values, expected",
    [
        # Mixing along axis 1, summing axis 0: per-column sums of x are (2, 1, 1), so
        # z[0, u] = 2 MIX[0][u] + MIX[1][u] + MIX[2][u] = (2 + 3 - 2, 4 - 1 + 5).
        (1, (1, 2), MIX, [3, 8]),
        # Mixing along axis 0 (two rows into two), summing axis 1: row sums of x are (2, 2),
        # so z[u, 0] = 2 W[0][u] + 2 W[1][u] = (2 + 4, -2 + 6).
        (0, (2, 1), [[1, -1], [2, 3]], [6, 4]),
    ],
)
def test_axis_projection_summing_an_axis(axis, target, values, expected):
    result = run(
        (2, 3),
        [population("out", target)],
        [Projection("x", "out", "axis", weight="w", axis=axis)],
        [weight("w", values)],
        [[[[1, 0, 1], [1, 1, 0]]]],
    )
    assert result.readout.tolist() == [expected]


def test_conv_with_stride_padding_and_groups():
    # Two groups: output channels 0, 1 read input channel 0; 2, 3 read input channel 1.
    # Output (y, x) reads rows 2y - 1 + ky and columns 2x - 1 + kx, ky, kx in 0..1.
    x = [[[1, 0, 1], [0, 1, 1], [1, 1, 0]], [[0, 1, 0], [1, 0, 0], [0, 1, 1]]]
    kernels = [
        [[[1, 2], [3, 4]]],
        [[[-1, 0], [0, 1]]],
        [[[2, -1], [1, 1]]],
        [[[0, 0], [0, 5]]],
    ]
    result = run(
        (2, 3, 3),
        [population("out", (4, 2, 2))],
        [Projection("x", "out", "conv", weight="k", stride=(2, 2), padding=(1, 1), groups=2)],
        [weight("k", kernels)],
        [[x]],
    )
    expected = [
        # (0,0): x0[0,0]*4; (0,1): x0[0,1]*3 + x0[0,2]*4; (1,0): x0[1,0]*2 + x0[2,0]*4;
        # (1,1): x0[1,1]*1 + x0[1,2]*2 + x0[2,1]*3 + x0[2,2]*4
        [[4, 4], [4, 6]],
        [[1, 1], [1, -1]],
        [[0, 1], [-1, 2]],
        [[0, 0], [0, 5]],
    ]
    assert result.membranes["out"][0, 0].tolist() == expected
    # The same numbers as torch's conv2d on integer tensors (a cross-correlation).
    torch_z = torch.nn.functional.conv2d(
        torch.tensor([x]), torch.tensor(kernels), stride=2, padding=1, groups=2
    )
    assert torch_z[0].tolist() == expected


def test_identity_with_gain_shift():
    # z = 8 c; no leak: v = (0 + 8 + 1, 0 + 0 + 0, 0 + 8 - 1) then (9 + 8 + 1, 0 + 8, 7 + 0 - 1).
    result = run(
        (3,),
        [population("out", (3,), bias=[1, 0, -1])],
        [Projection("x", "out", "identity", gain_shift=3)],
        [],
        [[[1, 0, 1], [1, 1, 0]]],
    )
    assert result.membranes["out"][0].tolist() == [[9, 0, 7], [18, 8, 6]]
    assert result.readout.tolist() == [[18, 8, 6]]


def test_channel_ranges_concatenate_vectors():
    # out [5] = cat(2 x, x W) and x once more into neurons 1..2 (overlapping the two parts).
    # t0, x = (1, 0): 2 x = (2, 0), x W = (1, -1, 2), x at 1..2: (1, 0); z = (2, 1, 1, -1, 2).
    # t1, x = (0, 1): (0, 2), (3, 0, -2), (0, 1); z = (0, 2, 4, 0, -2). No leak: v sums them.
    result = run(
        (2,),
        [population("out", (5,))],
        [
            Projection("x", "out", "identity", gain_shift=1, channels=(0, 2)),
            Projection("x", "out", "axis", weight="w", axis=0, channels=(2, 5)),
            Projection("x", "out", "identity", channels=(1, 3)),
        ],
        [weight("w", [[1, -1, 2], [3, 0, -2]])],
        [[[1, 0], [0, 1]]],
    )
    assert result.membranes["out"][0].tolist() == [[2, 1, 1, -1, 2], [2, 3, 5, -1, 0]]


def test_channel_ranges_of_a_chw_target():
    # x [2, 2, 2] (c, y, x); out [3, 2, 2]:
    # - identity into channels 0..1: z[0] = x0, z[1] = x1;
    # - conv 1x1, groups 2, into channels 1..2: z[1] += 2 x0, z[2] += -x1;
    # - axis along rows (W [2, 2]) into channel 1, channels summed (the range has one):
    #   z[1, u, w] += sum_c sum_s x[c, s, w] W[s, u]; x0 + x1 = all ones, so row u gets
    #   W[0][u] + W[1][u] = (0, 5) at every column.
    x = [[[1, 0], [1, 1]], [[0, 1], [0, 0]]]
    result = run(
        (2, 2, 2),
        [population("out", (3, 2, 2))],
        [
            Projection("x", "out", "identity", channels=(0, 2)),
            Projection("x", "out", "conv", weight="k", groups=2, channels=(1, 3)),
            Projection("x", "out", "axis", weight="rows", axis=1, channels=(1, 2)),
        ],
        [weight("k", [[[[2]]], [[[-1]]]]), weight("rows", [[1, 2], [-1, 3]])],
        [[x]],
    )
    z1 = [[0 + 2 + 0, 1 + 0 + 0], [0 + 2 + 5, 0 + 2 + 5]]
    assert result.membranes["out"][0, 0].tolist() == [[[1, 0], [1, 1]], z1, [[0, -1], [0, 0]]]


def test_one_current_added_at_two_channel_ranges_is_computed_once(monkeypatch):
    # The Mixer's node1 = A x: into population a, and into channels 0..1 and 4..5 of out.
    computed = []
    current = graph_golden._ProjectionRun.current

    def counting(self, counts):
        computed.append((self.projection.target, self.projection.channels))
        return current(self, counts)

    monkeypatch.setattr(graph_golden._ProjectionRun, "current", counting)
    # x = (1, 1): x A = (3, 0); a fires (1, 0) (threshold 1); out gets x A at 0..1 and 4..5
    # and a's spikes at 2..3. (A current is shared between populations that sum in the same
    # format: float32 for both here.)
    result = run(
        (2,),
        [population("a", (2,), "lif"), population("out", (6,))],
        [
            Projection("x", "a", "axis", weight="A", axis=0),
            Projection("x", "out", "axis", weight="A", axis=0, channels=(0, 2)),
            Projection("a", "out", "identity", channels=(2, 4)),
            Projection("x", "out", "axis", weight="A", axis=0, channels=(4, 6)),
        ],
        [weight("A", [[1, -1], [2, 1]])],
        [[[1, 1]]],
    )
    assert result.spikes["a"][0].tolist() == [[1, 0]]
    assert result.readout.tolist() == [[3, 0, 1, 0, 3, 0]]
    # x A once, at its first use, then the identity; `run` runs the model twice.
    assert computed == [("a", None), ("out", (2, 4))] * 2


def test_the_current_bound_counts_each_channel_its_own_projections():
    # Two identities of gain 7 into disjoint halves: a neuron gets at most 128, not 256; a
    # third into both halves' first channels overlaps them there.
    projections = [
        Projection("x", "out", "identity", gain_shift=7, channels=(0, 2)),
        Projection("x", "out", "identity", gain_shift=7, channels=(2, 4)),
    ]
    graph = Graph(1, "x", (2,), [population("out", (4,))], {}, projections).validate()
    assert graph_golden.current_bound(graph, graph.populations[0]) == 128
    graph.projections.append(Projection("x", "out", "identity", gain_shift=1, channels=(1, 3)))
    assert graph_golden.current_bound(graph.validate(), graph.populations[0]) == 128 + 2


SCAN_Z = [5, 7, 3, -3, 9, 6, 3]


@pytest.mark.parametrize(
    "reset, counts, resets",
    [
        # Groups [0, 1, 2], [3, 4, 5], [6]; carry = (r + 2) >> 2; theta 4, burst_max 2.
        # p0: h 5, n 1, r 1, carry 0.   p1: h 7, n 1, r 3, carry 1.   p2: h 1+3 = 4, n 1, r 0.
        # p3 (new group): h -3, r -3, carry (-1) >> 2 = -1.   p4: h -1+9 = 8, n 2, r 0, carry 0.
        # p5: h 6, n 1, r 2, carry 1.   p6 (new, shorter group): the carry is dropped, h 3.
        ("subtract", [1, 1, 1, 0, 2, 1, 0], [1, 3, 0, -3, 0, 2, 3]),
        # p0: h 5, n 1, r 0.   p1: h 7, n 1, r 0.   p2: h 3, n 0, r 3 (its carry 1 is dropped).
        # p3: h -3, carry -1.   p4: h 8, n 2, r 0.   p5: h 6, n 1, r 0.   p6: h 3.
        ("zero", [1, 1, 0, 0, 2, 1, 0], [0, 0, 3, -3, 0, 0, 3]),
    ],
)
def test_scan_group_of_3_on_a_line_of_7(reset, counts, resets):
    scan = Scan(axis=0, group=3, carry_shift=2)
    result = run(
        (1,),
        [
            population("s", (7,), "scan", threshold=4, burst_max=2, reset=reset, scan=scan),
            population("out", (7,)),
        ],
        [
            Projection("x", "s", "dense", weight="z"),
            Projection("s", "out", "identity"),
        ],
        [weight("z", [SCAN_Z])],
        [[[1], [1]]],
    )
    # No state is kept between timesteps: the same input gives the same walk twice.
    assert result.spikes["s"][0].tolist() == [counts, counts]
    assert result.membranes["s"][0].tolist() == [resets, resets]
    assert result.readout.tolist() == [[2 * n for n in counts]]


def test_lifb_burst_adds_the_weight_once_per_spike():
    # h = 1 + 6 = 7 >= 2, 4, 6: a burst of 3, which adds (-2, 5) three times.
    result = run(
        (1,),
        [
            population("b", (1,), "lifb", threshold=2, bias=6, burst_max=3),
            population("out", (2,)),
        ],
        [
            Projection("x", "b", "dense", weight="one"),
            Projection("b", "out", "dense", weight="w"),
        ],
        [weight("one", [[1]]), weight("w", [[-2, 5]])],
        [[[1]]],
    )
    assert result.spikes["b"].tolist() == [[[3]]]
    assert result.readout.tolist() == [[-6, 15]]


def test_two_projections_share_one_weight():
    # p fires on every neuron (h = c + 1 >= 1): counts (1, 1, 1); x = (1, 0, 1).
    # z = x MIX + 2 (p MIX) = (1 - 2, 2 + 5) + 2 (1 + 3 - 2, 2 - 1 + 5) = (-1 + 4, 7 + 12).
    result = run(
        (3,),
        [population("p", (3,), "lif", bias=1), population("out", (2,))],
        [
            Projection("x", "p", "identity"),
            Projection("x", "out", "dense", weight="mix"),
            Projection("p", "out", "dense", weight="mix", gain_shift=1),
        ],
        [weight("mix", MIX)],
        [[[1, 0, 1]]],
    )
    assert result.spikes["p"].tolist() == [[[1, 1, 1]]]
    assert result.readout.tolist() == [[3, 19]]


def test_a_repeated_projection_is_computed_once_per_batch(monkeypatch):
    # x MIX is added into a (v_bits 32: int64 membranes) and twice into out, as the Mixer adds
    # its patch embedding. t0: x = (1, 0, 1), x MIX = (-1, 7); a fires (0, 1) and keeps (-1, 0);
    # out gets 2 (-1, 7) + (0, 1) = (-2, 15). t1: x = (0, 1, 0), x MIX = (3, -1); a has
    # h = (2, -1), fires (1, 0); out gets 2 (3, -1) + (1, 0) = (7, -2) and holds (5, 13).
    computed = []
    current = graph_golden._ProjectionRun.current

    def counting(self, counts):
        computed.append(self.projection.target)
        return current(self, counts)

    monkeypatch.setattr(graph_golden._ProjectionRun, "current", counting)
    result = run(
        (3,),
        [population("a", (2,), "lif", v_bits=32), population("out", (2,))],
        [
            Projection("x", "a", "dense", weight="mix"),
            Projection("x", "out", "dense", weight="mix"),
            Projection("a", "out", "identity"),
            Projection("x", "out", "dense", weight="mix"),
        ],
        [weight("mix", MIX)],
        [[[1, 0, 1], [0, 1, 0]]],
    )
    assert result.spikes["a"][0].tolist() == [[0, 1], [1, 0]]
    assert result.readout.tolist() == [[5, 13]]
    # x MIX once, at its first use, then the identity; `run` runs the model twice.
    assert computed == ["a", "out"] * 2


def test_saturation_at_both_ends():
    # v_bits 8: z = (127, -128) * 2^7 = (16256, -16384) saturates h to (127, -128) every step;
    # neuron 0 fires and keeps 127 - 100 = 27, neuron 1 stays at -128.
    result = run(
        (1,),
        [
            population("p", (2,), "lif", threshold=[100, 1], v_bits=8, reset="subtract", bias=0),
            population("out", (2,), bias=[100, -100], v_bits=8),
        ],
        [
            Projection("x", "p", "dense", weight="big", gain_shift=7),
            Projection("p", "out", "dense", weight="none"),
        ],
        [weight("big", [[127, -128]]), weight("none", [[0, 0], [0, 0]], bits=2)],
        [[[1], [1], [0]]],
    )
    assert result.membranes["p"][0].tolist() == [[27, -128], [27, -128], [27, -128]]
    assert result.spikes["p"][0].tolist() == [[1, 0], [1, 0], [0, 0]]
    # The readout integrates its bias alone and saturates: 100, 127, 127 and -100, -128, -128.
    assert result.membranes["out"][0].tolist() == [[100, -100], [127, -128], [127, -128]]


def test_spiking_last_population_reads_out_counts_summed_over_time():
    # theta per channel: channel 0 fires on every input spike, channel 1 never.
    result = run(
        (2, 1, 2),
        [population("p", (2, 1, 2), "lif", threshold=[[[1]], [[100]]], reset="zero")],
        [Projection("x", "p", "identity")],
        [],
        [[[[[1, 0]], [[1, 1]]], [[[1, 1]], [[0, 1]]]]],
    )
    assert result.readout.tolist() == [[2, 1, 0, 0]]
    assert "p" in result.spikes and result.spikes["p"].shape == (1, 2, 2, 1, 2)


# --- (c) format 1 read as a graph -------------------------------------------------------------


def assert_same_as_format_one(program, spikes, where: str) -> None:
    expected = run_golden(program, spikes, trace=True)
    got = run_graph_golden(graph_from_chain(program), spikes, record_membranes=True)
    assert np.array_equal(got.readout, expected.readout), where
    assert got.spikes.keys() == expected.spikes.keys(), where
    for name in expected.spikes:
        assert np.array_equal(got.spikes[name], expected.spikes[name]), f"{where}: {name}"
    assert got.membranes.keys() == expected.membranes.keys(), where
    for name in expected.membranes:
        assert np.array_equal(got.membranes[name], expected.membranes[name]), f"{where}: {name}"


def test_format_one_programs_match_run_golden():
    rng = seeded(3)
    for index in range(200):
        program = random_program(rng)
        spikes = random_spikes(rng, program, 16)
        assert_same_as_format_one(program, spikes, f"program {index} (seed {SEED})")


@pytest.mark.parametrize("name", sorted(edge_programs()))
def test_format_one_edge_programs_match_run_golden(name):
    program, spikes = edge_programs()[name]
    assert_same_as_format_one(program, spikes, name)


def _docs_population(name, shape, neuron, theta, beta, **options):
    return Population(
        name, shape, neuron, np.array(theta, np.int32), np.array(beta, np.int32), **options
    )


def test_the_scan_example_of_docs_semantics():
    """docs/semantics.md 8.5: a scan line of 5 in groups of 3 (then of 5), carry_shift 2."""
    for group, expected in ((3, [2, 0, 1, 0, 1]), (5, [2, 0, 1, 1, 1])):
        scan = _docs_population(
            "s",
            (5,),
            "scan",
            [4],
            [1],
            burst_max=2,
            reset="subtract",
            v_bits=8,
            scan=Scan(axis=0, group=group, carry_shift=2),
        )
        # z = [9, -5, 6, 2, 5] from five input channels through a diagonal dense weight.
        z = np.array([9, -5, 6, 2, 5])
        weight = Weight("w", 5, np.diag(z).astype(np.int8))
        graph = Graph(
            1, "x", (5,), [scan], {"w": weight}, [Projection("x", "s", "dense", weight="w")]
        ).validate()
        result = run_graph_golden(graph, np.ones((1, 1, 5), np.uint8))
        assert result.spikes["s"][0, 0].tolist() == expected, group


def test_the_two_timestep_example_of_docs_semantics():
    """docs/semantics.md 8.8: a lifb population and a readout fed by an identity and the input."""
    a = _docs_population("a", (2,), "lifb", [2], [0], burst_max=3, reset="subtract", v_bits=8)
    out = _docs_population("out", (2,), "readout", [1], [0, 1], v_bits=8)
    weights = {
        "wa": Weight("wa", 4, np.array([[3, 1], [2, -1], [4, 1]], np.int8)),
        "wo": Weight("wo", 1, np.array([[1, -1], [-1, 1], [1, 1]], np.int8)),
    }
    projections = [
        Projection("x", "a", "dense", weight="wa"),
        Projection("a", "out", "identity", gain_shift=1),
        Projection("x", "out", "dense", weight="wo"),
    ]
    graph = Graph(2, "x", (3,), [a, out], weights, projections).validate()
    result = run_graph_golden(graph, np.array([[[1, 0, 1], [0, 1, 0]]], np.uint8))
    assert result.spikes["a"][0].tolist() == [[3, 1], [1, 0]]
    assert result.readout[0].tolist() == [9, 5] and result.predictions[0] == 0
