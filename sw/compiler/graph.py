"""The Program format `spikeloom.program/2`: a graph of populations, shared weights and
projections. Load, save and validate; a format-1 Program reads as the graph it is.

`docs/program-format.md` ("Format 2") describes the files: every key, its type and allowed
values, the arrays and their broadcast shapes, and how format 1 reads as format 2.
`docs/semantics.md` (section 8) gives the arithmetic: the projection kinds, the order of
updates, bursts, gain shifts, outputs and the scan neuron's walk. In short:
populations (tensors of neurons of rank 1..3, thresholds and biases at a broadcast shape) are
updated in list order at every timestep; each first sums the projections into it (`dense`,
`axis`, `conv`, `identity`, from the input or populations listed before it, at the same
timestep), then updates by the neuron rules. An `axis`, `conv` or `identity` projection may add
into a range of its target's channels (axis 0) only. Weight tensors are named and stored once,
however many projections use them. Validation names the field and the value of anything
malformed.
"""

import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from spikeloom.hw.params import BURST_MAX, RESET_KINDS, V_BITS, WEIGHT_BITS, v_range, weight_range
from spikeloom.models.datasets import DATASETS
from spikeloom.sw.compiler.program import (
    ENCODER_KEYS,
    Program,
    check_name,
    check_spike_array,
    load_program,
    reject_unknown_keys,
)
from spikeloom.sw.compiler.program import (
    FORMAT as CHAIN_FORMAT,
)
from spikeloom.sw.errors import ProgramError

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
    "CHANNEL_RANGE_KINDS",
    "graph_from_chain",
    "load_graph",
    "save_graph",
    "check_graph_spikes",
]

GRAPH_FORMAT = "spikeloom.program/2"
#: Neuron kinds of a population: the three of docs/semantics.md section 2, and the scan neuron
#: (section 8.5).
NEURONS = ("lif", "lifb", "readout", "scan")
#: Projection kinds.
KINDS = ("dense", "axis", "conv", "identity")
#: Projection kinds that may add into a channel range of their target (`channels`). A dense
#: projection's weight already spans the whole flattened target, so a range would add nothing
#: its weight cannot say.
CHANNEL_RANGE_KINDS = ("axis", "conv", "identity")
#: Largest `gain_shift`: weights times 2^g stay a shift of the weight.
MAX_GAIN_SHIFT = 7
#: Prefix of the weight arrays in `program.npz` (`weight.<name>`).
RESERVED = "weight"
#: Names no input or population may take: they prefix other arrays in `program.npz`.
RESERVED_NAMES = (RESERVED, "encoder")
#: `burst_max` allowed per neuron kind.
_BURSTS = {"lif": (1, 1), "lifb": (2, BURST_MAX), "readout": (1, 1), "scan": (1, BURST_MAX)}

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
_SCAN_KEYS = ("axis", "group", "carry_shift")
_PROJECTION_KEYS = {
    "dense": ("source", "target", "kind", "weight", "gain_shift"),
    "axis": ("source", "target", "kind", "weight", "gain_shift", "axis", "channels"),
    "conv": (
        "source",
        "target",
        "kind",
        "weight",
        "gain_shift",
        "stride",
        "padding",
        "groups",
        "channels",
    ),
    "identity": ("source", "target", "kind", "gain_shift", "channels"),
}
#: Keys a projection may leave out: an absent `channels` is the whole target.
_OPTIONAL_PROJECTION_KEYS = ("channels",)


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
    no `weight` for identity. `channels` `(start, stop)` (axis, conv, identity): the current has
    `stop - start` channels and adds into the target's channels `start .. stop-1` only; None is
    the whole target."""

    source: str
    target: str
    kind: str
    weight: str | None = None
    gain_shift: int = 0
    axis: int | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    channels: tuple[int, int] | None = None

    def header(self) -> dict:
        entry = {"source": self.source, "target": self.target, "kind": self.kind}
        if self.kind != "identity":
            entry["weight"] = self.weight
        entry["gain_shift"] = self.gain_shift
        if self.kind == "axis":
            entry["axis"] = self.axis
        if self.kind == "conv":
            entry.update(stride=list(self.stride), padding=list(self.padding), groups=self.groups)
        # Absent means the whole target, so a Program without ranges writes what it always did.
        if self.channels is not None:
            entry["channels"] = [int(bound) for bound in self.channels]
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
        shape = self.input_shape if name == self.input_name else self.population(name).shape
        return tuple(int(size) for size in shape)

    def channel_range(self, projection: Projection) -> tuple[int, int]:
        """`(start, stop)` of the target channels (axis 0) that `projection` adds into."""
        if projection.channels is None:
            return (0, self.shape_of(projection.target)[0])
        start, stop = projection.channels
        return (int(start), int(stop))

    def current_shape(self, projection: Projection) -> tuple[int, ...]:
        """The shape of `projection`'s current: its target's, axis 0 cut to its channel range."""
        start, stop = self.channel_range(projection)
        return (stop - start, *self.shape_of(projection.target)[1:])

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


def _weight_shape(projection: Projection, source: tuple, current: tuple, where: str, into: str):
    """The weight shape `projection` needs from `source` to the shape of its `current` (its
    target's, cut to its channel range; a conv: the weight's first two sizes, the kernel being
    free); raises when the two shapes cannot be joined by it. `into` names the current's shape
    in messages: the target's, or its channel range."""
    kind = projection.kind
    if kind == "dense":
        return (int(np.prod(source)), int(np.prod(current)))
    if kind == "identity":
        if source != current:
            raise ProgramError(
                f"{where}: identity needs equal shapes, got {list(source)} -> {into}"
            )
        return ()
    if kind == "axis":
        axis = projection.axis
        if len(source) != len(current):
            raise ProgramError(
                f"{where}: axis needs source and target of one rank, got {list(source)} -> {into}"
            )
        _check_int(f"{where}: axis", axis, 0, len(source) - 1)
        for other, (s, t) in enumerate(zip(source, current, strict=True)):
            if other != axis and t not in (s, 1):
                what = f"target axis {other}"
                if other == 0 and projection.channels is not None:
                    what = f"the target's channel range {_plain(projection.channels)}"
                raise ProgramError(
                    f"{where}: {what} has size {t}; off the mixed axis ({axis}) it must equal "
                    f"the source's ({s}) or be 1 (summed)"
                )
        return (source[axis], current[axis])
    # conv
    if len(source) != 3 or len(current) != 3:
        raise ProgramError(f"{where}: conv needs [C, H, W] shapes, got {list(source)} -> {into}")
    groups = projection.groups
    if source[0] % groups or current[0] % groups:
        ranged = "" if projection.channels is None else f" in range {_plain(projection.channels)}"
        raise ProgramError(
            f"{where}: groups {groups} must divide the source's {source[0]} and the target's "
            f"{current[0]} channels{ranged}"
        )
    return (current[0], source[0] // groups)


def _channels_text(current: tuple, target: tuple, channels) -> str:
    """How messages name a projection's current shape: the target's, or its channel range."""
    if channels is None:
        return str(list(target))
    return f"{list(current)} (channels {_plain(channels)} of {list(target)})"


# --- validation -----------------------------------------------------------------------------


def _check_int(what: str, value, low: int, high: int | None = None, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ProgramError(f"{what}: expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        limit = f">= {low}" if high is None else f"in {low}..{high}"
        raise ProgramError(f"{what}: {value} is out of range (must be {limit}{why})")


def _check_shape(what: str, shape) -> tuple[int, ...]:
    if not isinstance(shape, list | tuple) or not 1 <= len(shape) <= 3:
        raise ProgramError(f"{what}: expected a list of 1 to 3 sizes, got {shape!r}")
    for axis, size in enumerate(shape):
        _check_int(f"{what}[{axis}]", size, 1)
    return tuple(int(size) for size in shape)


def _check_pair(what: str, pair, low: int) -> None:
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        raise ProgramError(f"{what}: expected two integers [rows, columns], got {pair!r}")
    for axis, value in enumerate(pair):
        _check_int(f"{what}[{axis}]", value, low)


def _validate(graph: Graph) -> None:
    _check_int("timesteps", graph.timesteps, 1)
    _check_names(graph)
    _check_shape("input.shape", graph.input_shape)
    if not graph.populations:
        raise ProgramError("populations: a Program needs at least one population")
    for index, population in enumerate(graph.populations):
        where = f"populations[{index}] ({population.name!r})"
        _validate_population(population, where)
        if population.neuron == "readout" and index != len(graph.populations) - 1:
            raise ProgramError(
                f"{where}: a readout must be listed last (it emits no spikes, and its membrane "
                "is the Program's output)"
            )
    for index, (name, weight) in enumerate(graph.weights.items()):
        _validate_weight(weight, f"weights[{index}] ({name!r})")
    order = {graph.input_name: -1, **{p.name: i for i, p in enumerate(graph.populations)}}
    used: dict[str, tuple[int, Projection]] = {}
    for index, projection in enumerate(graph.projections):
        _validate_projection(graph, projection, index, order, used)
    for index, population in enumerate(graph.populations):
        if not graph.projections_into(population.name):
            raise ProgramError(
                f"populations[{index}] ({population.name!r}): no projection into it (every "
                "population needs at least one)"
            )
    for index, name in enumerate(graph.weights):
        if name not in used:
            raise ProgramError(f"weights[{index}] ({name!r}): no projection uses it")


def _check_names(graph: Graph) -> None:
    seen: dict[str, str] = {}
    _claim_name("input", graph.input_name, seen)
    for index, population in enumerate(graph.populations):
        _claim_name(f"populations[{index}]", population.name, seen)
    for index, (name, weight) in enumerate(graph.weights.items()):
        check_name(f"weights[{index}]", name)
        if weight.name != name:
            raise ProgramError(f"weights[{index}]: listed as {name!r} but named {weight.name!r}")


def _claim_name(where: str, name, seen: dict[str, str]) -> None:
    """The input and the populations share one namespace (a population keys its arrays as
    `<name>.threshold`); weights have their own (`weight.<name>`), so a format-1 layer's
    population and weight can share its name. `seen` maps names taken so far to their owner."""
    check_name(where, name)
    if name in RESERVED_NAMES:
        raise ProgramError(
            f"{where}: name {name!r} is reserved (it prefixes other arrays in program.npz)"
        )
    if name in seen:
        raise ProgramError(f"{where}: name {name!r} is already taken by {seen[name]}")
    seen[name] = "the input" if where == "input" else where


def _validate_population(population: Population, where: str) -> None:
    shape = _check_shape(f"{where}: shape", population.shape)
    if population.neuron not in NEURONS:
        raise ProgramError(f"{where}: neuron {population.neuron!r} is not one of {NEURONS}")
    if population.reset not in RESET_KINDS:
        raise ProgramError(f"{where}: reset {population.reset!r} is not one of {RESET_KINDS}")
    _check_int(f"{where}: v_bits", population.v_bits, V_BITS.start, V_BITS.stop - 1)
    low_burst, high_burst = _BURSTS[population.neuron]
    _check_int(
        f"{where}: burst_max",
        population.burst_max,
        low_burst,
        high_burst,
        f" for a {population.neuron} neuron",
    )
    if population.neuron == "scan":
        if population.leak_shift is not None:
            raise ProgramError(
                f"{where}: leak_shift must be null for a scan neuron (it keeps no membrane "
                f"between timesteps; scan.carry_shift sets the decay), got "
                f"{population.leak_shift!r}"
            )
        scan = population.scan
        if not isinstance(scan, Scan):
            raise ProgramError(f"{where}: a scan neuron needs scan: {{axis, group, carry_shift}}")
        _check_int(f"{where}: scan.axis", scan.axis, 0, len(shape) - 1)
        _check_int(f"{where}: scan.group", scan.group, 1)
        _check_int(f"{where}: scan.carry_shift", scan.carry_shift, 0, population.v_bits - 1)
    else:
        if population.scan is not None:
            raise ProgramError(
                f"{where}: scan applies to scan neurons only (this one is {population.neuron})"
            )
        if population.leak_shift is not None:
            _check_int(f"{where}: leak_shift", population.leak_shift, 0, population.v_bits - 1)
    v_low, v_high = v_range(population.v_bits)
    # A threshold must be a representable membrane value, or the neuron could never fire.
    for key, low in (("threshold", 1), ("bias", v_low)):
        array = getattr(population, key)
        if not isinstance(array, np.ndarray) or array.dtype != np.int32:
            got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise ProgramError(f"{where}: {key} must be an int32 array, got {got}")
        if array.ndim != len(shape) or any(
            size not in (full, 1) for size, full in zip(array.shape, shape, strict=True)
        ):
            raise ProgramError(
                f"{where}: {key} has shape {list(array.shape)}, which does not broadcast to "
                f"{list(shape)} (same rank, every axis the population's size or 1)"
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
        raise ProgramError(f"{where}: {RESERVED}.{weight.name} must be an int8 array, got {got}")
    low, high = weight_range(weight.bits)
    bad = (values < low) | (values > high)
    if weight.bits == 1:
        bad |= values == 0
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        allowed = "+1 or -1" if weight.bits == 1 else f"{low}..{high}"
        raise ProgramError(
            f"{where}: {RESERVED}.{weight.name}{list(index)} = {values[index]} is not {allowed} "
            f"for bits={weight.bits}"
        )


def _check_channels(projection: Projection, target: tuple, where: str) -> None:
    """A channel range is two integers `[start, stop]` with `0 <= start < stop <= C`, `C` the
    size of the target's axis 0, on a kind that allows one."""
    channels = projection.channels
    if channels is None:
        return
    if not isinstance(channels, list | tuple) or len(channels) != 2:
        raise ProgramError(
            f"{where}: channels: expected two integers [start, stop], got {channels!r}"
        )
    if projection.kind not in CHANNEL_RANGE_KINDS:
        raise ProgramError(
            f"{where}: channels {_plain(channels)} applies to {', '.join(CHANNEL_RANGE_KINDS)} "
            f"projections only, not {projection.kind}"
        )
    for end, value in enumerate(channels):
        _check_int(f"{where}: channels[{end}]", value, 0)
    start, stop = channels
    if start >= stop:
        raise ProgramError(
            f"{where}: channels {_plain(channels)} is empty (start must be below stop)"
        )
    if stop > target[0]:
        raise ProgramError(
            f"{where}: channels {_plain(channels)} exceeds the target's {target[0]} channels"
        )


def _plain(values) -> str:
    """`[4, 12]` for a list or tuple of ints of any integer type."""
    return str([int(value) if isinstance(value, int | np.integer) else value for value in values])


def _validate_projection(
    graph: Graph, projection: Projection, index: int, order: dict, used: dict
) -> None:
    where = f"projections[{index}]"
    for end in ("source", "target"):
        name = getattr(projection, end)
        if not isinstance(name, str):
            raise ProgramError(f"{where}: {end} {name!r} is not a name")
    source, target = projection.source, projection.target
    where = f"projections[{index}] ({source} -> {target})"
    if projection.kind not in KINDS:
        raise ProgramError(f"{where}: kind {projection.kind!r} is not one of {KINDS}")
    for end, name in (("source", source), ("target", target)):
        if name not in order:
            raise ProgramError(f"{where}: {end} {name!r} is neither the input nor a population")
    if target == graph.input_name:
        raise ProgramError(f"{where}: the input {target!r} cannot be a target")
    if source != graph.input_name and graph.population(source).neuron == "readout":
        raise ProgramError(
            f"{where}: source {source!r} is a readout, which emits no spikes, so it cannot be "
            "a source"
        )
    if source == target:
        raise ProgramError(
            f"{where}: {source!r} projects into itself (projections have zero delay, so no cycles)"
        )
    if order[source] > order[target]:
        raise ProgramError(
            f"{where}: source {source!r} is listed after its target {target!r} (a source must "
            "be the input or a population listed earlier: zero delay, no cycles)"
        )
    _check_int(f"{where}: gain_shift", projection.gain_shift, 0, MAX_GAIN_SHIFT)
    if projection.kind == "conv":
        _check_pair(f"{where}: stride", projection.stride, 1)
        _check_pair(f"{where}: padding", projection.padding, 0)
        _check_int(f"{where}: groups", projection.groups, 1)
    source_shape, target_shape = graph.shape_of(source), graph.shape_of(target)
    _check_channels(projection, target_shape, where)
    current_shape = graph.current_shape(projection)
    into = _channels_text(current_shape, target_shape, projection.channels)
    needed = _weight_shape(projection, source_shape, current_shape, where, into)
    name = projection.weight
    if projection.kind == "identity":
        if name is not None:
            raise ProgramError(f"{where}: an identity projection has no weight, got {name!r}")
        return
    if not isinstance(name, str) or name not in graph.weights:
        raise ProgramError(f"{where}: weight {name!r} is not listed under weights")
    values = graph.weights[name].values
    if projection.kind == "conv":
        fits = values.ndim == 4 and values.shape[:2] == needed
        wanted = f"[{needed[0]}, {needed[1]}, kh, kw] ([C_out, C_in/groups, kh, kw])"
    else:
        fits = values.shape == needed
        wanted = str(list(needed))
    if not fits:
        first = used.get(name)
        if first is not None:
            # A weight is stored once, so every projection using it must fit the same shape.
            raise ProgramError(
                f"{where}: weight {name!r} is used with two shapes: {list(values.shape)} by "
                f"projections[{first[0]}] ({first[1].source} -> {first[1].target}), but this "
                f"{projection.kind} projection needs {wanted}"
            )
        raise ProgramError(
            f"{where}: weight {name!r} has shape {list(values.shape)}, but this "
            f"{projection.kind} projection needs {wanted}"
        )
    if projection.kind == "conv":
        if min(values.shape[2:]) < 1:
            raise ProgramError(
                f"{where}: weight {name!r} has an empty kernel, {list(values.shape)}"
            )
        expected = conv_output_shape(
            source_shape, values.shape, projection.stride, projection.padding
        )
        if expected != current_shape:
            raise ProgramError(
                f"{where}: a {values.shape[2]}x{values.shape[3]} conv with stride "
                f"{list(projection.stride)} and padding {list(projection.padding)} maps "
                f"{list(source_shape)} to {list(expected)}, not the target's {into}"
            )
    used.setdefault(name, (index, projection))


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
        "projections": [_projection_header(graph, projection) for projection in graph.projections],
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


def _projection_header(graph: Graph, projection: Projection) -> dict:
    """`projection.header()`, without a channel range that is the whole target: it means what
    no range means, and a file without it reads in every version of this format."""
    entry = projection.header()
    if graph.channel_range(projection) == (0, graph.shape_of(projection.target)[0]):
        entry.pop("channels", None)
    return entry


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
    encoder = header.get("encoder")
    if encoder is not None:
        if not (isinstance(encoder, dict) and "kind" in encoder):
            raise ProgramError("encoder: expected a mapping with a 'kind'")
        if encoder["kind"] in ENCODER_KEYS:
            reject_unknown_keys("encoder", encoder, ENCODER_KEYS[encoder["kind"]])
    dataset = header.get("dataset")
    if dataset is not None and dataset not in DATASETS:
        raise ProgramError(f"dataset: {dataset!r} is not one of {', '.join(DATASETS)}")
    arrays = _read_arrays(path / "program.npz")
    input_name, input_shape = _input(header["input"])
    # Names are claimed while reading, before the arrays they key are looked up: a population
    # renamed to a taken name is reported as such, not as a missing array.
    names: dict[str, str] = {}
    _claim_name("input", input_name, names)
    graph = Graph(
        timesteps=header["timesteps"],
        input_name=input_name,
        input_shape=_check_shape("input.shape", input_shape),
        populations=[
            _population(entry, index, arrays, names)
            for index, entry in enumerate(_list(header, "populations"))
        ],
        weights=_weights(_list(header, "weights"), arrays),
        projections=[
            _projection(entry, index) for index, entry in enumerate(_list(header, "projections"))
        ],
        encoder=encoder,
        encoder_arrays={
            key.removeprefix("encoder."): value
            for key, value in arrays.items()
            if key.startswith("encoder.")
        },
        dataset=dataset,
    )
    graph.validate()
    _reject_unknown_arrays(graph, arrays)
    return graph


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
    # A truncated or corrupted file fails in the zip directory (BadZipFile), in a member's
    # header (ValueError, EOFError) or in its compressed data (zlib.error, BadZipFile on CRC).
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise ProgramError(f"{path.name}: unreadable ({error})".splitlines()[0]) from None


def _reject_unknown_arrays(graph: Graph, arrays: dict) -> None:
    """An array nothing in program.yaml names is a renamed or forgotten entry: say so rather
    than let it pass (encoder arrays are the encoder's business)."""
    known = {f"{RESERVED}.{name}" for name in graph.weights}
    for population in graph.populations:
        known.update({f"{population.name}.threshold", f"{population.name}.bias"})
    for key in arrays:
        if key not in known and not key.startswith("encoder."):
            raise ProgramError(f"program.npz: array {key!r} belongs to nothing in program.yaml")


def _list(header: dict, key: str) -> list:
    if not isinstance(header[key], list):
        raise ProgramError(f"{key}: expected a list, got {header[key]!r}")
    for index, entry in enumerate(header[key]):
        if not isinstance(entry, dict):
            raise ProgramError(f"{key}[{index}]: expected a mapping, got {entry!r}")
    return header[key]


def _input(entry) -> tuple:
    if not isinstance(entry, dict):
        raise ProgramError(f"input: expected a mapping {{name, shape}}, got {entry!r}")
    reject_unknown_keys("input", entry, ("name", "shape"))
    for key in ("name", "shape"):
        if key not in entry:
            raise ProgramError(f"input: missing key {key!r}")
    return entry["name"], entry["shape"]


def _array(arrays: dict, key: str) -> np.ndarray:
    if key not in arrays:
        raise ProgramError(f"program.npz: missing array {key}")
    return arrays[key]


def _population(entry: dict, index: int, arrays: dict, names: dict[str, str]) -> Population:
    where = f"populations[{index}]"
    reject_unknown_keys(where, entry, _POPULATION_KEYS)
    missing = [key for key in _POPULATION_KEYS if key != "scan" and key not in entry]
    if missing:
        raise ProgramError(f"{where}: missing key {missing[0]!r}")
    scan = entry.get("scan")
    if scan is not None:
        if not isinstance(scan, dict):
            raise ProgramError(
                f"{where}: scan: expected a mapping {{axis, group, carry_shift}}, got {scan!r}"
            )
        reject_unknown_keys(f"{where}: scan", scan, _SCAN_KEYS)
        for key in _SCAN_KEYS:
            if key not in scan:
                raise ProgramError(f"{where}: scan: missing key {key!r}")
        scan = Scan(scan["axis"], scan["group"], scan["carry_shift"])
    name = entry["name"]
    _claim_name(where, name, names)
    return Population(
        name=name,
        shape=_check_shape(f"{where} ({name!r}): shape", entry["shape"]),
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
    if "kind" not in entry:
        raise ProgramError(f"{where}: missing key 'kind'")
    kind = entry["kind"]
    if kind not in KINDS:
        raise ProgramError(f"{where}: kind {kind!r} is not one of {KINDS}")
    where = f"{where} ({kind})"
    keys = _PROJECTION_KEYS[kind]
    if kind == "identity" and "weight" in entry:
        raise ProgramError(
            f"{where}: an identity projection has no weight, got weight: {entry['weight']!r}"
        )
    for key in entry:
        owners = [other for other, allowed in _PROJECTION_KEYS.items() if key in allowed]
        if key not in keys and owners:
            # A key of another kind: the kind or the key is wrong, and a closest-name hint
            # would only mislead.
            raise ProgramError(
                f"{where}: unknown key {key!r} (only {' and '.join(owners)} projections have it)"
            )
    reject_unknown_keys(where, entry, keys)
    if "channels" in entry and entry["channels"] is None:
        # Only absence means the whole target: a null is more likely a range left unfilled.
        raise ProgramError(
            f"{where}: channels: expected two integers [start, stop], got None (leave the key "
            "out for the whole target)"
        )
    missing = [key for key in keys if key not in entry and key not in _OPTIONAL_PROJECTION_KEYS]
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
        channels=entry.get("channels"),
        **options,
    )


# --- format 1 and inputs --------------------------------------------------------------------


def graph_from_chain(program: Program) -> Graph:
    """A format-1 Program as its graph: input `input` `[inputs]`, per layer one population and
    one weight named after it, and a dense projection from the previous population.

    A layer may itself be called `input`; the input then takes the first free name of
    `input_0`, `input_1`, ...
    """
    populations, weights, projections = [], {}, []
    layers = {layer.name for layer in program.layers}
    input_name, suffix = "input", 0
    while input_name in layers:
        input_name, suffix = f"input_{suffix}", suffix + 1
    source = input_name
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
    return check_spike_array(spikes, (graph.timesteps, *graph.input_shape))
