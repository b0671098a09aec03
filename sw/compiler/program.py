"""The Program format `spikeloom.program/1`: load, save and validate.

A Program is a directory holding `program.yaml` (the structure) and `program.npz` (the integer
weights, thresholds and biases). `docs/program-format.md` describes both files; `docs/semantics.md`
gives the arithmetic every backend computes from them. Validation names the offending field
and value, so a malformed file never ends in a traceback.
"""

import difflib
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from spikeloom.hw.params import (
    BURST_MAX,
    NEURON_KINDS,
    RESET_KINDS,
    V_BITS,
    WEIGHT_BITS,
    v_range,
    weight_range,
)
from spikeloom.models.datasets import DATASETS
from spikeloom.sw.errors import InputError, ProgramError

__all__ = [
    "FORMAT",
    "Layer",
    "Program",
    "load_program",
    "save_program",
    "check_spikes",
    "check_spike_array",
    "check_name",
    "reject_unknown_keys",
    "ENCODER_KEYS",
]

FORMAT = "spikeloom.program/1"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LAYER_KEYS = (
    "name",
    "inputs",
    "outputs",
    "weight_bits",
    "neuron",
    "burst_max",
    "leak_shift",
    "reset",
    "v_bits",
)
#: Keys `program.yaml` may hold at its top level, and in an `encoder` mapping of each kind: any
#: other key is a typo or a newer format, and is rejected rather than silently ignored.
_TOP_KEYS = ("format", "timesteps", "inputs", "layers", "encoder", "dataset")
ENCODER_KEYS = {
    "thermometer": ("kind", "features", "levels"),
    "thermometer_image": ("kind", "features", "levels", "height", "width"),
    "rate": ("kind", "features", "seed"),
    "analog": ("kind", "features", "width", "leak_shift", "reset"),
}
#: Largest |partial sum| a float32 matrix product keeps exact.
FLOAT32_EXACT = 1 << 24


@dataclass
class Layer:
    """One engine layer: `inputs -> outputs` neurons with integer parameters."""

    name: str
    weight: np.ndarray  # int8 [inputs, outputs], logical values (+1/-1 when binary)
    threshold: np.ndarray  # int32 [outputs], >= 1
    bias: np.ndarray  # int32 [outputs]
    weight_bits: int = 1
    neuron: str = "lif"
    burst_max: int = 1
    leak_shift: int | None = None
    reset: str = "zero"
    v_bits: int = 16

    @property
    def inputs(self) -> int:
        return int(self.weight.shape[0])

    @property
    def outputs(self) -> int:
        return int(self.weight.shape[1])

    @property
    def spiking(self) -> bool:
        return self.neuron != "readout"

    def max_abs_current(self, max_count: int) -> int:
        """Bound on |z| when every input carries `max_count` events in one timestep."""
        column = np.abs(self.weight.astype(np.int64)).sum(axis=0)
        return int(column.max(initial=0)) * max_count

    def header(self) -> dict:
        return {
            "name": self.name,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "weight_bits": self.weight_bits,
            "neuron": self.neuron,
            "burst_max": self.burst_max,
            "leak_shift": self.leak_shift,
            "reset": self.reset,
            "v_bits": self.v_bits,
        }


@dataclass
class Program:
    """A compiled spiking MLP: `timesteps`, `inputs` spike channels and a list of layers.

    `encoder` optionally records how the host turns raw samples into input spikes (it is not
    run by any engine); `encoder_arrays` holds its tensors.
    """

    timesteps: int
    inputs: int
    layers: list[Layer]
    encoder: dict | None = None
    encoder_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    #: The data set the model was trained on (`models.datasets.DATASETS`), when known: `encode`
    #: and `eval` use it unless told otherwise.
    dataset: str | None = None

    @property
    def outputs(self) -> int:
        return self.layers[-1].outputs

    def layer_input_counts(self) -> list[int]:
        """Most events one input of each layer can carry per timestep."""
        counts, count = [], 1
        for layer in self.layers:
            counts.append(count)
            count = layer.burst_max
        return counts

    def validate(self) -> "Program":
        """Check every rule of the format; raise `ProgramError` naming the field otherwise."""
        _check_int("timesteps", self.timesteps, 1)
        _check_int("inputs", self.inputs, 1)
        if not self.layers:
            raise ProgramError("layers: a Program needs at least one layer")
        names = set()
        n_in = self.inputs
        for index, layer in enumerate(self.layers):
            where = f"layer {index} ({layer.name!r})"
            check_name(f"layer {index}", layer.name)
            if layer.name in names or layer.name == "encoder":
                raise ProgramError(f"{where}: name is used twice or reserved")
            names.add(layer.name)
            _validate_layer(layer, where, n_in)
            if layer.neuron == "readout" and index != len(self.layers) - 1:
                raise ProgramError(f"{where}: a readout layer emits no spikes, so it must be last")
            n_in = layer.outputs
        return self


def check_name(where: str, name) -> None:
    """Names key the npz arrays (`<name>.weight`), so they must be plain identifiers."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ProgramError(f"{where}: name {name!r} is not an identifier")


def _check_int(what: str, value, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ProgramError(f"{what}: expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        limit = f">= {low}" if high is None else f"in {low}..{high}"
        raise ProgramError(f"{what}: {value} is out of range (must be {limit})")


def _validate_layer(layer: Layer, where: str, n_in: int) -> None:
    _check_int(f"{where}: weight_bits", layer.weight_bits, WEIGHT_BITS.start, WEIGHT_BITS.stop - 1)
    _check_int(f"{where}: v_bits", layer.v_bits, V_BITS.start, V_BITS.stop - 1)
    if layer.neuron not in NEURON_KINDS:
        raise ProgramError(f"{where}: neuron {layer.neuron!r} is not one of {NEURON_KINDS}")
    if layer.reset not in RESET_KINDS:
        raise ProgramError(f"{where}: reset {layer.reset!r} is not one of {RESET_KINDS}")
    if layer.neuron == "lifb":
        _check_int(f"{where}: burst_max", layer.burst_max, 2, BURST_MAX)
    else:
        _check_int(f"{where}: burst_max", layer.burst_max, 1, 1)
    if layer.leak_shift is not None:
        _check_int(f"{where}: leak_shift", layer.leak_shift, 0, layer.v_bits - 1)

    for key, array, dtype, ndim in (
        ("weight", layer.weight, np.int8, 2),
        ("threshold", layer.threshold, np.int32, 1),
        ("bias", layer.bias, np.int32, 1),
    ):
        if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != ndim:
            got = f"{array.dtype}, {array.ndim}-d" if isinstance(array, np.ndarray) else "none"
            raise ProgramError(
                f"{where}: {key} must be a {ndim}-d {np.dtype(dtype)} array, got {got}"
            )
    if layer.inputs != n_in:
        raise ProgramError(
            f"{where}: weight has {layer.inputs} inputs but the layer before gives {n_in}"
        )
    if layer.outputs < 1:
        raise ProgramError(f"{where}: weight has no outputs")
    for key in ("threshold", "bias"):
        if getattr(layer, key).shape != (layer.outputs,):
            raise ProgramError(
                f"{where}: {key} has shape {getattr(layer, key).shape}, expected ({layer.outputs},)"
            )

    low, high = weight_range(layer.weight_bits)
    bad = (layer.weight < low) | (layer.weight > high)
    if layer.weight_bits == 1:
        bad |= layer.weight == 0
    if bad.any():
        i, j = np.argwhere(bad)[0]
        allowed = "+1 or -1" if layer.weight_bits == 1 else f"{low}..{high}"
        raise ProgramError(
            f"{where}: weight[{i}, {j}] = {layer.weight[i, j]} is not {allowed} "
            f"for weight_bits={layer.weight_bits}"
        )

    v_low, v_high = v_range(layer.v_bits)
    # A threshold must be a representable membrane value, or the neuron could never fire.
    _check_array(f"{where}: threshold", layer.threshold, 1, v_high, f"v_bits={layer.v_bits}")
    _check_array(f"{where}: bias", layer.bias, v_low, v_high, f"v_bits={layer.v_bits}")


def _check_array(what: str, array: np.ndarray, low: int, high: int, why: str) -> None:
    bad = (array < low) | (array > high)
    if bad.any():
        j = int(np.argmax(bad))
        raise ProgramError(f"{what}[{j}] = {array[j]} is outside {low}..{high} ({why})")


def save_program(program: Program, path: str | Path) -> Path:
    """Write `program` as a directory; returns its path."""
    program.validate()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    header = {
        "format": FORMAT,
        "timesteps": int(program.timesteps),
        "inputs": int(program.inputs),
        "layers": [layer.header() for layer in program.layers],
    }
    if program.encoder is not None:
        header["encoder"] = program.encoder
    if program.dataset is not None:
        header["dataset"] = program.dataset
    arrays = {}
    for layer in program.layers:
        arrays[f"{layer.name}.weight"] = layer.weight
        arrays[f"{layer.name}.threshold"] = layer.threshold
        arrays[f"{layer.name}.bias"] = layer.bias
    for key, value in program.encoder_arrays.items():
        arrays[f"encoder.{key}"] = value
    (path / "program.yaml").write_text(yaml.safe_dump(header, sort_keys=False))
    np.savez_compressed(path / "program.npz", **arrays)
    return path


def load_program(path: str | Path) -> Program:
    """Read and validate a Program directory; raise `ProgramError` on anything malformed."""
    path = Path(path)
    if not path.exists():
        raise ProgramError(f"{path}: no such Program folder")
    if not path.is_dir():
        raise ProgramError(f"{path} is a file, not a Program folder")
    header_file, arrays_file = path / "program.yaml", path / "program.npz"
    for file in (header_file, arrays_file):
        if not file.is_file():
            raise ProgramError(f"{path}: missing {file.name} (is this a Program directory?)")
    try:
        header = yaml.safe_load(header_file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ProgramError(f"{header_file}: not valid YAML ({error})".splitlines()[0]) from None
    if not isinstance(header, dict):
        raise ProgramError(f"{header_file}: expected a mapping at the top level")
    fmt = header.get("format")
    if fmt != FORMAT:
        raise ProgramError(f"format: {fmt!r} is not supported (this reader knows {FORMAT!r})")
    reject_unknown_keys(header_file.name, header, _TOP_KEYS)
    for key in ("timesteps", "inputs", "layers"):
        if key not in header:
            raise ProgramError(f"{header_file}: missing key {key!r}")
    if not isinstance(header["layers"], list):
        raise ProgramError("layers: expected a list")
    try:
        with np.load(arrays_file, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise ProgramError(f"{arrays_file}: unreadable ({error})") from None

    layers = []
    for index, entry in enumerate(header["layers"]):
        if not isinstance(entry, dict):
            raise ProgramError(f"layers[{index}]: expected a mapping")
        reject_unknown_keys(f"layers[{index}]", entry, _LAYER_KEYS)
        missing = [key for key in _LAYER_KEYS if key not in entry]
        if missing:
            raise ProgramError(f"layers[{index}]: missing key {missing[0]!r}")
        name = entry["name"]
        check_name(f"layer {index}", name)
        tensors = {}
        for key in ("weight", "threshold", "bias"):
            if f"{name}.{key}" not in arrays:
                raise ProgramError(f"{arrays_file.name}: missing array {name}.{key}")
            tensors[key] = arrays[f"{name}.{key}"]
        layer = Layer(
            name=name,
            **tensors,
            **{key: entry[key] for key in _LAYER_KEYS[3:]},
        )
        where = f"layer {index} ({name!r})"
        for key in ("inputs", "outputs"):
            _check_int(f"{where}: {key}", entry[key], 1)
        if (
            tensors["weight"].ndim == 2
            and (entry["inputs"], entry["outputs"]) != tensors["weight"].shape
        ):
            raise ProgramError(
                f"{where}: program.yaml says {entry['inputs']}x{entry['outputs']} but "
                f"{name}.weight has shape {tensors['weight'].shape}"
            )
        layers.append(layer)

    encoder = header.get("encoder")
    if encoder is not None and not (isinstance(encoder, dict) and "kind" in encoder):
        raise ProgramError("encoder: expected a mapping with a 'kind'")
    if encoder is not None and encoder["kind"] in ENCODER_KEYS:
        reject_unknown_keys("encoder", encoder, ENCODER_KEYS[encoder["kind"]])
    dataset = header.get("dataset")
    if dataset is not None and dataset not in DATASETS:
        raise ProgramError(f"dataset: {dataset!r} is not one of {', '.join(DATASETS)}")
    encoder_arrays = {
        key.removeprefix("encoder."): value
        for key, value in arrays.items()
        if key.startswith("encoder.")
    }
    program = Program(
        timesteps=header["timesteps"],
        inputs=header["inputs"],
        layers=layers,
        encoder=encoder,
        encoder_arrays=encoder_arrays,
        dataset=dataset,
    )
    return program.validate()


def reject_unknown_keys(where: str, mapping: dict, allowed) -> None:
    """A typo must not pass silently: name the first key not in `allowed`, and the closest."""
    unknown = [key for key in mapping if key not in allowed]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (allowed: {', '.join(allowed)})"
        raise ProgramError(f"{where}: unknown key {key!r}{hint}")


def check_spikes(program: Program, spikes) -> np.ndarray:
    """Validate input spikes `[samples, T, inputs]` of 0/1 against `program`; return uint8."""
    return check_spike_array(spikes, (program.timesteps, program.inputs))


def check_spike_array(spikes, expected: tuple[int, ...]) -> np.ndarray:
    """Validate input spikes `[samples, *expected]` of 0/1; return them as uint8.

    The result is C-contiguous, so batches of it convert to tensors without a copy.
    """
    spikes = np.asarray(spikes)
    if spikes.ndim != 1 + len(expected) or spikes.shape[1:] != tuple(expected):
        raise InputError(
            f"input spikes have shape {spikes.shape}, expected (samples, "
            f"{', '.join(map(str, expected))}) for this Program"
        )
    if spikes.dtype.kind not in "biu":
        raise InputError(f"input spikes must be integers 0/1, got dtype {spikes.dtype}")
    if spikes.size and (spikes.min() < 0 or spikes.max() > 1):
        raise InputError(
            f"input spikes must be 0 or 1, found values in {spikes.min()}..{spikes.max()}"
        )
    return np.ascontiguousarray(spikes, dtype=np.uint8)
