"""The Program format: round trips, and a clear error for every kind of malformed file."""

import numpy as np
import pytest
import yaml
from spikeloom.sw.compiler.program import FORMAT, load_program, save_program
from spikeloom.sw.compiler.random_program import random_program
from spikeloom.sw.errors import ProgramError


@pytest.fixture
def program():
    return random_program(np.random.default_rng(7), max_layers=3)


def test_round_trip_keeps_every_field(tmp_path, program):
    program.encoder = {"kind": "thermometer", "features": 3, "levels": 2}
    program.encoder_arrays = {"scale": np.arange(3, dtype=np.float32)}
    loaded = load_program(save_program(program, tmp_path / "p"))
    assert loaded.timesteps == program.timesteps and loaded.inputs == program.inputs
    assert loaded.encoder == program.encoder
    np.testing.assert_array_equal(loaded.encoder_arrays["scale"], np.arange(3))
    for a, b in zip(loaded.layers, program.layers):
        assert a.header() == b.header()
        for key in ("weight", "threshold", "bias"):
            assert getattr(a, key).dtype == getattr(b, key).dtype
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def _edit_yaml(path, edit):
    header = yaml.safe_load((path / "program.yaml").read_text())
    edit(header)
    (path / "program.yaml").write_text(yaml.safe_dump(header))


def _edit_npz(path, edit):
    with np.load(path / "program.npz") as npz:
        arrays = dict(npz)
    edit(arrays)
    np.savez(path / "program.npz", **arrays)


def _set_layer(key, value):
    return lambda header: header["layers"][0].__setitem__(key, value)


def _set_array(key, value):
    return lambda arrays: arrays.__setitem__(key, value(arrays[key]))


YAML_CASES = [
    (lambda h: h.__setitem__("format", "spikeloom.program/9"), "format: 'spikeloom.program/9'"),
    (lambda h: h.pop("format"), "format: None is not supported"),
    (lambda h: h.pop("timesteps"), "missing key 'timesteps'"),
    (lambda h: h.__setitem__("timesteps", 0), "timesteps: 0 is out of range"),
    (lambda h: h.__setitem__("timesteps", "four"), "timesteps: expected an integer"),
    (lambda h: h.__setitem__("layers", {}), "layers: expected a list"),
    (lambda h: h.__setitem__("layers", []), "at least one layer"),
    (lambda h: h["layers"][0].pop("v_bits"), "missing key 'v_bits'"),
    (_set_layer("neuron", "izhikevich"), "neuron 'izhikevich' is not one of"),
    (_set_layer("reset", "hard"), "reset 'hard' is not one of"),
    (_set_layer("v_bits", 40), "v_bits: 40 is out of range"),
    (_set_layer("weight_bits", 9), "weight_bits: 9 is out of range"),
    (_set_layer("leak_shift", 99), "leak_shift: 99 is out of range"),
    (_set_layer("inputs", 1000), "program.yaml says 1000x"),
    (_set_layer("name", "no spaces"), "is not an identifier"),
    (lambda h: h.__setitem__("encoder", [1, 2]), "encoder: expected a mapping"),
]


@pytest.mark.parametrize("edit, message", YAML_CASES)
def test_malformed_yaml_is_rejected_naming_the_field(tmp_path, program, edit, message):
    path = save_program(program, tmp_path / "p")
    _edit_yaml(path, edit)
    with pytest.raises(ProgramError, match=message.replace("(", r"\(")):
        load_program(path)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("l0.weight", lambda w: w.astype(np.int32), "weight must be a 2-d int8 array"),
        ("l0.weight", lambda w: w[:, :, None], "weight must be a 2-d int8 array"),
        ("l0.threshold", lambda t: np.zeros_like(t), "threshold\\[0\\] = 0 is outside"),
        ("l0.threshold", lambda t: t[:-1], "threshold has shape"),
        ("l0.bias", lambda b: np.full_like(b, 1 << 20), "bias\\[0\\] = 1048576 is outside"),
        ("l0.bias", lambda b: b.astype(np.float32), "bias must be a 1-d int32 array"),
    ],
)
def test_malformed_arrays_are_rejected_naming_the_array(tmp_path, program, key, value, message):
    path = save_program(program, tmp_path / "p")
    _edit_npz(path, _set_array(key, value))
    with pytest.raises(ProgramError, match=message):
        load_program(path)


def test_binary_weight_zero_is_rejected(tmp_path, program):
    program.layers[0].weight_bits = 1
    program.layers[0].weight = np.where(program.layers[0].weight >= 0, 1, -1).astype(np.int8)
    path = save_program(program, tmp_path / "p")
    _edit_npz(path, _set_array("l0.weight", lambda w: np.where(w > 0, 0, w).astype(np.int8)))
    with pytest.raises(ProgramError, match=r"weight\[\d+, \d+\] = 0 is not \+1 or -1"):
        load_program(path)


def test_multibit_weight_out_of_range_is_rejected(program):
    program.layers[0].weight_bits = 2
    program.layers[0].weight = np.full_like(program.layers[0].weight, 2)
    with pytest.raises(ProgramError, match="is not -2..1 for weight_bits=2"):
        program.validate()


def test_missing_array_and_missing_files(tmp_path, program):
    path = save_program(program, tmp_path / "p")
    _edit_npz(path, lambda arrays: arrays.pop("l0.bias"))
    with pytest.raises(ProgramError, match="missing array l0.bias"):
        load_program(path)
    with pytest.raises(ProgramError, match="no such Program folder"):
        load_program(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProgramError, match="missing program.yaml"):
        load_program(tmp_path / "empty")


def test_garbage_files_are_rejected(tmp_path, program):
    path = save_program(program, tmp_path / "p")
    (path / "program.npz").write_bytes(b"not a zip")
    with pytest.raises(ProgramError, match="unreadable"):
        load_program(path)
    (path / "program.yaml").write_text("layers: [unclosed")
    with pytest.raises(ProgramError, match="not valid YAML"):
        load_program(path)
    (path / "program.yaml").write_text("- a list")
    with pytest.raises(ProgramError, match="mapping at the top level"):
        load_program(path)


def test_structural_rules(program):
    program.layers[0].burst_max = 9
    program.layers[0].neuron = "lifb"
    with pytest.raises(ProgramError, match="burst_max: 9 is out of range"):
        program.validate()


def test_readout_must_be_last():
    program = random_program(np.random.default_rng(3), max_layers=3)
    while len(program.layers) < 2:
        program = random_program(np.random.default_rng(len(program.layers) + 11))
    program.layers[0].neuron, program.layers[0].burst_max = "readout", 1
    with pytest.raises(ProgramError, match="must be last"):
        program.validate()


def test_layer_inputs_must_chain(program):
    program.inputs += 1
    with pytest.raises(ProgramError, match="inputs but the layer before gives"):
        program.validate()


def test_format_constant():
    assert FORMAT == "spikeloom.program/1"
