"""Bit layouts shared by the engine's gateware and the host: no Amaranth here.

The gateware builds its `data.StructLayout`s from the field lists below, and the host packs
Programs and spikes with the same lists, so both sides agree by construction. Fields are listed
least significant first, as Amaranth lays out a struct.

Memory images (what the host writes through the engine's configuration port, or what a build
bakes in) are computed by `memory_images`, which takes the Program's plain values so that this
module needs nothing from `sw`.
"""

from dataclasses import dataclass

from .params import EngineParams

__all__ = [
    "SPACE_WEIGHTS",
    "SPACE_NEURONS",
    "SPACE_LAYERS",
    "SPACE_GLOBAL",
    "KIND_SPIKE",
    "KIND_STEP_END",
    "KIND_READOUT",
    "KIND_SAMPLE_END",
    "input_fields",
    "output_fields",
    "write_fields",
    "read_fields",
    "word_bits",
    "layer_fields",
    "global_fields",
    "pack",
    "unpack",
    "LayerImage",
    "memory_images",
    "COUNTER_BITS",
    "LAYER_COUNTERS",
    "counter_fields",
    "unpack_counters",
]

#: Address spaces of the configuration port.
SPACE_WEIGHTS, SPACE_NEURONS, SPACE_LAYERS, SPACE_GLOBAL = range(4)
#: Kinds of output events.
KIND_SPIKE, KIND_STEP_END, KIND_READOUT, KIND_SAMPLE_END = range(4)
#: Width of every event, cycle and operation counter.
COUNTER_BITS = 32
#: The engine's per-layer counters, in the order its counters word (and COUNTERS) holds them.
LAYER_COUNTERS = ("layer_cycles", "layer_events", "layer_synops", "layer_stalls")


def _bits(n: int) -> int:
    """Unsigned width that holds 0..n."""
    return max(int(n).bit_length(), 1)


def input_fields(params: EngineParams) -> list[tuple[str, int, bool]]:
    """An input event: one spike on input `addr`, or (`end` = 1) the end of a timestep."""
    return [("addr", params.address_bits, False), ("end", 1, False)]


def output_fields(params: EngineParams) -> list[tuple[str, int, bool]]:
    """An output event: a spike of (`layer`, `addr`), a step or sample end, or a readout value."""
    return [
        ("kind", 2, False),
        ("layer", _bits(params.max_layers - 1), False),
        ("addr", params.address_bits, False),
        ("value", params.max_v_bits, True),
    ]


def layer_fields(params: EngineParams) -> list[tuple[str, int, bool]]:
    """One layer's configuration word."""
    return [
        ("n_in", params.address_bits, False),
        ("n_out", params.address_bits, False),
        ("groups", _bits(params.groups(params.max_neurons)), False),
        ("weight_base", _bits(params.weight_words - 1), False),
        ("neuron_base", _bits(params.neuron_words - 1), False),
        ("weight_bits", 4, False),
        ("spiking", 1, False),
        ("burst_max", 3, False),
        ("leak", 1, False),
        ("leak_shift", 5, False),
        ("subtract", 1, False),
        ("v_bits", 6, False),
    ]


def global_fields(params: EngineParams) -> list[tuple[str, int, bool]]:
    """`readout_only` = 1 keeps the spikes of all layers but the last off `o_events` (they still
    reach the next layer): deployment wants the answer, not every hidden spike."""
    return [
        ("timesteps", _bits(params.max_timesteps), False),
        ("layers", _bits(params.max_layers), False),
        ("readout_only", 1, False),
    ]


def weight_word_bits(params: EngineParams) -> int:
    return params.lanes * params.max_weight_bits


def neuron_word_bits(params: EngineParams) -> int:
    """Per state unit: threshold then bias, `max_v_bits` each."""
    return params.units * 2 * params.max_v_bits


def word_bits(params: EngineParams) -> int:
    """Width of the widest configuration word (writes and read-backs carry this many bits)."""
    return max(
        weight_word_bits(params),
        neuron_word_bits(params),
        sum(w for _, w, _ in layer_fields(params)),
        sum(w for _, w, _ in global_fields(params)),
    )


def counter_fields(params: EngineParams) -> list[tuple[str, int, bool]]:
    """The engine's counters word: `cycles`, then each of LAYER_COUNTERS for every layer."""
    layers = COUNTER_BITS * params.max_layers
    return [("cycles", COUNTER_BITS, False), *((name, layers, False) for name in LAYER_COUNTERS)]


def unpack_counters(params: EngineParams, word: int) -> dict:
    """The counters word as `{"cycles": int, name: [one int per layer] for LAYER_COUNTERS}`."""
    values = unpack(counter_fields(params), word)
    mask = (1 << COUNTER_BITS) - 1
    for name in LAYER_COUNTERS:
        values[name] = [values[name] >> (COUNTER_BITS * i) & mask for i in range(params.max_layers)]
    return values


def read_fields(params: EngineParams) -> list[tuple[str, int, bool]]:
    """A configuration read-back request: word `addr` of memory `space`."""
    addr = _bits(max(params.weight_words, params.neuron_words, params.max_layers) - 1)
    return [("space", 2, False), ("addr", addr, False)]


def write_fields(params: EngineParams) -> list[tuple[str, int, bool]]:
    """A configuration write: `data` to word `addr` of memory `space`."""
    return [*read_fields(params), ("data", word_bits(params), False)]


def pack(fields, values: dict) -> int:
    """Pack `values` into an int, field by field from bit 0; signed fields in two's complement."""
    word, offset = 0, 0
    for name, width, signed in fields:
        value = int(values.get(name, 0))
        low = -(1 << (width - 1)) if signed else 0
        high = (1 << (width - 1)) - 1 if signed else (1 << width) - 1
        if not low <= value <= high:
            raise ValueError(f"field {name!r}: {value} does not fit {width} bits")
        word |= (value & ((1 << width) - 1)) << offset
        offset += width
    return word


def unpack(fields, word: int) -> dict:
    values, offset = {}, 0
    for name, width, signed in fields:
        value = (word >> offset) & ((1 << width) - 1)
        if signed and value >> (width - 1):
            value -= 1 << width
        values[name] = value
        offset += width
    return values


@dataclass
class LayerImage:
    """A layer as plain values: `weight[i][j]`, `threshold[j]`, `bias[j]` and its settings."""

    weight: list  # [inputs][outputs] of ints (+1/-1 when binary)
    threshold: list
    bias: list
    weight_bits: int
    spiking: bool
    burst_max: int
    leak_shift: int | None
    subtract: bool
    v_bits: int


def _lane_words(values_per_group, lanes: int, slot_bits: int) -> int:
    word = 0
    for lane, value in enumerate(values_per_group):
        word |= (value & ((1 << slot_bits) - 1)) << (lane * slot_bits)
    return word


def memory_images(
    params: EngineParams, timesteps: int, layers: list[LayerImage], readout_only: bool = False
) -> dict:
    """Word lists for each configuration space: {space: [(addr, word), ...]}.

    Weights of layer l, lane group g, input i live at `weight_base + g * inputs + i` (group-major,
    so the engine steps addresses by adding, never multiplying), lane k of
    the word holding neuron `g * lanes + k` (binary: 1 for +1, 0 for -1; else two's complement
    in the low `weight_bits` bits of a `max_weight_bits` slot). Thresholds and biases of neuron
    `n` live in word `neuron_base + n // units`, slot `n % units` of it holding
    `threshold | bias << max_v_bits` (`units` = `params.units`, the neurons swept per cycle; a
    layer takes `groups * slots` words, whole groups).
    """
    lanes, wmax, vmax = params.lanes, params.max_weight_bits, params.max_v_bits
    units = params.units
    images = {SPACE_WEIGHTS: [], SPACE_NEURONS: [], SPACE_LAYERS: [], SPACE_GLOBAL: []}
    weight_base = neuron_base = 0
    for index, layer in enumerate(layers):
        n_in, n_out = len(layer.weight), len(layer.threshold)
        groups = params.groups(n_out)
        for i in range(n_in):
            row = layer.weight[i]
            if layer.weight_bits == 1:
                row = [1 if w > 0 else 0 for w in row]
            for g in range(groups):
                chunk = row[g * lanes : (g + 1) * lanes]
                images[SPACE_WEIGHTS].append(
                    (weight_base + g * n_in + i, _lane_words(chunk, lanes, wmax))
                )
        for w in range(-(-n_out // units)):
            slots = [
                (t & ((1 << vmax) - 1)) | ((b & ((1 << vmax) - 1)) << vmax)
                for t, b in zip(
                    layer.threshold[w * units : (w + 1) * units],
                    layer.bias[w * units : (w + 1) * units],
                    strict=True,
                )
            ]
            images[SPACE_NEURONS].append((neuron_base + w, _lane_words(slots, units, 2 * vmax)))
        config = {
            "n_in": n_in,
            "n_out": n_out,
            "groups": groups,
            "weight_base": weight_base,
            "neuron_base": neuron_base,
            "weight_bits": layer.weight_bits,
            "spiking": int(layer.spiking),
            "burst_max": layer.burst_max,
            "leak": int(layer.leak_shift is not None),
            "leak_shift": layer.leak_shift or 0,
            "subtract": int(layer.subtract),
            "v_bits": layer.v_bits,
        }
        images[SPACE_LAYERS].append((index, pack(layer_fields(params), config)))
        weight_base += n_in * groups
        neuron_base += groups * params.slots
    images[SPACE_GLOBAL].append(
        (
            0,
            pack(
                global_fields(params),
                {"timesteps": timesteps, "layers": len(layers), "readout_only": readout_only},
            ),
        )
    )
    return images
