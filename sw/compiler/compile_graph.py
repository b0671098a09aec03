"""Compile a trained `SpikingMixer` into a format-2 graph Program (docs/semantics.md, section 8).

Each population `P` computes, in float, `y = s * u + d` per channel (or row, or column), where
`u` is the sum of the binary projections into it (integers: spike counts times +1/-1), `s > 0`
the batch-norm scale and `d` its shift, and fires at a float threshold of 1. Every projection
into `P` carries the same gain shift `g`, so the integer current is `z = 2^g * u`. Multiplying
the membrane by `2^g / s` (the leak is linear, so it commutes) gives the integer rule
`h = v - lam + z + beta` with

    theta = max(round(2^g / s), 1)        beta = round(2^g * d / s)

per index of the norm's axis, stored at its broadcast shape: `[C, 1, 1]` per channel, `[1, H, 1]`
per row or `[1, 1, W]` per column (the token-mixing populations' option). With per-projection
gains (`projection_gains`) projection `j` carries `g + e_j` instead, `e_j` its learnt exponent,
and `g` moves (least) to keep every shift in 0..7. The shift `g` is what makes this fine
enough: with binary weights and `g = 0` a threshold of `1 / s` rounds to 1..3; with `g = 4` it is
resolved in sixteenths. Scales are positive by construction (`PopNorm`), which matters because
the patch embedding's weight is one tensor used by several populations' projections, and the
token-mixing weights by two: no per-neuron sign can be folded into a shared weight.

The graph is the model's `population_specs()`; each weight tensor a term names is stored once,
binary, however many projections use it, and a term's channel range (the second stage's
concatenation, models/mixer.py) is its projection's `channels`.

Where it is exact: when every `2^g / s` and `2^g * d / s` is an integer (and the float
arithmetic is exact, true for the small dyadic values involved), the integer membrane equals
`floor` of the float membrane times `2^g / s` at every step (the leak `v - (v + 1) >> 1` with
`leak_shift = 1` is `floor(v / 2)`, and `floor(x + n) = floor(x) + n` for integers `n`), so both
fire and reset identically: spike for spike. Otherwise rounding `theta` and `beta` moves each
threshold by up to half a unit of `2^-g` times the float threshold, relative error
`s / 2^(g+1)`; that, not the arithmetic, is where a trained model's integer spikes can differ.

The readout integrates `a * W r + b` with one shared `a = gain * step`; dividing every class by
`|a| / 2^g` keeps the argmax: `z = 2^g * W r`, `beta = round(2^g * b / |a|)`, and a negative `a`
negates the readout weight (used by that projection only).
"""

from dataclasses import dataclass, field

import numpy as np
import torch
from spikeloom.hw.params import V_BITS
from spikeloom.models.mixer import INPUT, PopNorm, PopulationSpec, SpikingMixer
from spikeloom.sw.compiler.compile import clip_to_membrane
from spikeloom.sw.compiler.graph import Graph, Population, Projection, Weight
from spikeloom.sw.compiler.graph_golden import current_bound

__all__ = ["GraphCompileOptions", "PopulationFold", "compile_mixer", "graph_v_bits"]

#: Smallest scale the compiler divides by: below it the neuron's input barely matters.
_MIN_SCALE = 1e-9
_INPUT = INPUT


@dataclass
class GraphCompileOptions:
    #: Membrane width for every population; None picks the smallest with headroom per population.
    v_bits: int | None = None
    #: Extra bits above what thresholds and one step's current need (room for integration).
    headroom_bits: int = 2
    #: Gain shift of every projection; None takes the model's `config.gain_shift`. The float
    #: model does not depend on it: it only sets how finely thresholds and biases are rounded.
    gain_shift: int | None = None


@dataclass
class PopulationFold:
    """What folding did to one population, for the compile notes."""

    name: str
    scale_min: float = 0.0
    scale_max: float = 0.0
    notes: list[str] = field(default_factory=list)


def _bits_for(magnitude: int) -> int:
    """Two's complement width that holds -magnitude..magnitude."""
    return int(magnitude).bit_length() + 1


def graph_v_bits(graph: Graph, population: Population, theta, beta, headroom_bits: int) -> int:
    """Smallest membrane width holding `burst_max` thresholds and one step's largest current plus
    bias, the current bounded per channel by the sum over every projection that adds into that
    channel of its largest contribution (`current_bound`: `projection_bound` times 2^g), plus
    headroom; a readout integrates T
    steps with no reset, so it gets room for T of them. Capped at the format's 32 bits.

    Why this never saturates with `leak_shift = 1` and 2 bits of headroom: with `B` the largest
    `|z| + |beta|`, the leaked membrane is `floor(v / 2)`, so `|h| <= |v| / 2 + 1/2 + B`, and
    either reset only moves `v` toward 0; hence `|v| <= 2B + 1 < 4B <= 2^(v_bits-1)` at every
    step, unless the width hit the 32-bit cap. (For `leak_shift = k` the same argument bounds
    `|v|` by `2^k * (B + 1/2)`: `headroom_bits >= k` keeps the claim.)
    """
    current = current_bound(graph, population) + int(np.abs(beta).max(initial=0))
    if population.spiking:
        need = max(population.burst_max * int(np.max(theta, initial=1)), current)
        bits = _bits_for(need) + headroom_bits
    else:
        bits = _bits_for(current * graph.timesteps)
    if population.leak_shift is not None:
        bits = max(bits, population.leak_shift + 1)
    return min(max(bits, V_BITS.start), V_BITS.stop - 1)


def _fold(norm: PopNorm, gain_shift: int, name: str):
    """`(theta, beta, fold)` as float64 at the norm's broadcast shape (`[C, 1, 1]` per channel,
    `[1, H, 1]` per row, `[1, 1, W]` per column) before clipping."""
    scale = norm.scale().double().numpy()
    shift = norm.shift().double().numpy()
    magnitude = np.maximum(scale, _MIN_SCALE)
    fold = PopulationFold(name, float(magnitude.min()), float(magnitude.max()))
    unit = float(1 << gain_shift)
    theta = np.maximum(np.rint(unit / magnitude), 1)
    beta = np.rint(unit * shift / magnitude)
    shape = norm.broadcast_shape() if hasattr(norm, "broadcast_shape") else (-1, 1, 1)
    return theta.reshape(shape), beta.reshape(shape), fold


def _population_shift(model: SpikingMixer, spec: PopulationSpec, gain_shift: int) -> int:
    """The shift `g_P` that sets `P`'s threshold units: `gain_shift`, moved (least) so that
    `g_P + e` stays in 0..7 for every projection's gain exponent `e`."""
    exponents = [model.gain_exponent(spec.name, i) for i in range(len(spec.terms))]
    low, high = -min(exponents), 7 - max(exponents)
    if low > high:
        raise ValueError(f"{spec.name}: gain exponents {exponents} span more than 0..7")
    return min(max(gain_shift, low), high)


def _stored_weight(name: str, values: torch.Tensor) -> Weight:
    """A model weight as stored: binary, its +1/-1 values as int8 (validation rejects a 0)."""
    return Weight(name, 1, values.round().to(torch.int64).numpy().astype(np.int8))


def _fold_readout(model, gain_shift: int):
    """`(population, theta, beta, fold, weight)` of a model's readout `gain * head(x) + bias`
    (`head` a `QuantLinear`), `theta` and `beta` float64 before clipping."""
    head = model.head
    shared = float(model.gain * head.step())
    readout_weight = head.integer_weight()
    if shared < 0:
        readout_weight = -readout_weight
    magnitude = max(abs(shared), _MIN_SCALE)
    beta = np.rint((1 << gain_shift) * model.bias.double().numpy() / magnitude)
    theta = np.ones_like(beta)  # unused by a readout; the format needs >= 1
    readout = Population(
        name="readout",
        shape=(model.config.classes,),
        neuron="readout",
        threshold=theta,
        bias=beta,
        leak_shift=None,
        reset="zero",
    )
    fold = PopulationFold("readout", magnitude, magnitude)
    if shared < 0:
        fold.notes.append("negative readout gain: readout weights negated")
    return readout, theta, beta, fold, readout_weight


def compile_mixer(model: SpikingMixer, options: GraphCompileOptions | None = None):
    """Return `(graph, notes)`: the validated format-2 Program and per-population folds."""
    options = options or GraphCompileOptions()
    config = model.config
    model = model.eval()
    g = config.gain_shift if options.gain_shift is None else options.gain_shift
    neuron = "lifb" if config.burst_max > 1 else "lif"
    weights: dict[str, Weight] = {}
    projections: list[Projection] = []
    staged: list[tuple[Population, np.ndarray, np.ndarray, PopulationFold]] = []

    def weight(name: str, values: torch.Tensor, bits: int = 1) -> str:
        weights[name] = Weight(name, bits, values.numpy().astype(np.int8))
        return name

    with torch.no_grad():
        values = model.weight_tensors()
        specs = model.population_specs()
        for spec in specs:
            shift = _population_shift(model, spec, g)
            theta, beta, fold = _fold(spec.norm, shift, spec.name)
            if shift != g:
                fold.notes.append(f"threshold units 2^-{shift} (projection gains)")
            pop = Population(
                name=spec.name,
                shape=spec.shape,
                neuron=neuron,
                threshold=theta,
                bias=beta,
                burst_max=config.burst_max,
                leak_shift=config.leak_shift,
                reset=config.reset,
            )
            staged.append((pop, theta, beta, fold))
            for index, term in enumerate(spec.terms):
                if term.weight not in weights:
                    weights[term.weight] = _stored_weight(term.weight, values[term.weight])
                # One stored tensor serves every projection that names it (h, token).
                projections.append(
                    Projection(
                        term.source,
                        spec.name,
                        term.kind,
                        term.weight,
                        shift + model.gain_exponent(spec.name, index),
                        axis=term.axis,
                        stride=(term.stride, term.stride),
                        padding=(term.padding, term.padding),
                        channels=term.channels,
                    )
                )
        x = specs[-1].name

        readout, theta, beta, fold, readout_weight = _fold_readout(model, g)
        staged.append((readout, theta, beta, fold))
        name = weight("readout", readout_weight, model.head.bits)
        projections.append(Projection(x, "readout", "dense", name, g))

    graph = Graph(
        timesteps=config.timesteps,
        input_name=_INPUT,
        input_shape=model.encoder.shape,
        populations=[pop for pop, *_ in staged],
        weights=weights,
        projections=projections,
        encoder=model.encoder.spec(),
        encoder_arrays=model.encoder.arrays(),
        dataset=None,
    )
    notes = []
    for pop, theta, beta, fold in staged:
        pop.v_bits = options.v_bits or graph_v_bits(graph, pop, theta, beta, options.headroom_bits)
        pop.threshold, pop.bias = clip_to_membrane(theta, beta, pop.v_bits, fold)
        notes.append(fold)
    return graph.validate(), notes
