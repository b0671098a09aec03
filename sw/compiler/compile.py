"""Compile a trained `SpikingMLP` into an integer Program (docs/semantics.md, its format in
docs/program-format.md).

Each engine layer computes, in float, `y = a * z + d` with `z` the integer weighted input count,
`a` the weight step times the batch-norm scale and `d` the batch-norm shift; its neurons fire at
a float threshold of 1. Dividing the membrane by `|a|` turns this into the integer rule
`h = v - leak + z + beta` with threshold `theta = round(1 / |a|)` and `beta = round(d / |a|)`;
the leak commutes with the division. A negative `a` flips that neuron's weight signs. A readout
layer has one shared `a`, so dividing by it keeps the argmax.
"""

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from spikeloom.hw.params import V_BITS, v_range
from spikeloom.models.mlp import EngineLayer, ReadoutLayer, SpikingMLP
from spikeloom.sw.compiler.program import Layer, Program

__all__ = ["CompileOptions", "compile_model", "auto_v_bits", "clip_to_membrane"]

#: Smallest |a| the compiler divides by: below it the neuron's input barely matters.
_MIN_SCALE = 1e-9


@dataclass
class CompileOptions:
    #: Membrane width for every layer; None picks the smallest width with headroom per layer.
    v_bits: int | None = None
    #: Extra bits above what thresholds and one step's current need (room for integration).
    headroom_bits: int = 2


@dataclass
class LayerFold:
    """What folding did to one layer, for the compile report."""

    name: str
    flipped: int = 0
    scale_min: float = 0.0
    scale_max: float = 0.0
    notes: list[str] = field(default_factory=list)


def _bits_for(magnitude: int) -> int:
    """Two's complement width that holds -magnitude..magnitude."""
    return int(magnitude).bit_length() + 1


def auto_v_bits(layer: Layer, max_count: int, timesteps: int, headroom_bits: int) -> int:
    """Smallest membrane width that holds thresholds, biases and one step's input, plus headroom.

    A readout integrates over all T steps without reset, so it gets room for T of them. The
    width is capped at the format's 32 bits: a neuron whose batch-norm scale is nearly zero can
    ask for an enormous threshold, and is then clipped (and reported) rather than failing.
    """
    current = layer.max_abs_current(max_count) + int(np.abs(layer.bias).max(initial=0))
    if layer.spiking:
        need = max(layer.burst_max * int(layer.threshold.max(initial=1)), current)
        bits = _bits_for(need) + headroom_bits
    else:
        bits = _bits_for(current * timesteps)
    if layer.leak_shift is not None:  # the format needs leak_shift < v_bits
        bits = max(bits, layer.leak_shift + 1)
    return min(max(bits, V_BITS.start), V_BITS.stop - 1)


def clip_to_membrane(theta, beta, v_bits: int, fold) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds and biases as int32 within a `v_bits` membrane (thresholds >= 1); how many
    neurons had to be clipped goes into `fold.notes`."""
    low, high = v_range(v_bits)
    clipped_theta = np.clip(theta, 1, high)
    clipped_beta = np.clip(beta, low, high)
    clipped = int(((clipped_theta != theta) | (clipped_beta != beta)).sum())
    if clipped:
        fold.notes.append(
            f"{clipped} neurons' thresholds or biases clipped to {low}..{high} (v_bits={v_bits})"
        )
    return clipped_theta.astype(np.int32), clipped_beta.astype(np.int32)


def _fold_scale(scale: np.ndarray, shift: np.ndarray, weight: np.ndarray, name: str):
    """Divide by |scale| per neuron: returns (weight with flipped columns, theta, beta, fold)."""
    fold = LayerFold(name)
    flip = scale < 0
    magnitude = np.maximum(np.abs(scale), _MIN_SCALE)
    fold.flipped = int(flip.sum())
    fold.scale_min, fold.scale_max = float(magnitude.min()), float(magnitude.max())
    weight = np.where(flip[None, :], -weight, weight)
    theta = np.maximum(np.rint(1.0 / magnitude), 1)
    beta = np.rint(shift / magnitude)
    return weight, theta, beta, fold


def _fold_engine_layer(layer: EngineLayer) -> tuple[np.ndarray, ...]:
    norm = layer.norm
    inv_std = 1.0 / torch.sqrt(norm.running_var.double() + norm.eps)
    gamma, shift = norm.weight.double(), norm.bias.double()
    scale = layer.linear.step().double() * gamma * inv_std
    offset = shift - gamma * norm.running_mean.double() * inv_std
    return scale.numpy(), offset.numpy()


def compile_model(model: SpikingMLP, options: CompileOptions | None = None):
    """Return `(program, folds)`: the integer Program and per-layer folding notes."""
    options = options or CompileOptions()
    config = model.config
    model = model.eval()
    layers, folds = [], []
    max_count = 1
    with torch.no_grad():
        for index, module in enumerate(model.layers):
            name = f"fc{index + 1}"
            weight = module.linear.integer_weight().numpy()
            if isinstance(module, ReadoutLayer):
                shared = float(module.gain * module.linear.step())
                scale = np.full(weight.shape[1], shared)
                offset = module.bias.double().numpy()
                neuron, burst, leak, reset = "readout", 1, None, "zero"
            else:
                scale, offset = _fold_engine_layer(module)
                lif = module.neuron
                neuron = "lifb" if lif.burst_max > 1 else "lif"
                burst, leak, reset = lif.burst_max, lif.leak_shift, lif.reset
            weight, theta, beta, fold = _fold_scale(scale, offset, weight, name)
            if neuron == "readout":
                theta = np.ones_like(theta)  # unused by a readout; the format needs >= 1
            layer = Layer(
                name=name,
                weight=weight.astype(np.int8),
                threshold=np.zeros(len(theta), np.int32),
                bias=np.zeros(len(beta), np.int32),
                weight_bits=module.linear.bits,
                neuron=neuron,
                burst_max=burst,
                leak_shift=leak,
                reset=reset,
            )
            layer.v_bits = options.v_bits or auto_v_bits(
                _with_params(layer, theta, beta),
                max_count,
                config.timesteps,
                options.headroom_bits,
            )
            layer.threshold, layer.bias = clip_to_membrane(theta, beta, layer.v_bits, fold)
            layers.append(layer)
            folds.append(fold)
            max_count = burst
    program = Program(
        timesteps=config.timesteps,
        inputs=model.encoder.channels,
        layers=layers,
        encoder=model.encoder.spec(),
        encoder_arrays=model.encoder.arrays(),
    )
    return program.validate(), folds


def _with_params(layer: Layer, theta: np.ndarray, beta: np.ndarray) -> Layer:
    """A copy of `layer` holding unclipped int64 thresholds and biases, for sizing only."""
    return replace(layer, threshold=theta.astype(np.int64), bias=beta.astype(np.int64))
