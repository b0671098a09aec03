"""The Program format `spikeloom.program/2`: a graph of populations, shared weights and
projections. Load, save and validate; a format-1 Program reads as the graph it is.

`docs/program-format.md` describes the files and `docs/semantics.md` the arithmetic. In short:
populations (tensors of neurons of rank 1..3, thresholds and biases at a broadcast shape) are
updated in list order at every timestep; each first sums the projections into it (`dense`,
`axis`, `conv`, `identity`, from the input or populations listed before it, at the same
timestep), then updates by the neuron rules. Weight tensors are named and stored once, however
many projections use them. Validation names the field and the value of anything malformed.
"""

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from spikeloom.hw.params import BURST_MAX, RESET_KINDS, V_BITS, WEIGHT_BITS, v_range, weight_range
from spikeloom.models.datasets import DATASETS
from spikeloom.sw.compiler.program import (
    FORMAT as CHAIN_FORMAT,
)
from spikeloom.sw.compiler.program import (
    Program,
    check_name,
    load_program,
    reject_unknown_keys,
)
from spikeloom.sw.errors import InputError, ProgramError

__all__ = [
    "GRAPH_FORMAT",
    "NEURONS",
    "KINDS",
    "Scan",
    "Population",
    "Weight",
    "Projection",
    "Graph",
    "conv_output_shape",
    "graph_from_chain",
    "load_graph",
    "save_graph",
    "check_graph_spikes",
]

GRAPH_FORMAT = "spikeloom.program/2"
#: Neuron kinds of a population: section 2's three and the scan neuron.
NEURONS = ("lif", "lifb", "readout", "scan")
#: Projection kinds.
KINDS = ("dense", "axis", "conv", "identity")
#: Largest `gain_shift`: weights times 2^g stay a shift of the weight.
MAX_GAIN_SHIFT = 7
#: Name no input, population or weight may take (the arrays file uses it as a prefix).
RESERVED = "weight"

_TOP_KEYS = (
    "format",
    "timesteps",
    "input",
    "populations",
    "weights",
    "projections",
    "encoder",
    "dataset",
)
_POPULATION_KEYS = ("name", "shape", "neuron", "burst_max", "leak_shift", "reset", "v_bits", "scan")
_PROJECTION_KEYS = {
    "dense": ("source", "target", "kind", "weight", "gain_shift"),
    "axis": ("source", "target", "kind", "weight", "gain_shift", "axis"),
    "conv": ("source", "target", "kind", "weight", "gain_shift", "stride", "padding", "groups"),
    "identity": ("source", "target", "kind", "gain_shift"),
}


@dataclass(frozen=True)
class Scan:
    """A scan population's walk: along `axis`, in groups of `group` positions, the carry to the
    next position being the reset value times 2^-`carry_shift`, rounded half up."""

    axis: int
    group: int
    carry_shift: int


@dataclass
class Population:
    """A tensor of neurons of one kind; `threshold` and `bias` are int32 arrays of the same rank
    whose every axis equals the population's or is 1 (broadcast)."""

    name: str
    shape: tuple[int, ...]
    neuron: str
    threshold: np.ndarray
    bias: np.ndarray
    burst_max: int = 1
    leak_shift: int | None = None
    reset: str = "zero"
    v_bits: int = 16
    scan: Scan | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def spiking(self) -> bool:
        return self.neuron != "readout"

    def header(self) -> dict:
        entry = {
            "name": self.name,
            "shape": list(self.shape),
            "neuron": self.neuron,
            "burst_max": self.burst_max,
            "leak_shift": self.leak_shift,
            "reset": self.reset,
            "v_bits": self.v_bits,
        }
        if self.scan is not None:
            entry["scan"] = {
                "axis": self.scan.axis,
                "group": self.scan.group,
                "carry_shift": self.scan.carry_shift,
            }
        return entry


@dataclass
class Weight:
    """A named weight tensor, stored once: int8 logical values (+1/-1 when `bits` is 1)."""

    name: str
    bits: int
    values: np.ndarray


@dataclass
class Projection:
    """Adds `source`'s spike counts, times weights (times 2^`gain_shift`), into `target`'s
    current at the same timestep. `axis` for kind axis; `stride`, `padding`, `groups` for conv;
    no `weight` for identity."""

    source: str
    target: str
    kind: str
    weight: str | None = None
    gain_shift: int = 0
    axis: int | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1

    def header(self) -> dict:
        entry = {"source": self.source, "target": self.target, "kind": self.kind}
        if self.kind != "identity":
            entry["weight"] = self.weight
        entry["gain_shift"] = self.gain_shift
        if self.kind == "axis":
            entry["axis"] = self.axis
        if self.kind == "conv":
            entry.update(stride=list(self.stride), padding=list(self.padding), groups=self.groups)
        return entry


@dataclass
class Graph:
    """A format-2 Program: `timesteps`, an input of `input_shape`, populations in update order,
    weights by name and projections in the order they add into their targets."""

    timesteps: int
    input_name: str
    input_shape: tuple[int, ...]
    populations: list[Population]
    weights: dict[str, Weight]
    projections: list[Projection]
    encoder: dict | None = None
    encoder_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    dataset: str | None = None

    def population(self, name: str) -> Population:
        for population in self.populations:
            if population.name == name:
                return population
        raise KeyError(name)

    def shape_of(self, name: str) -> tuple[int, ...]:
        """The shape of the input or of a population."""
        return self.input_shape if name == self.input_name else self.population(name).shape

    def projections_into(self, name: str) -> list[Projection]:
        return [projection for projection in self.projections if projection.target == name]

    @property
    def readout(self) -> Population | None:
        last = self.populations[-1]
        return last if last.neuron == "readout" else None

    @property
    def outputs(self) -> int:
        """Length of the readout vector: the readout's size, else the last population's."""
        return self.populations[-1].size

    def validate(self) -> "Graph":
        _validate(self)
        return self


# --- shapes ---------------------------------------------------------------------------------


def conv_output_shape(
    source: tuple[int, ...], weight: tuple[int, ...], stride, padding
) -> tuple[int, int, int]:
    """`[C_out, H', W']` of a conv projection from `source` `[C_in, H, W]`."""
    _, height, width = source
    c_out, _, kh, kw = weight
    return (
        c_out,
        (height + 2 * padding[0] - kh) // stride[0] + 1,
        (width + 2 * padding[1] - kw) // stride[1] + 1,
    )


def _weight_shape(projection: Projection, source: tuple, target: tuple, where: str) -> tuple:
    """The weight shape `projection` needs between `source` and `target`; raises when the two
    shapes cannot be joined by it."""
    kind = projection.kind
    if kind == "dense":
        return (int(np.prod(source)), int(np.prod(target)))
    if kind == "identity":
        if source != target:
            raise ProgramError(f"{where}: identity needs equal shapes, got {source} -> {target}")
        return ()
    if kind == "axis":
        axis = projection.axis
        if len(source) != len(target):
            raise ProgramError(
                f"{where}: axis needs source and target of one rank, got {source} -> {target}"
            )
        _check_int(f"{where}: axis", axis, 0, len(source) - 1)
        for other, (s, t) in enumerate(zip(source, target, strict=True)):
            if other != axis and t not in (s, 1):
                raise ProgramError(
                    f"{where}: target axis {other} has size {t}; it must equal the source's "
                    f"({s}) or be 1 (summed)"
                )
        return (source[axis], target[axis])
    # conv
    if len(source) != 3 or len(target) != 3:
        raise ProgramError(f"{where}: conv needs [C, H, W] shapes, got {source} -> {target}")
    groups = projection.groups
    _check_int(f"{where}: groups", groups, 1)
    if source[0] % groups or target[0] % groups:
        raise ProgramError(
            f"{where}: groups {groups} must divide the source's {source[0]} and the target's "
            f"{target[0]} channels"
        )
    return (target[0], source[0] // groups)


# --- validation -----------------------------------------------------------------------------


def _check_int(what: str, value, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ProgramError(f"{what}: expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        limit = f">= {low}" if high is None else f"in {low}..{high}"
        raise ProgramError(f"{what}: {value} is out of range (must be {limit})")


def _check_shape(what: str, shape) -> tuple[int, ...]:
    if not isinstance(shape, list | tuple) or not 1 <= len(shape) <= 3:
        raise ProgramError(f"{what}: expected a list of 1 to 3 sizes, got {shape!r}")
    for axis, size in enumerate(shape):
        _check_int(f"{what}[{axis}]", size, 1)
    return tuple(int(size) for size in shape)


def _validate(graph: Graph) -> None:
    _check_int("timesteps", graph.timesteps, 1)
    # Weights have a namespace of their own (`weight.<name>` in the arrays file), so a layer's
    # population and its weight may share a name, as format 1's do.
    names = [graph.input_name, *(p.name for p in graph.populations)]
    for name in names:
        check_name("input and populations", name)
        if name == RESERVED or names.count(name) > 1:
            raise ProgramError(f"name {name!r} is used twice or reserved ({RESERVED!r})")
    for name in graph.weights:
        check_name("weights", name)
    _check_shape("input.shape", graph.input_shape)
    if not graph.populations:
        raise ProgramError("populations: a Program needs at least one population")
    for index, population in enumerate(graph.populations):
        _validate_population(population, f"populations[{index}] ({population.name!r})")
        if population.neuron == "readout" and index != len(graph.populations) - 1:
            raise ProgramError(
                f"populations[{index}] ({population.name!r}): a readout must be listed last"
            )
    for name, weight in graph.weights.items():
        _validate_weight(weight, f"weights ({name!r})")
    order = {graph.input_name: -1, **{p.name: i for i, p in enumerate(graph.populations)}}
    used = {}
    for index, projection in enumerate(graph.projections):
        where = f"projections[{index}] ({projection.source} -> {projection.target})"
        _validate_projection(graph, projection, where, order, used)
    for population in graph.populations:
        if not graph.projections_into(population.name):
            raise ProgramError(f"population {population.name!r}: no projection into it")
    unused = sorted(set(graph.weights) - set(used))
    if unused:
        raise ProgramError(f"weights ({unused[0]!r}): no projection uses it")


def _validate_population(population: Population, where: str) -> None:
    shape = _check_shape(f"{where}: shape", population.shape)
    if population.neuron not in NEURONS:
        raise ProgramError(f"{where}: neuron {population.neuron!r} is not one of {NEURONS}")
    if population.reset not in RESET_KINDS:
        raise ProgramError(f"{where}: reset {population.reset!r} is not one of {RESET_KINDS}")
    _check_int(f"{where}: v_bits", population.v_bits, V_BITS.start, V_BITS.stop - 1)
    low_burst, high_burst = {"lif": (1, 1), "lifb": (2, BURST_MAX), "readout": (1, 1)}.get(
        population.neuron, (1, BURST_MAX)
    )
    _check_int(f"{where}: burst_max", population.burst_max, low_burst, high_burst)
    if population.neuron == "scan":
        if population.leak_shift is not None:
            raise ProgramError(f"{where}: a scan neuron has no leak_shift (it must be null)")
        scan = population.scan
        if not isinstance(scan, Scan):
            raise ProgramError(f"{where}: a scan neuron needs scan: {{axis, group, carry_shift}}")
        _check_int(f"{where}: scan.axis", scan.axis, 0, len(shape) - 1)
        _check_int(f"{where}: scan.group", scan.group, 1)
        _check_int(f"{where}: scan.carry_shift", scan.carry_shift, 0, population.v_bits - 1)
    else:
        if population.scan is not None:
            raise ProgramError(f"{where}: scan applies to scan neurons only")
        if population.leak_shift is not None:
            _check_int(f"{where}: leak_shift", population.leak_shift, 0, population.v_bits - 1)
    v_low, v_high = v_range(population.v_bits)
    for key, low in (("threshold", 1), ("bias", v_low)):
        array = getattr(population, key)
        if not isinstance(array, np.ndarray) or array.dtype != np.int32:
            got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise ProgramError(f"{where}: {key} must be an int32 array, got {got}")
        if array.ndim != len(shape) or any(
            size not in (full, 1) for size, full in zip(array.shape, shape, strict=True)
        ):
            raise ProgramError(
                f"{where}: {key} has shape {array.shape}, which does not broadcast to {shape} "
                "(every axis must equal the population's or be 1)"
            )
        bad = (array < low) | (array > v_high)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ProgramError(
                f"{where}: {key}{list(index)} = {array[index]} is outside {low}..{v_high} "
                f"(v_bits={population.v_bits})"
            )


def _validate_weight(weight: Weight, where: str) -> None:
    _check_int(f"{where}: bits", weight.bits, WEIGHT_BITS.start, WEIGHT_BITS.stop - 1)
    values = weight.values
    if not isinstance(values, np.ndarray) or values.dtype != np.int8:
        got = values.dtype if isinstance(values, np.ndarray) else type(values).__name__
        raise ProgramError(f"{where}: values must be an int8 array, got {got}")
    low, high = weight_range(weight.bits)
    bad = (values < low) | (values > high)
    if weight.bits == 1:
        bad |= values == 0
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        allowed = "+1 or -1" if weight.bits == 1 else f"{low}..{high}"
        raise ProgramError(
            f"{where}: value{list(index)} = {values[index]} is not {allowed} for bits={weight.bits}"
        )


def _validate_projection(graph: Graph, projection, where: str, order: dict, used: dict) -> None:
    if projection.kind not in KINDS:
        raise ProgramError(f"{where}: kind {projection.kind!r} is not one of {KINDS}")
    for end in ("source", "target"):
        if getattr(projection, end) not in order:
            raise ProgramError(f"{where}: {end} {getattr(projection, end)!r} does not exist")
    if projection.target == graph.input_name:
        raise ProgramError(f"{where}: the input cannot be a target")
    if order[projection.source] >= order[projection.target]:
        raise ProgramError(
            f"{where}: source {projection.source!r} is not listed before its target (sources "
            "are the input or earlier populations: zero delay, no cycles)"
        )
    if projection.source != graph.input_name and graph.population(projection.source).neuron == (
        "readout"
    ):
        raise ProgramError(f"{where}: a readout emits no spikes, so it cannot be a source")
    _check_int(f"{where}: gain_shift", projection.gain_shift, 0, MAX_GAIN_SHIFT)
    source, target = graph.shape_of(projection.source), graph.shape_of(projection.target)
    needed = _weight_shape(projection, source, target, where)
    if projection.kind == "identity":
        if projection.weight is not None:
            raise ProgramError(f"{where}: identity has no weight")
        return
    if projection.weight not in graph.weights:
        raise ProgramError(f"{where}: weight {projection.weight!r} does not exist")
    values = graph.weights[projection.weight].values
    if projection.kind == "conv":
        for key, low in (("stride", 1), ("padding", 0)):
            pair = getattr(projection, key)
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ProgramError(f"{where}: {key} must be two integers, got {pair!r}")
            for axis, value in enumerate(pair):
                _check_int(f"{where}: {key}[{axis}]", value, low)
        if values.ndim != 4 or values.shape[:2] != needed:
            raise ProgramError(
                f"{where}: weight {projection.weight!r} has shape {values.shape}, expected "
                f"[{needed[0]}, {needed[1]}, kh, kw]"
            )
        expected = conv_output_shape(source, values.shape, projection.stride, projection.padding)
        if expected != target:
            raise ProgramError(
                f"{where}: a {values.shape[2]}x{values.shape[3]} conv with stride "
                f"{list(projection.stride)} and padding {list(projection.padding)} maps "
                f"{source} to {expected}, not the target's {target}"
            )
        needed = values.shape
    elif values.shape != needed:
        raise ProgramError(
            f"{where}: weight {projection.weight!r} has shape {values.shape}, expected {needed}"
        )
    if used.setdefault(projection.weight, values.shape) != values.shape:
        raise ProgramError(f"{where}: weight {projection.weight!r} is used with two shapes")


# --- files ----------------------------------------------------------------------------------


def save_graph(graph: Graph, path) -> Path:
    """Write `graph` as a Program folder (format 2); returns its path."""
    graph.validate()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    header = {
        "format": GRAPH_FORMAT,
        "timesteps": int(graph.timesteps),
        "input": {"name": graph.input_name, "shape": list(graph.input_shape)},
        "populations": [population.header() for population in graph.populations],
        "weights": [{"name": w.name, "bits": w.bits} for w in graph.weights.values()],
        "projections": [projection.header() for projection in graph.projections],
    }
    if graph.encoder is not None:
        header["encoder"] = graph.encoder
    if graph.dataset is not None:
        header["dataset"] = graph.dataset
    arrays = {f"{RESERVED}.{name}": weight.values for name, weight in graph.weights.items()}
    for population in graph.populations:
        arrays[f"{population.name}.threshold"] = population.threshold
        arrays[f"{population.name}.bias"] = population.bias
    arrays.update({f"encoder.{key}": value for key, value in graph.encoder_arrays.items()})
    (path / "program.yaml").write_text(yaml.safe_dump(header, sort_keys=False))
    with open(path / "program.npz", "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return path


def load_graph(path) -> Graph:
    """Read and validate a Program folder of either format (format 1 as its graph)."""
    path = Path(path)
    header = _read_header(path)
    if header.get("format") == CHAIN_FORMAT:
        return graph_from_chain(load_program(path))
    if header.get("format") != GRAPH_FORMAT:
        raise ProgramError(
            f"format: {header.get('format')!r} is not supported (this reader knows "
            f"{CHAIN_FORMAT!r} and {GRAPH_FORMAT!r})"
        )
    reject_unknown_keys("program.yaml", header, _TOP_KEYS)
    for key in ("timesteps", "input", "populations", "weights", "projections"):
        if key not in header:
            raise ProgramError(f"program.yaml: missing key {key!r}")
    arrays = _read_arrays(path / "program.npz")
    graph = Graph(
        timesteps=header["timesteps"],
        input_name=_input(header["input"])[0],
        input_shape=_check_shape("input.shape", _input(header["input"])[1]),
        populations=[
            _population(entry, index, arrays)
            for index, entry in enumerate(_list(header, "populations"))
        ],
        weights=_weights(_list(header, "weights"), arrays),
        projections=[
            _projection(entry, index) for index, entry in enumerate(_list(header, "projections"))
        ],
        encoder=header.get("encoder"),
        encoder_arrays={
            key.removeprefix("encoder."): value
            for key, value in arrays.items()
            if key.startswith("encoder.")
        },
        dataset=header.get("dataset"),
    )
    if graph.encoder is not None and not (
        isinstance(graph.encoder, dict) and "kind" in graph.encoder
    ):
        raise ProgramError("encoder: expected a mapping with a 'kind'")
    if graph.dataset is not None and graph.dataset not in DATASETS:
        raise ProgramError(f"dataset: {graph.dataset!r} is not one of {', '.join(DATASETS)}")
    return graph.validate()


def _read_header(path: Path) -> dict:
    if not path.exists():
        raise ProgramError(f"{path}: no such Program folder")
    if not path.is_dir():
        raise ProgramError(f"{path} is a file, not a Program folder")
    for name in ("program.yaml", "program.npz"):
        if not (path / name).is_file():
            raise ProgramError(f"{path}: missing {name} (is this a Program folder?)")
    try:
        header = yaml.safe_load((path / "program.yaml").read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ProgramError(f"program.yaml: not valid YAML ({error})".splitlines()[0]) from None
    if not isinstance(header, dict):
        raise ProgramError("program.yaml: expected a mapping at the top level")
    return header


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ProgramError(f"{path.name}: unreadable ({error})".splitlines()[0]) from None


def _list(header: dict, key: str) -> list:
    if not isinstance(header[key], list):
        raise ProgramError(f"{key}: expected a list")
    for index, entry in enumerate(header[key]):
        if not isinstance(entry, dict):
            raise ProgramError(f"{key}[{index}]: expected a mapping")
    return header[key]


def _input(entry) -> tuple:
    if not isinstance(entry, dict):
        raise ProgramError("input: expected a mapping {name, shape}")
    reject_unknown_keys("input", entry, ("name", "shape"))
    for key in ("name", "shape"):
        if key not in entry:
            raise ProgramError(f"input: missing key {key!r}")
    return entry["name"], entry["shape"]


def _array(arrays: dict, key: str) -> np.ndarray:
    if key not in arrays:
        raise ProgramError(f"program.npz: missing array {key}")
    return arrays[key]


def _population(entry: dict, index: int, arrays: dict) -> Population:
    where = f"populations[{index}]"
    reject_unknown_keys(where, entry, _POPULATION_KEYS)
    missing = [key for key in _POPULATION_KEYS[:-1] if key not in entry]
    if missing:
        raise ProgramError(f"{where}: missing key {missing[0]!r}")
    scan = entry.get("scan")
    if scan is not None:
        if not isinstance(scan, dict):
            raise ProgramError(f"{where}: scan: expected a mapping {{axis, group, carry_shift}}")
        reject_unknown_keys(f"{where}: scan", scan, ("axis", "group", "carry_shift"))
        for key in ("axis", "group", "carry_shift"):
            if key not in scan:
                raise ProgramError(f"{where}: scan: missing key {key!r}")
        scan = Scan(scan["axis"], scan["group"], scan["carry_shift"])
    name = entry["name"]
    check_name(where, name)
    return Population(
        name=name,
        shape=_check_shape(f"{where}: shape", entry["shape"]),
        neuron=entry["neuron"],
        threshold=_array(arrays, f"{name}.threshold"),
        bias=_array(arrays, f"{name}.bias"),
        burst_max=entry["burst_max"],
        leak_shift=entry["leak_shift"],
        reset=entry["reset"],
        v_bits=entry["v_bits"],
        scan=scan,
    )


def _weights(entries: list, arrays: dict) -> dict[str, Weight]:
    weights = {}
    for index, entry in enumerate(entries):
        where = f"weights[{index}]"
        reject_unknown_keys(where, entry, ("name", "bits"))
        for key in ("name", "bits"):
            if key not in entry:
                raise ProgramError(f"{where}: missing key {key!r}")
        check_name(where, entry["name"])
        if entry["name"] in weights:
            raise ProgramError(f"{where}: weight {entry['name']!r} is listed twice")
        values = _array(arrays, f"{RESERVED}.{entry['name']}")
        weights[entry["name"]] = Weight(entry["name"], entry["bits"], values)
    return weights


def _projection(entry: dict, index: int) -> Projection:
    where = f"projections[{index}]"
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ProgramError(f"{where}: kind {kind!r} is not one of {KINDS}")
    keys = _PROJECTION_KEYS[kind]
    reject_unknown_keys(f"{where} ({kind})", entry, keys)
    missing = [key for key in keys if key not in entry]
    if missing:
        raise ProgramError(f"{where}: missing key {missing[0]!r}")
    options = {}
    if kind == "conv":
        options = {
            "stride": entry["stride"],
            "padding": entry["padding"],
            "groups": entry["groups"],
        }
    return Projection(
        source=entry["source"],
        target=entry["target"],
        kind=kind,
        weight=entry.get("weight"),
        gain_shift=entry["gain_shift"],
        axis=entry.get("axis"),
        **options,
    )


# --- format 1 and inputs --------------------------------------------------------------------


def graph_from_chain(program: Program) -> Graph:
    """A format-1 Program as its graph: input `input` `[inputs]` (`input_0` if a layer has that
    name), per layer one population and one weight named after it, and a dense projection from
    the previous population."""
    populations, weights, projections = [], {}, []
    layers = {layer.name for layer in program.layers}
    source = next(name for name in ("input", "input_0", "input_1") if name not in layers)
    input_name = source
    for layer in program.layers:
        populations.append(
            Population(
                name=layer.name,
                shape=(layer.outputs,),
                neuron=layer.neuron,
                threshold=layer.threshold,
                bias=layer.bias,
                burst_max=layer.burst_max,
                leak_shift=layer.leak_shift,
                reset=layer.reset,
                v_bits=layer.v_bits,
            )
        )
        weights[layer.name] = Weight(layer.name, layer.weight_bits, layer.weight)
        projections.append(Projection(source, layer.name, "dense", weight=layer.name))
        source = layer.name
    graph = Graph(
        timesteps=program.timesteps,
        input_name=input_name,
        input_shape=(program.inputs,),
        populations=populations,
        weights=weights,
        projections=projections,
        encoder=program.encoder,
        encoder_arrays=program.encoder_arrays,
        dataset=program.dataset,
    )
    return graph.validate()


def check_graph_spikes(graph: Graph, spikes) -> np.ndarray:
    """Validate input spikes `[samples, T, *input_shape]` of 0/1; return them as uint8."""
    spikes = np.asarray(spikes)
    expected = (graph.timesteps, *graph.input_shape)
    if spikes.ndim != 2 + len(graph.input_shape) or spikes.shape[1:] != expected:
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
