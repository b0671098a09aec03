"""Random valid graph Programs (format 2) and input spikes, for bit-exactness sweeps.

Values are drawn so that every rule is exercised: every projection kind (dense, axis with
one-to-one and summed axes, conv with stride, padding and groups up to depthwise, identity),
gain shifts, weights shared by several projections, skip connections (several projections into
one population, from the input and from populations further back), channel ranges (axis, conv
and identity projections adding into part of their target's axis 0, as a concatenation does),
thresholds and biases at
every broadcast shape, every neuron kind (bursts, scan lines whose group does not divide them),
both resets, leaks (none and 0..), membranes narrow enough to saturate at both ends, and an
optional readout last. Sizes stay small, so a plain loop can check every result.
"""

import numpy as np
from spikeloom.hw.params import BURST_MAX, v_range, weight_range
from spikeloom.sw.compiler.graph import (
    Graph,
    Population,
    Projection,
    Scan,
    Weight,
    conv_output_shape,
)

__all__ = ["random_graph", "random_graph_spikes"]

INPUT = "x"


def _shape(rng: np.random.Generator, rank: int, max_size: int) -> tuple[int, ...]:
    if rank == 3:
        # [C, H, W] large enough in H and W for a 3x3 kernel with stride 2 to mean something.
        return (
            int(rng.integers(1, 4)),
            int(rng.integers(2, max_size + 1)),
            int(rng.integers(2, max_size + 1)),
        )
    return tuple(int(rng.integers(1, max_size + 1)) for _ in range(rank))


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _conv_options(source: tuple, target: tuple) -> list[dict]:
    """Every small conv (kernel 1..3, stride 1..2, padding 0..1, any common group count)
    mapping `source` to `target`."""
    if len(source) != 3 or len(target) != 3:
        return []
    groups = [g for g in _divisors(source[0]) if target[0] % g == 0]
    options = []
    for kh in range(1, 4):
        for kw in range(1, 4):
            for stride in ((1, 1), (2, 2), (1, 2), (2, 1)):
                for padding in ((0, 0), (1, 1), (0, 1), (1, 0)):
                    if source[1] + 2 * padding[0] < kh or source[2] + 2 * padding[1] < kw:
                        continue
                    weight = (target[0], 1, kh, kw)
                    if conv_output_shape(source, weight, stride, padding) != target:
                        continue
                    for g in groups:
                        options.append(
                            {"kernel": (kh, kw), "stride": stride, "padding": padding, "groups": g}
                        )
    return options


def _axis_options(source: tuple, target: tuple) -> list[int]:
    """Axes along which an axis projection can join `source` to `target`."""
    if len(source) != len(target):
        return []
    return [
        a
        for a in range(len(source))
        if all(t in (s, 1) for d, (s, t) in enumerate(zip(source, target, strict=True)) if d != a)
    ]


def _range_options(source: tuple, target: tuple) -> dict[str, list[tuple[int, int]]]:
    """Per projection kind, the channel ranges of `target` (all but the whole) into which a
    projection of that kind can join `source`."""
    options: dict[str, list[tuple[int, int]]] = {"identity": [], "axis": [], "conv": []}
    for start in range(target[0]):
        for stop in range(start + 1, target[0] + 1):
            if stop - start == target[0]:
                continue
            current = (stop - start, *target[1:])
            if source == current:
                options["identity"].append((start, stop))
            if _axis_options(source, current):
                options["axis"].append((start, stop))
            if _conv_options(source, current):
                options["conv"].append((start, stop))
    return {kind: ranges for kind, ranges in options.items() if ranges}


class _Builder:
    def __init__(self, rng: np.random.Generator, share: float, ranges: float):
        self.rng = rng
        self.share = share
        self.ranges = ranges
        self.weights: dict[str, Weight] = {}
        self.projections: list[Projection] = []

    def weight(self, shape: tuple) -> str:
        """A weight of `shape`: an existing one of that shape (shared) or a new one."""
        rng = self.rng
        same = [name for name, w in self.weights.items() if w.values.shape == shape]
        if same and rng.random() < self.share:
            return str(rng.choice(same))
        bits = int(rng.choice([1, 1, 2, 3, 4, 8]))
        low, high = weight_range(bits)
        if bits == 1:
            values = rng.choice(np.array([-1, 1], dtype=np.int8), size=shape)
        else:
            values = rng.integers(low, high + 1, size=shape).astype(np.int8)
        name = f"w{len(self.weights)}"
        self.weights[name] = Weight(name, bits, values)
        return name

    def gain(self) -> int:
        return int(self.rng.choice([0, 0, 0, 1, 2, 3, 7]))

    def project(self, source: str, source_shape: tuple, target: str, target_shape: tuple) -> None:
        """Add a projection of a random feasible kind between two fixed shapes, now and then
        into a channel range of the target."""
        rng = self.rng
        channels = None
        if target_shape[0] > 1 and rng.random() < self.ranges:
            ranges = _range_options(source_shape, target_shape)
            if ranges:
                # The kind first, then its range: identity ranges are few but get their turn.
                ranged = ranges[str(rng.choice(sorted(ranges)))]
                channels = ranged[int(rng.integers(len(ranged)))]
        current_shape = target_shape
        if channels is not None:
            current_shape = (channels[1] - channels[0], *target_shape[1:])
        kinds = ["dense"] if channels is None else []
        if source_shape == current_shape:
            kinds += ["identity", "identity"]
        axes = _axis_options(source_shape, current_shape)
        if axes:
            kinds += ["axis", "axis"]
        convs = _conv_options(source_shape, current_shape)
        if convs:
            kinds += ["conv", "conv"]
        kind = str(rng.choice(kinds))
        target_shape = current_shape  # what the weight joins the source to
        projection = Projection(source, target, kind, gain_shift=self.gain(), channels=channels)
        if kind == "dense":
            projection.weight = self.weight(
                (int(np.prod(source_shape)), int(np.prod(target_shape)))
            )
        elif kind == "axis":
            axis = int(rng.choice(axes))
            projection.axis = axis
            projection.weight = self.weight((source_shape[axis], target_shape[axis]))
        elif kind == "conv":
            option = convs[int(rng.integers(len(convs)))]
            projection.stride, projection.padding = option["stride"], option["padding"]
            projection.groups = option["groups"]
            shape = (target_shape[0], source_shape[0] // option["groups"], *option["kernel"])
            projection.weight = self.weight(shape)
        self.projections.append(projection)

    def first_target(self, source_shape: tuple, max_size: int, earlier: list[tuple]) -> tuple:
        """A target shape for a population's first projection, drawn so that each kind of
        projection has a chance: the source's shape (identity), the source's with one axis
        resized and others kept or collapsed to 1 (axis), a conv's output, an earlier
        population's shape (for shared weights and skips), the source's with more channels
        (a concatenation, for channel ranges), or anything (dense)."""
        rng = self.rng
        choice = int(rng.integers(6))
        if choice == 0:
            return source_shape
        if choice == 1:
            axis = int(rng.integers(len(source_shape)))
            shape = [s if rng.random() < 0.6 else 1 for s in source_shape]
            shape[axis] = int(rng.integers(1, max_size + 1))
            return tuple(shape)
        if choice == 2 and len(source_shape) == 3:
            c_in, height, width = source_shape
            groups = int(rng.choice(_divisors(c_in)))
            c_out = groups * int(rng.choice([1, 1, 2]))  # groups == c_in == c_out: depthwise
            padding = (int(rng.integers(2)), int(rng.integers(2)))
            kh = int(rng.integers(1, min(3, height + 2 * padding[0]) + 1))
            kw = int(rng.integers(1, min(3, width + 2 * padding[1]) + 1))
            stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
            return conv_output_shape(source_shape, (c_out, 1, kh, kw), stride, padding)
        if choice == 3 and earlier:
            return earlier[int(rng.integers(len(earlier)))]
        if choice == 4:
            return (source_shape[0] + int(rng.integers(1, 3)), *source_shape[1:])
        return _shape(rng, int(rng.integers(1, 4)), max_size)


def _broadcast_shape(rng: np.random.Generator, shape: tuple) -> tuple:
    """Full, per channel [C,1,1], per token [1,H,W], all ones, or any mix."""
    mode = int(rng.integers(4))
    if mode == 0:
        return shape
    if mode == 1:
        return (shape[0],) + (1,) * (len(shape) - 1)
    if mode == 2:
        return (1,) + shape[1:]
    if mode == 3 and rng.random() < 0.5:
        return (1,) * len(shape)
    return tuple(s if rng.random() < 0.5 else 1 for s in shape)


def _population(rng: np.random.Generator, name: str, shape: tuple, neuron: str) -> Population:
    v_bits = int(rng.choice([8, 8, 9, 10, 12, 16, 32]))
    v_low, v_high = v_range(v_bits)
    theta_high = int(rng.choice([3, 8, 16, v_high]))
    threshold = rng.integers(1, theta_high + 1, size=_broadcast_shape(rng, shape))
    if rng.random() < 0.2:
        # Biases at the ends of the range, so that saturation acts.
        bias = rng.choice([v_low, v_low + 1, v_high - 1, v_high], size=_broadcast_shape(rng, shape))
    else:
        bias = rng.integers(max(v_low, -12), min(v_high, 12) + 1, size=_broadcast_shape(rng, shape))
    scan = None
    leak_shift = None if rng.random() < 0.3 else int(rng.integers(0, min(6, v_bits)))
    if neuron == "scan":
        axis = int(rng.integers(len(shape)))
        # Up to one more than the line: groups that divide it, that do not (a shorter last
        # group) and one that holds the whole line.
        group = int(rng.integers(1, shape[axis] + 2))
        scan = Scan(axis=axis, group=group, carry_shift=int(rng.choice([0, 1, 2, 3])))
        leak_shift = None
    return Population(
        name=name,
        shape=shape,
        neuron=neuron,
        threshold=threshold.astype(np.int32),
        bias=bias.astype(np.int32),
        burst_max={
            "lif": 1,
            "readout": 1,
            "lifb": int(rng.integers(2, BURST_MAX + 1)),
            "scan": int(rng.integers(1, BURST_MAX + 1)),
        }[neuron],
        leak_shift=leak_shift,
        reset=str(rng.choice(["zero", "subtract"])),
        v_bits=v_bits,
        scan=scan,
    )


def random_graph(
    rng: np.random.Generator,
    *,
    max_populations: int = 5,
    max_size: int = 5,
    max_timesteps: int = 4,
    readout: bool | None = None,
    share: float = 0.5,
    ranges: float = 0.3,
) -> Graph:
    """A random valid graph Program of 1..`max_populations` populations whose axes have at most
    `max_size` neurons (`max_size + 2` channels where a concatenation adds some); the last
    population is a readout about half the time (or as `readout` says). `share`: how likely a
    projection reuses an existing weight of its shape; `ranges`: how likely a projection into a
    population of several channels adds into a channel range of it, where one fits."""
    timesteps = int(rng.integers(1, max_timesteps + 1))
    input_shape = _shape(rng, int(rng.integers(1, 4)), max_size)
    count = int(rng.integers(1, max_populations + 1))
    if readout is None:
        readout = bool(rng.integers(2))
    builder = _Builder(rng, share, ranges)
    sources = [(INPUT, input_shape)]  # what a projection may start from
    populations = []
    for index in range(count):
        name = f"p{index}"
        neuron = (
            "readout"
            if readout and index == count - 1
            else str(rng.choice(["lif", "lifb", "lifb", "scan"]))
        )
        # The first projection comes from the latest source half the time (a chain), else from
        # any earlier one (a skip).
        if rng.random() < 0.5:
            source, source_shape = sources[-1]
        else:
            source, source_shape = sources[int(rng.integers(len(sources)))]
        earlier = [shape for _, shape in sources]
        shape = builder.first_target(source_shape, max_size, earlier)
        builder.project(source, source_shape, name, shape)
        # More projections into the same population: skip connections, some from the same
        # source (a second path, possibly through the same weight).
        for _ in range(int(rng.choice([0, 0, 1, 1, 2]))):
            extra, extra_shape = sources[int(rng.integers(len(sources)))]
            builder.project(extra, extra_shape, name, shape)
        populations.append(_population(rng, name, shape, neuron))
        if neuron != "readout":
            sources.append((name, shape))
    graph = Graph(
        timesteps=timesteps,
        input_name=INPUT,
        input_shape=input_shape,
        populations=populations,
        weights=builder.weights,
        projections=builder.projections,
    )
    return graph.validate()


def random_graph_spikes(
    rng: np.random.Generator, graph: Graph, samples: int, rate=None
) -> np.ndarray:
    """uint8 spikes `[samples, T, *input_shape]`; a random rate per sample unless `rate` is
    given."""
    shape = (samples, graph.timesteps, *graph.input_shape)
    rates = rng.random((samples,) + (1,) * (len(shape) - 1)) if rate is None else rate
    return (rng.random(shape) < rates).astype(np.uint8)
