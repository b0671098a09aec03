"""Program format 2: round trips, format 1 read as its graph, and a clear error for every kind of
malformed file, made the way a user would make it (by editing a saved Program's files)."""

import re
import shutil
import zipfile

import numpy as np
import pytest
import yaml
from spikeloom.sw.compiler.graph import (
    GRAPH_FORMAT,
    Graph,
    Population,
    Projection,
    Scan,
    Weight,
    check_graph_spikes,
    graph_from_chain,
    load_graph,
    save_graph,
)
from spikeloom.sw.compiler.program import save_program
from spikeloom.sw.compiler.random_program import random_program
from spikeloom.sw.errors import InputError, ProgramError


def _ints(rng, low, high, shape, dtype=np.int32):
    return rng.integers(low, high + 1, size=shape).astype(dtype)


def _graph() -> Graph:
    """Every kind of projection and neuron, broadcast thresholds and biases, a shared weight:

    x [2, 4, 4] -conv k (groups 2, padding 1)-> c1 [4, 4, 4] lif
    c1 -axis 0, mix-> s [4, 4, 4] scan (along axis 2, groups of 3)
    s -identity, gain 1-> r [4, 4, 4] lifb, and c1 -identity-> r (a residual)
    r -axis 0, mix again, gain 2-> pool [4, 1, 1] lif (summed over H and W)
    pool -dense fc-> out [3] readout, and x -dense skip-> out
    """
    rng = np.random.default_rng(5)

    def population(name, shape, neuron, threshold_shape, bias_shape, **fields):
        return Population(
            name=name,
            shape=shape,
            neuron=neuron,
            threshold=_ints(rng, 1, 20, threshold_shape),
            bias=_ints(rng, -8, 8, bias_shape),
            **fields,
        )

    populations = [
        population("c1", (4, 4, 4), "lif", (4, 1, 1), (4, 1, 1), leak_shift=1, v_bits=10),
        population(
            "s",
            (4, 4, 4),
            "scan",
            (1, 4, 4),
            (1, 1, 1),
            burst_max=2,
            reset="subtract",
            v_bits=9,
            scan=Scan(axis=2, group=3, carry_shift=2),
        ),
        population("r", (4, 4, 4), "lifb", (4, 4, 4), (1, 4, 4), burst_max=3, leak_shift=0),
        population("pool", (4, 1, 1), "lif", (4, 1, 1), (1, 1, 1), reset="subtract", v_bits=12),
        population("out", (3,), "readout", (3,), (3,), v_bits=16),
    ]
    weights = {
        "k": Weight("k", 2, _ints(rng, -2, 1, (4, 1, 3, 3), np.int8)),
        "mix": Weight("mix", 1, rng.choice(np.array([-1, 1], np.int8), size=(4, 4))),
        "fc": Weight("fc", 8, _ints(rng, -128, 127, (4, 3), np.int8)),
        "skip": Weight("skip", 1, rng.choice(np.array([-1, 1], np.int8), size=(32, 3))),
    }
    projections = [
        Projection("x", "c1", "conv", "k", stride=(1, 1), padding=(1, 1), groups=2),
        Projection("c1", "s", "axis", "mix", axis=0),
        Projection("s", "r", "identity", gain_shift=1),
        Projection("c1", "r", "identity"),
        Projection("r", "pool", "axis", "mix", gain_shift=2, axis=0),
        Projection("pool", "out", "dense", "fc"),
        Projection("x", "out", "dense", "skip"),
    ]
    return Graph(
        timesteps=3,
        input_name="x",
        input_shape=(2, 4, 4),
        populations=populations,
        weights=weights,
        projections=projections,
    ).validate()


@pytest.fixture
def graph():
    return _graph()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return save_graph(_graph(), tmp_path_factory.mktemp("template") / "p")


@pytest.fixture
def saved(tmp_path, template):
    """A fresh copy of a saved valid graph, for a test to break."""
    return shutil.copytree(template, tmp_path / "p")


def _assert_same(a: Graph, b: Graph):
    assert (a.timesteps, a.input_name, a.input_shape) == (b.timesteps, b.input_name, b.input_shape)
    assert [p.header() for p in a.populations] == [p.header() for p in b.populations]
    assert [p.scan for p in a.populations] == [p.scan for p in b.populations]
    assert [p.header() for p in a.projections] == [p.header() for p in b.projections]
    assert (a.encoder, a.dataset) == (b.encoder, b.dataset)
    for x, y in zip(a.populations, b.populations, strict=True):
        for key in ("threshold", "bias"):
            got, expected = getattr(x, key), getattr(y, key)
            assert got.dtype == expected.dtype and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected)
    assert list(a.weights) == list(b.weights)
    for name, weight in a.weights.items():
        assert (weight.name, weight.bits) == (name, b.weights[name].bits)
        assert weight.values.dtype == np.int8
        np.testing.assert_array_equal(weight.values, b.weights[name].values)
    assert a.encoder_arrays.keys() == b.encoder_arrays.keys()
    for key, value in a.encoder_arrays.items():
        assert value.dtype == b.encoder_arrays[key].dtype
        np.testing.assert_array_equal(value, b.encoder_arrays[key])


def test_round_trip_keeps_every_field(tmp_path, graph):
    graph.encoder = {"kind": "rate", "features": 32, "seed": 3}
    graph.encoder_arrays = {"scale": np.arange(3, dtype=np.float32)}
    graph.dataset = "digits"
    path = save_graph(graph, tmp_path / "p")
    header = yaml.safe_load((path / "program.yaml").read_text())
    assert header["format"] == GRAPH_FORMAT
    assert header["populations"][1]["scan"] == {"axis": 2, "group": 3, "carry_shift": 2}
    assert "weight" not in header["projections"][2]
    with np.load(path / "program.npz") as npz:
        assert npz["c1.threshold"].shape == (4, 1, 1) and npz["s.threshold"].shape == (1, 4, 4)
        assert "weight.mix" in npz.files and "mix.weight" not in npz.files  # stored once
    loaded = load_graph(path)
    _assert_same(loaded, graph)
    assert [p.weight for p in loaded.projections].count("mix") == 2
    assert loaded.readout is loaded.populations[-1] and loaded.outputs == 3
    _assert_same(load_graph(save_graph(loaded, tmp_path / "again")), graph)


def test_minimal_graph_round_trips(tmp_path):
    """Rank 1, no weights at all (an identity), a spiking last population, no encoder."""
    graph = Graph(
        timesteps=1,
        input_name="spikes",
        input_shape=(5,),
        populations=[
            Population("a", (5,), "lif", np.ones(1, np.int32), np.zeros(1, np.int32), v_bits=8)
        ],
        weights={},
        projections=[Projection("spikes", "a", "identity", gain_shift=7)],
    )
    loaded = load_graph(save_graph(graph, tmp_path / "p"))
    _assert_same(loaded, graph)
    assert loaded.readout is None and loaded.outputs == 5


def _concatenation() -> Graph:
    """x [2, 4, 4] -> c [1, 2, 2], and h [5, 2, 2] built from channel ranges: the conv k
    (stride 2, padding 1) from x into channels 0..1 and again, twice as strong, into 2..3; an
    identity of c into channel 3 (overlapping the second); c's rows mixed into channel 4."""
    rng = np.random.default_rng(6)
    ones = np.ones((1, 1, 1), np.int32)
    populations = [
        Population("c", (1, 2, 2), "lif", ones, 0 * ones, v_bits=8),
        Population("h", (5, 2, 2), "lif", _ints(rng, 1, 4, (5, 1, 1)), 0 * ones, v_bits=10),
    ]
    weights = {
        "k": Weight("k", 1, rng.choice(np.array([-1, 1], np.int8), size=(2, 2, 3, 3))),
        "one": Weight("one", 1, np.ones((1, 2, 3, 3), np.int8)),
        "rows": Weight("rows", 2, _ints(rng, -2, 1, (2, 2), np.int8)),
    }
    projections = [
        Projection("x", "c", "conv", "one", stride=(2, 2), padding=(1, 1)),
        Projection("x", "h", "conv", "k", stride=(2, 2), padding=(1, 1), channels=(0, 2)),
        Projection(
            "x", "h", "conv", "k", gain_shift=1, stride=(2, 2), padding=(1, 1), channels=(2, 4)
        ),
        Projection("c", "h", "identity", channels=(3, 4)),
        Projection("c", "h", "axis", "rows", axis=1, channels=(4, 5)),
    ]
    return Graph(2, "x", (2, 4, 4), populations, weights, projections).validate()


def test_channel_ranges_round_trip(tmp_path):
    graph = _concatenation()
    path = save_graph(graph, tmp_path / "p")
    header = yaml.safe_load((path / "program.yaml").read_text())
    assert "channels" not in header["projections"][0]
    assert [entry["channels"] for entry in header["projections"][1:]] == [
        [0, 2],
        [2, 4],
        [3, 4],
        [4, 5],
    ]
    loaded = load_graph(path)
    _assert_same(loaded, graph)
    assert [p.channels for p in loaded.projections] == [None, [0, 2], [2, 4], [3, 4], [4, 5]]
    assert loaded.current_shape(loaded.projections[3]) == (1, 2, 2)


def test_a_range_over_the_whole_target_is_saved_as_no_range(tmp_path, template):
    graph = _graph()
    graph.projections[3].channels = (0, 4)  # c1 -> r, r has 4 channels
    path = save_graph(graph.validate(), tmp_path / "p")
    # Byte for byte the file of the same graph without the key (every Program written before
    # ranges existed reads and writes unchanged).
    assert (path / "program.yaml").read_bytes() == (template / "program.yaml").read_bytes()
    assert load_graph(path).projections[3].channels is None


def test_saved_files_without_ranges_name_no_channels(template):
    assert "channels" not in (template / "program.yaml").read_text()


def test_format_1_reads_as_its_graph(tmp_path):
    program = random_program(np.random.default_rng(4), max_layers=3)
    while len(program.layers) < 2:
        program = random_program(np.random.default_rng(len(program.layers) + 40), max_layers=3)
    program.encoder = {"kind": "thermometer", "features": 2, "levels": 3}
    program.dataset = "mnist"
    graph = load_graph(save_program(program, tmp_path / "p"))
    assert (graph.timesteps, graph.input_name) == (program.timesteps, "input")
    assert graph.input_shape == (program.inputs,)
    assert (graph.encoder, graph.dataset) == (program.encoder, program.dataset)
    sources = ["input", *(layer.name for layer in program.layers[:-1])]
    for layer, population, projection, source in zip(
        program.layers, graph.populations, graph.projections, sources, strict=True
    ):
        header = layer.header()
        assert population.header() == {
            "name": layer.name,
            "shape": [layer.outputs],
            **{key: header[key] for key in ("neuron", "burst_max", "leak_shift", "reset")},
            "v_bits": layer.v_bits,
        }
        np.testing.assert_array_equal(population.threshold, layer.threshold)
        np.testing.assert_array_equal(population.bias, layer.bias)
        weight = graph.weights[layer.name]  # named after the layer, like its population
        assert weight.bits == layer.weight_bits
        np.testing.assert_array_equal(weight.values, layer.weight)
        assert projection.header() == {
            "source": source,
            "target": layer.name,
            "kind": "dense",
            "weight": layer.name,
            "gain_shift": 0,
        }
    # Saved as format 2 and read back, it is the same graph.
    _assert_same(load_graph(save_graph(graph, tmp_path / "g")), graph)


def test_format_1_layer_named_input(tmp_path):
    program = random_program(np.random.default_rng(1), max_layers=1)
    program.layers[0].name = "input"
    graph = load_graph(save_program(program, tmp_path / "p"))
    assert graph.input_name == "input_0" and graph.populations[0].name == "input"
    program.layers[0].name = "input_0"
    assert graph_from_chain(program).input_name == "input"


def test_format_1_errors_are_format_1_errors(tmp_path):
    program = random_program(np.random.default_rng(2), max_layers=1)
    path = save_program(program, tmp_path / "p")
    header = yaml.safe_load((path / "program.yaml").read_text())
    header["layers"][0]["v_bits"] = 99
    (path / "program.yaml").write_text(yaml.safe_dump(header))
    with pytest.raises(ProgramError, match=r"layer 0 \('l0'\): v_bits: 99 is out of range"):
        load_graph(path)


# --- malformed program.yaml -------------------------------------------------------------------


def _top(key, value):
    return lambda h: h.__setitem__(key, value)


def _pop(index, key, value):
    return lambda h: h["populations"][index].__setitem__(key, value)


def _scan(key, value):
    return lambda h: h["populations"][1]["scan"].__setitem__(key, value)


def _proj(index, key, value):
    return lambda h: h["projections"][index].__setitem__(key, value)


def _weight(index, key, value):
    return lambda h: h["weights"][index].__setitem__(key, value)


def _drop(*path):
    def edit(header):
        for key in path[:-1]:
            header = header[key]
        del header[path[-1]]

    return edit


def _all(*edits):
    def edit(header):
        for one in edits:
            one(header)

    return edit


# How the messages name the fixture's populations and projections.
C1, S, R, POOL, OUT = (
    f"populations[{i}] ('{n}')" for i, n in enumerate(["c1", "s", "r", "pool", "out"])
)
P0, P1, P2, P3, P4, P5, P6 = (
    f"projections[{i}] ({e})"
    for i, e in enumerate(
        ["x -> c1", "c1 -> s", "s -> r", "c1 -> r", "r -> pool", "pool -> out", "x -> out"]
    )
)
KINDS = "('dense', 'axis', 'conv', 'identity')"

# One case a line or two: (edit of program.yaml, the message it must give).
# fmt: off
YAML_CASES = {
    # top level
    "format": (_top("format", "spikeloom.program/3"),
        "format: 'spikeloom.program/3' is not supported"),
    "no format": (_drop("format"), "format: None is not supported"),
    "top key": (_top("populatons", []),
        "program.yaml: unknown key 'populatons'; did you mean 'populations'?"),
    "no weights": (_drop("weights"), "program.yaml: missing key 'weights'"),
    "timesteps 0": (_top("timesteps", 0), "timesteps: 0 is out of range (must be >= 1)"),
    "timesteps bool": (_top("timesteps", True), "timesteps: expected an integer, got True"),
    "timesteps float": (_top("timesteps", 2.0), "timesteps: expected an integer, got 2.0"),
    "populations list": (_top("populations", {"c1": 1}),
        "populations: expected a list, got {'c1': 1}"),
    "populations empty": (_all(_top("populations", []), _top("projections", [])),
        "populations: a Program needs at least one population"),
    "population entry": (lambda h: h["populations"].append("c2"),
        "populations[5]: expected a mapping, got 'c2'"),
    "encoder list": (_top("encoder", [1]), "encoder: expected a mapping with a 'kind'"),
    "encoder key": (_top("encoder", {"kind": "rate", "features": 32, "sed": 1}),
        "encoder: unknown key 'sed'; did you mean 'seed'?"),
    "dataset": (_top("dataset", "cifar"), "dataset: 'cifar' is not one of digits, mnist, fashion"),
    # input
    "input mapping": (_top("input", [2, 4, 4]),
        "input: expected a mapping {name, shape}, got [2, 4, 4]"),
    "input key": (lambda h: h["input"].__setitem__("shap", [1]),
        "input: unknown key 'shap'; did you mean 'shape'?"),
    "input no name": (_drop("input", "name"), "input: missing key 'name'"),
    "input rank 4": (lambda h: h["input"].__setitem__("shape", [1, 2, 4, 4]),
        "input.shape: expected a list of 1 to 3 sizes, got [1, 2, 4, 4]"),
    "input rank 0": (lambda h: h["input"].__setitem__("shape", []),
        "input.shape: expected a list of 1 to 3 sizes, got []"),
    "input size 0": (lambda h: h["input"].__setitem__("shape", [2, 0, 4]),
        "input.shape[1]: 0 is out of range (must be >= 1)"),
    "input size bool": (lambda h: h["input"].__setitem__("shape", [2, True, 4]),
        "input.shape[1]: expected an integer, got True"),
    "input name": (lambda h: h["input"].__setitem__("name", "2x"),
        "input: name '2x' is not an identifier"),
    "input reserved": (lambda h: h["input"].__setitem__("name", "weight"),
        "input: name 'weight' is reserved"),
    # names
    "population name": (_pop(0, "name", "c-1"), "populations[0]: name 'c-1' is not an identifier"),
    "population name int": (_pop(0, "name", 42), "populations[0]: name 42 is not an identifier"),
    "named like input": (_pop(0, "name", "x"),
        "populations[0]: name 'x' is already taken by the input"),
    "named twice": (_pop(1, "name", "c1"),
        "populations[1]: name 'c1' is already taken by populations[0]"),
    "named weight": (_pop(0, "name", "weight"), "populations[0]: name 'weight' is reserved"),
    "named encoder": (_pop(0, "name", "encoder"), "populations[0]: name 'encoder' is reserved"),
    "weight name": (_weight(0, "name", "my k"), "weights[0]: name 'my k' is not an identifier"),
    "weight twice": (_weight(1, "name", "k"), "weights[1]: weight 'k' is listed twice"),
    # populations
    "population key": (_pop(0, "vbits", 10),
        "populations[0]: unknown key 'vbits'; did you mean 'v_bits'?"),
    "population no reset": (_drop("populations", 0, "reset"),
        "populations[0]: missing key 'reset'"),
    "neuron": (_pop(0, "neuron", "izhikevich"),
        f"{C1}: neuron 'izhikevich' is not one of ('lif', 'lifb', 'readout', 'scan')"),
    "reset": (_pop(0, "reset", "hard"), f"{C1}: reset 'hard' is not one of ('zero', 'subtract')"),
    "shape rank 4": (_pop(0, "shape", [1, 4, 4, 4]),
        f"{C1}: shape: expected a list of 1 to 3 sizes, got [1, 4, 4, 4]"),
    "shape string": (_pop(0, "shape", "4x4x4"),
        f"{C1}: shape: expected a list of 1 to 3 sizes, got '4x4x4'"),
    "shape size 0": (_pop(0, "shape", [4, 0, 4]),
        f"{C1}: shape[1]: 0 is out of range (must be >= 1)"),
    "v_bits 7": (_pop(0, "v_bits", 7), f"{C1}: v_bits: 7 is out of range (must be in 8..32)"),
    "v_bits 33": (_pop(0, "v_bits", 33), f"{C1}: v_bits: 33 is out of range (must be in 8..32)"),
    "v_bits bool": (_pop(0, "v_bits", True), f"{C1}: v_bits: expected an integer, got True"),
    "lif burst 2": (_pop(0, "burst_max", 2),
        f"{C1}: burst_max: 2 is out of range (must be in 1..1 for a lif neuron)"),
    "lifb burst 1": (_pop(2, "burst_max", 1),
        f"{R}: burst_max: 1 is out of range (must be in 2..7 for a lifb neuron)"),
    "lifb burst 8": (_pop(2, "burst_max", 8),
        f"{R}: burst_max: 8 is out of range (must be in 2..7 for a lifb neuron)"),
    "scan burst 0": (_pop(1, "burst_max", 0),
        f"{S}: burst_max: 0 is out of range (must be in 1..7 for a scan neuron)"),
    "scan burst 8": (_pop(1, "burst_max", 8),
        f"{S}: burst_max: 8 is out of range (must be in 1..7 for a scan neuron)"),
    "readout burst 2": (_pop(4, "burst_max", 2),
        f"{OUT}: burst_max: 2 is out of range (must be in 1..1 for a readout neuron)"),
    "burst bool": (_pop(2, "burst_max", True), f"{R}: burst_max: expected an integer, got True"),
    "leak v_bits": (_pop(0, "leak_shift", 10),
        f"{C1}: leak_shift: 10 is out of range (must be in 0..9)"),
    "leak -1": (_pop(0, "leak_shift", -1),
        f"{C1}: leak_shift: -1 is out of range (must be in 0..9)"),
    "leak string": (_pop(0, "leak_shift", "1"), f"{C1}: leak_shift: expected an integer, got '1'"),
    "scan leak": (_pop(1, "leak_shift", 1), f"{S}: leak_shift must be null for a scan neuron"),
    "scan key": (_scan("carry", 1),
        "populations[1]: scan: unknown key 'carry'; did you mean 'carry_shift'?"),
    "scan no group": (_drop("populations", 1, "scan", "group"),
        "populations[1]: scan: missing key 'group'"),
    "scan mapping": (_pop(1, "scan", 2),
        "populations[1]: scan: expected a mapping {axis, group, carry_shift}, got 2"),
    "scan missing": (_drop("populations", 1, "scan"),
        f"{S}: a scan neuron needs scan: {{axis, group, carry_shift}}"),
    "scan on lif": (_pop(0, "scan", {"axis": 0, "group": 1, "carry_shift": 0}),
        f"{C1}: scan applies to scan neurons only (this one is lif)"),
    "scan axis 3": (_scan("axis", 3), f"{S}: scan.axis: 3 is out of range (must be in 0..2)"),
    "scan axis -1": (_scan("axis", -1), f"{S}: scan.axis: -1 is out of range (must be in 0..2)"),
    "scan group 0": (_scan("group", 0), f"{S}: scan.group: 0 is out of range (must be >= 1)"),
    "scan group bool": (_scan("group", True), f"{S}: scan.group: expected an integer, got True"),
    "scan carry -1": (_scan("carry_shift", -1),
        f"{S}: scan.carry_shift: -1 is out of range (must be in 0..8)"),
    "scan carry v_bits": (_scan("carry_shift", 9),
        f"{S}: scan.carry_shift: 9 is out of range (must be in 0..8)"),
    "readout not last": (_pop(3, "neuron", "readout"), f"{POOL}: a readout must be listed last"),
    # weights
    "weights key": (_weight(0, "bit", 2), "weights[0]: unknown key 'bit'; did you mean 'bits'?"),
    "weights no bits": (_drop("weights", 0, "bits"), "weights[0]: missing key 'bits'"),
    "bits 0": (_weight(0, "bits", 0),
        "weights[0] ('k'): bits: 0 is out of range (must be in 1..8)"),
    "bits 9": (_weight(0, "bits", 9),
        "weights[0] ('k'): bits: 9 is out of range (must be in 1..8)"),
    "bits bool": (_weight(0, "bits", True),
        "weights[0] ('k'): bits: expected an integer, got True"),
    "bits too few": (_weight(2, "bits", 2),
        "weights[2] ('fc'): weight.fc[0, 0] = 37 is not -2..1 for bits=2"),
    # projections: kinds and keys
    "kind": (_proj(0, "kind", "pool"), f"projections[0]: kind 'pool' is not one of {KINDS}"),
    "no kind": (_drop("projections", 0, "kind"), "projections[0]: missing key 'kind'"),
    "dense key": (_proj(5, "gainshift", 1),
        "projections[5] (dense): unknown key 'gainshift'; did you mean 'gain_shift'?"),
    "dense axis key": (_proj(5, "axis", 0),
        "projections[5] (dense): unknown key 'axis' (only axis projections have it)"),
    "axis key": (_proj(1, "axes", 0),
        "projections[1] (axis): unknown key 'axes'; did you mean 'axis'?"),
    "axis groups key": (_proj(1, "groups", 1),
        "projections[1] (axis): unknown key 'groups' (only conv projections have it)"),
    "conv key": (_proj(0, "strides", [1, 1]),
        "projections[0] (conv): unknown key 'strides'; did you mean 'stride'?"),
    "conv axis key": (_proj(0, "axis", 1),
        "projections[0] (conv): unknown key 'axis' (only axis projections have it)"),
    "identity key": (_proj(2, "sourse", "s"),
        "projections[2] (identity): unknown key 'sourse'; did you mean 'source'?"),
    "identity weight": (_proj(2, "weight", "mix"),
        "projections[2] (identity): an identity projection has no weight, got weight: 'mix'"),
    "dense no weight": (_drop("projections", 5, "weight"),
        "projections[5] (dense): missing key 'weight'"),
    "axis no axis": (_drop("projections", 1, "axis"), "projections[1] (axis): missing key 'axis'"),
    "conv no padding": (_drop("projections", 0, "padding"),
        "projections[0] (conv): missing key 'padding'"),
    "identity no gain": (_drop("projections", 2, "gain_shift"),
        "projections[2] (identity): missing key 'gain_shift'"),
    # projections: ends and order
    "no source": (_proj(1, "source", "ghost"),
        "projections[1] (ghost -> s): source 'ghost' is neither the input nor a population"),
    "no target": (_proj(1, "target", "t"),
        "projections[1] (c1 -> t): target 't' is neither the input nor a population"),
    "source list": (_proj(1, "source", ["c1"]), "projections[1]: source ['c1'] is not a name"),
    "target input": (_proj(3, "target", "x"),
        "projections[3] (c1 -> x): the input 'x' cannot be a target"),
    "self": (_proj(1, "source", "s"), "projections[1] (s -> s): 's' projects into itself"),
    "backwards": (_all(_proj(3, "source", "r"), _proj(3, "target", "c1")),
        "projections[3] (r -> c1): source 'r' is listed after its target 'c1'"),
    "readout source": (lambda h: h["projections"].append(
            {"source": "out", "target": "pool", "kind": "identity", "gain_shift": 0}),
        "projections[7] (out -> pool): source 'out' is a readout, which emits no spikes"),
    "no projection in": (lambda h: h["projections"].pop(4), f"{POOL}: no projection into it"),
    # projections: values
    "gain 8": (_proj(2, "gain_shift", 8), f"{P2}: gain_shift: 8 is out of range (must be in 0..7)"),
    "gain -1": (_proj(5, "gain_shift", -1),
        f"{P5}: gain_shift: -1 is out of range (must be in 0..7)"),
    "gain bool": (_proj(5, "gain_shift", False),
        f"{P5}: gain_shift: expected an integer, got False"),
    "stride 0": (_proj(0, "stride", [0, 1]), f"{P0}: stride[0]: 0 is out of range (must be >= 1)"),
    "stride bool": (_proj(0, "stride", [1, True]),
        f"{P0}: stride[1]: expected an integer, got True"),
    "stride scalar": (_proj(0, "stride", 2),
        f"{P0}: stride: expected two integers [rows, columns], got 2"),
    "padding -1": (_proj(0, "padding", [1, -1]),
        f"{P0}: padding[1]: -1 is out of range (must be >= 0)"),
    "groups 0": (_proj(0, "groups", 0), f"{P0}: groups: 0 is out of range (must be >= 1)"),
    "axis 3": (_proj(1, "axis", 3), f"{P1}: axis: 3 is out of range (must be in 0..2)"),
    "axis bool": (_proj(1, "axis", True), f"{P1}: axis: expected an integer, got True"),
    # projections: shapes
    "dense shape": (_proj(6, "source", "c1"),
        "projections[6] (c1 -> out): weight 'skip' has shape [32, 3], but this dense projection "
        "needs [64, 3]"),
    "axis rank": (_proj(4, "target", "out"),
        "projections[4] (r -> out): axis needs source and target of one rank, got [4, 4, 4] -> "
        "[3]"),
    "axis other size": (_pop(3, "shape", [4, 2, 1]),
        f"{P4}: target axis 1 has size 2; off the mixed axis (0) it must equal the source's (4) "
        "or be 1 (summed)"),
    "axis weight": (_all(_proj(1, "axis", 1), _proj(1, "weight", "fc")),
        f"{P1}: weight 'fc' has shape [4, 3], but this axis projection needs [4, 4]"),
    "conv output": (_proj(0, "padding", [0, 0]),
        f"{P0}: a 3x3 conv with stride [1, 1] and padding [0, 0] maps [2, 4, 4] to [4, 2, 2], "
        "not the target's [4, 4, 4]"),
    "conv stride": (_proj(0, "stride", [2, 1]),
        f"{P0}: a 3x3 conv with stride [2, 1] and padding [1, 1] maps [2, 4, 4] to [4, 2, 4], "
        "not the target's [4, 4, 4]"),
    "conv groups": (_proj(0, "groups", 3),
        f"{P0}: groups 3 must divide the source's 2 and the target's 4 channels"),
    "conv channels": (_proj(0, "groups", 1),
        f"{P0}: weight 'k' has shape [4, 1, 3, 3], but this conv projection needs [4, 2, kh, kw] "
        "([C_out, C_in/groups, kh, kw])"),
    "conv rank": (
        lambda h: h["projections"][5].update(kind="conv", stride=[1, 1], padding=[0, 0], groups=1),
        f"{P5}: conv needs [C, H, W] shapes, got [4, 1, 1] -> [3]"),
    "identity shapes": (_proj(3, "source", "x"),
        "projections[3] (x -> r): identity needs equal shapes, got [2, 4, 4] -> [4, 4, 4]"),
    "two shapes": (_proj(6, "weight", "fc"),
        f"{P6}: weight 'fc' is used with two shapes: [4, 3] by projections[5] (pool -> out), but "
        "this dense projection needs [32, 3]"),
    "missing weight": (_proj(5, "weight", "fc2"),
        f"{P5}: weight 'fc2' is not listed under weights"),
    "weight null": (_proj(5, "weight", None), f"{P5}: weight None is not listed under weights"),
    "unused weight": (lambda h: h["projections"].pop(6),
        "weights[3] ('skip'): no projection uses it"),
    # projections: channel ranges (projection 3 is the identity c1 [4, 4, 4] -> r [4, 4, 4])
    "channels past the target": (_proj(3, "channels", [2, 6]),
        f"{P3}: channels [2, 6] exceeds the target's 4 channels"),
    "channels empty": (_proj(3, "channels", [2, 2]),
        f"{P3}: channels [2, 2] is empty (start must be below stop)"),
    "channels reversed": (_proj(3, "channels", [3, 1]),
        f"{P3}: channels [3, 1] is empty (start must be below stop)"),
    "channels negative": (_proj(3, "channels", [-1, 2]),
        f"{P3}: channels[0]: -1 is out of range (must be >= 0)"),
    "channels scalar": (_proj(3, "channels", 2),
        f"{P3}: channels: expected two integers [start, stop], got 2"),
    "channels three": (_proj(3, "channels", [0, 1, 2]),
        f"{P3}: channels: expected two integers [start, stop], got [0, 1, 2]"),
    "channels bool": (_proj(3, "channels", [0, True]),
        f"{P3}: channels[1]: expected an integer, got True"),
    "channels float": (_proj(3, "channels", [0, 2.0]),
        f"{P3}: channels[1]: expected an integer, got 2.0"),
    "channels null": (_proj(3, "channels", None),
        "projections[3] (identity): channels: expected two integers [start, stop], got None "
        "(leave the key out for the whole target)"),
    "dense channels": (_proj(5, "channels", [0, 1]),
        "projections[5] (dense): unknown key 'channels' (only axis and conv and identity "
        "projections have it)"),
    "identity range shape": (_proj(3, "channels", [0, 2]),
        f"{P3}: identity needs equal shapes, got [4, 4, 4] -> [2, 4, 4] (channels [0, 2] of "
        "[4, 4, 4])"),
    "axis range size": (_all(_proj(1, "axis", 1), _proj(1, "channels", [1, 3])),
        f"{P1}: the target's channel range [1, 3] has size 2; off the mixed axis (1) it must "
        "equal the source's (4) or be 1 (summed)"),
    "axis range weight": (_proj(1, "channels", [1, 3]),
        f"{P1}: weight 'mix' has shape [4, 4], but this axis projection needs [4, 2]"),
    "conv range weight": (_proj(0, "channels", [0, 2]),
        f"{P0}: weight 'k' has shape [4, 1, 3, 3], but this conv projection needs "
        "[2, 1, kh, kw]"),
    "conv range groups": (_proj(0, "channels", [0, 3]),
        f"{P0}: groups 2 must divide the source's 2 and the target's 3 channels in range [0, 3]"),
}
# fmt: on


# libyaml when present: the reader's own pure-Python parse is most of these tests' time already.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _edit_yaml(path, edit):
    header = yaml.load((path / "program.yaml").read_text(), Loader=_LOADER)
    edit(header)
    (path / "program.yaml").write_text(yaml.dump(header, Dumper=_DUMPER, sort_keys=False))


def _edit_npz(path, edit):
    with np.load(path / "program.npz") as npz:
        arrays = dict(npz)
    edit(arrays)
    np.savez(path / "program.npz", **arrays)


def _rejects(path, message):
    with pytest.raises(ProgramError, match=re.escape(message)):
        load_graph(path)


@pytest.mark.parametrize("edit, message", YAML_CASES.values(), ids=YAML_CASES.keys())
def test_malformed_yaml_is_rejected_naming_the_field(saved, edit, message):
    _edit_yaml(saved, edit)
    _rejects(saved, message)


# --- malformed program.npz --------------------------------------------------------------------


def _set(key, value):
    return lambda arrays: arrays.__setitem__(key, value(arrays[key]))


def _pop_array(key):
    return lambda arrays: arrays.pop(key)


# fmt: off
NPZ_CASES = {
    "no weight": (_pop_array("weight.k"), "program.npz: missing array weight.k"),
    "no threshold": (_pop_array("c1.threshold"), "program.npz: missing array c1.threshold"),
    "no bias": (_pop_array("s.bias"), "program.npz: missing array s.bias"),
    "stray array": (lambda a: a.__setitem__("c2.bias", a["c1.bias"]),
        "program.npz: array 'c2.bias' belongs to nothing in program.yaml"),
    "threshold 0": (_set("c1.threshold", lambda t: np.where(t == t[1], 0, t).astype(np.int32)),
        f"{C1}: threshold[1, 0, 0] = 0 is outside 1..511 (v_bits=10)"),
    "threshold v_bits": (_set("s.threshold", lambda t: np.full_like(t, 256)),
        f"{S}: threshold[0, 0, 0] = 256 is outside 1..255 (v_bits=9)"),
    "bias v_bits": (_set("pool.bias", lambda b: np.full_like(b, -2049)),
        f"{POOL}: bias[0, 0, 0] = -2049 is outside -2048..2047 (v_bits=12)"),
    "threshold axis": (_set("c1.threshold", lambda t: np.ones((4, 2, 1), np.int32)),
        f"{C1}: threshold has shape [4, 2, 1], which does not broadcast to [4, 4, 4]"),
    "bias rank": (_set("c1.bias", lambda b: b.reshape(4)),
        f"{C1}: bias has shape [4], which does not broadcast to [4, 4, 4]"),
    "readout threshold": (_set("out.threshold", lambda t: np.ones((1, 3), np.int32)),
        f"{OUT}: threshold has shape [1, 3], which does not broadcast to [3]"),
    "threshold int64": (_set("c1.threshold", lambda t: t.astype(np.int64)),
        f"{C1}: threshold must be an int32 array, got int64"),
    "bias float": (_set("r.bias", lambda b: b.astype(np.float32)),
        f"{R}: bias must be an int32 array, got float32"),
    "weight int32": (_set("weight.fc", lambda w: w.astype(np.int32)),
        "weights[2] ('fc'): weight.fc must be an int8 array, got int32"),
    "weight range": (_set("weight.k", lambda w: np.full_like(w, 2)),
        "weights[0] ('k'): weight.k[0, 0, 0, 0] = 2 is not -2..1 for bits=2"),
    "binary weight 0": (_set("weight.mix", lambda w: np.where(np.eye(4) > 0, 0, w).astype(np.int8)),
        "weights[1] ('mix'): weight.mix[0, 0] = 0 is not +1 or -1 for bits=1"),
    "binary weight 2": (_set("weight.skip", lambda w: np.full_like(w, 2)),
        "weights[3] ('skip'): weight.skip[0, 0] = 2 is not +1 or -1 for bits=1"),
    "dense weight shape": (_set("weight.fc", lambda w: np.ones((4, 4), np.int8)),
        f"{P5}: weight 'fc' has shape [4, 4], but this dense projection needs [4, 3]"),
    "shared weight shape": (_set("weight.mix", lambda w: np.ones((4, 2), np.int8)),
        f"{P1}: weight 'mix' has shape [4, 2], but this axis projection needs [4, 4]"),
    "conv kernel shape": (_set("weight.k", lambda w: np.ones((4, 1, 5, 5), np.int8)),
        f"{P0}: a 5x5 conv with stride [1, 1] and padding [1, 1] maps [2, 4, 4] to [4, 2, 2]"),
    "conv empty kernel": (_set("weight.k", lambda w: np.ones((4, 1, 0, 3), np.int8)),
        f"{P0}: weight 'k' has an empty kernel, [4, 1, 0, 3]"),
    "conv weight rank": (_set("weight.k", lambda w: w.reshape(4, 9)),
        f"{P0}: weight 'k' has shape [4, 9], but this conv projection needs [4, 1, kh, kw]"),
}
# fmt: on


@pytest.mark.parametrize("edit, message", NPZ_CASES.values(), ids=NPZ_CASES.keys())
def test_malformed_arrays_are_rejected_naming_the_array(saved, edit, message):
    _edit_npz(saved, edit)
    _rejects(saved, message)


def test_unused_weight_with_its_array(saved):
    _edit_yaml(saved, lambda h: h["weights"].append({"name": "spare", "bits": 1}))
    _rejects(saved, "program.npz: missing array weight.spare")
    _edit_npz(saved, lambda a: a.__setitem__("weight.spare", np.ones(3, np.int8)))
    _rejects(saved, "weights[4] ('spare'): no projection uses it")


def test_broken_files(tmp_path, saved):
    data = (saved / "program.npz").read_bytes()
    for cut in (len(data) // 2, 40):
        (saved / "program.npz").write_bytes(data[:cut])
        _rejects(saved, "program.npz: unreadable")
    (saved / "program.npz").write_bytes(data[:-30] + bytes(30))  # a damaged directory
    _rejects(saved, "program.npz: unreadable")
    (saved / "program.npz").write_bytes(data)
    (saved / "program.yaml").write_text("populations: [unclosed")
    _rejects(saved, "program.yaml: not valid YAML")
    (saved / "program.yaml").write_text("- a list")
    _rejects(saved, "program.yaml: expected a mapping at the top level")
    _rejects(tmp_path / "nowhere", "no such Program folder")
    _rejects(saved / "program.yaml", "is a file, not a Program folder")
    (saved / "program.npz").unlink()
    _rejects(saved, "missing program.npz (is this a Program folder?)")


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75])
def test_corrupted_member_data(saved, fraction):
    """A flipped byte inside an array's compressed data: zlib or the CRC check catches it."""
    with zipfile.ZipFile(saved / "program.npz") as archive:
        member = max(archive.infolist(), key=lambda info: info.compress_size)
    data = bytearray((saved / "program.npz").read_bytes())
    # The data follows the member's local header: 30 bytes, its name and its extra field.
    header = member.header_offset
    name_length = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_length = int.from_bytes(data[header + 28 : header + 30], "little")
    start = header + 30 + name_length + extra_length
    data[start + int(member.compress_size * fraction)] ^= 0xFF
    (saved / "program.npz").write_bytes(bytes(data))
    _rejects(saved, "program.npz: unreadable")


# --- in memory --------------------------------------------------------------------------------


def test_save_validates_before_writing(tmp_path, graph):
    graph.projections[2].gain_shift = 8
    with pytest.raises(ProgramError, match=re.escape(f"{P2}: gain_shift: 8 is out of range")):
        save_graph(graph, tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_validate_in_memory(graph):
    for population in graph.populations:  # shapes given as lists compare as tuples
        population.shape = list(population.shape)
    graph.input_shape = list(graph.input_shape)
    graph.validate()
    graph.weights["k"].name = "kernel"
    with pytest.raises(ProgramError, match=re.escape("weights[0]: listed as 'k' but named")):
        graph.validate()
    graph.weights["k"].name = "k"
    graph.populations[0].threshold = [1, 2, 3, 4]
    with pytest.raises(ProgramError, match=re.escape(f"{C1}: threshold must be an int32 array")):
        graph.validate()


def test_channel_ranges_in_memory():
    graph = _concatenation()
    graph.projections[1].padding = (0, 0)
    with pytest.raises(ProgramError) as error:
        graph.validate()
    assert str(error.value) == (
        "projections[1] (x -> h): a 3x3 conv with stride [2, 2] and padding [0, 0] maps "
        "[2, 4, 4] to [2, 1, 1], not the target's [2, 2, 2] (channels [0, 2] of [5, 2, 2])"
    )
    graph = _concatenation()
    graph.projections.append(Projection("c", "h", "dense", "rows", channels=(0, 1)))
    with pytest.raises(ProgramError) as error:
        graph.validate()
    assert str(error.value) == (
        "projections[5] (c -> h): channels [0, 1] applies to axis, conv, identity projections "
        "only, not dense"
    )
    graph = _concatenation()
    graph.projections[4].channels = (np.int64(4), np.int64(7))
    with pytest.raises(ProgramError) as error:
        graph.validate()
    assert (
        str(error.value)
        == "projections[4] (c -> h): channels [4, 7] exceeds the target's 5 channels"
    )


def test_spikes_are_checked_against_the_input(graph):
    spikes = np.zeros((2, 3, 2, 4, 4), np.int64)
    assert check_graph_spikes(graph, spikes).dtype == np.uint8
    with pytest.raises(InputError, match=re.escape("expected (samples, 3, 2, 4, 4)")):
        check_graph_spikes(graph, spikes[:, :, 0])
    with pytest.raises(InputError, match="must be 0 or 1, found values in 0..2"):
        check_graph_spikes(graph, spikes + np.arange(3)[None, :, None, None, None])
    with pytest.raises(InputError, match="got dtype float32"):
        check_graph_spikes(graph, spikes.astype(np.float32))
