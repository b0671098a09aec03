"""The golden model: DESIGN.md section 2 in integer PyTorch, batched over samples.

Every backend is checked against this module, so it favours plainness over cleverness, with two
exact shortcuts for speed:

- A layer's input at timestep t depends only on the layer before at the same t, so each layer
  runs all T timesteps in one matrix product, then a scan over t of integer elementwise updates.
- The matrix product runs in float32 when no partial sum can reach 2^24 (every integer below
  that is a float32, so the result is exact whatever the summation order), else in float64.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from hw.params import v_range

from .errors import InputError
from .program import FLOAT32_EXACT, Layer, Program

__all__ = ["Result", "run_golden", "check_spikes"]


@dataclass
class Result:
    """Outputs of a batch of samples, as every backend returns them (DESIGN.md section 3)."""

    readout: np.ndarray  # int64 [samples, n_last]
    spikes: dict[str, np.ndarray]  # layer name -> uint8 [samples, T, n]
    cycles: np.ndarray  # int64 [samples]; 0 for the golden model
    membranes: dict[str, np.ndarray] = field(default_factory=dict)  # int64 [samples, T, n]

    @property
    def predictions(self) -> np.ndarray:
        """Predicted class: argmax of the readout, lowest index on ties."""
        return np.argmax(self.readout, axis=1)

    def save(self, path) -> None:
        arrays = {"readout": self.readout, "cycles": self.cycles}
        arrays.update({f"{name}.spikes": value for name, value in self.spikes.items()})
        np.savez_compressed(path, **arrays)


def check_spikes(program: Program, spikes) -> np.ndarray:
    """Validate input spikes `[samples, T, inputs]` of 0/1 against `program`; return uint8."""
    spikes = np.asarray(spikes)
    expected = (program.timesteps, program.inputs)
    if spikes.ndim != 3 or spikes.shape[1:] != expected:
        raise InputError(
            f"input spikes have shape {spikes.shape}, expected (samples, {expected[0]}, "
            f"{expected[1]}) for this Program"
        )
    if spikes.dtype.kind not in "biu":
        raise InputError(f"input spikes must be integers 0/1, got dtype {spikes.dtype}")
    if spikes.size and (spikes.min() < 0 or spikes.max() > 1):
        raise InputError(
            f"input spikes must be 0 or 1, found values in {spikes.min()}..{spikes.max()}"
        )
    return spikes.astype(np.uint8, copy=False)


def _layer_currents(layer: Layer, counts: torch.Tensor, max_count: int) -> torch.Tensor:
    """z[b, t, j] = sum_i counts[b, t, i] * W[i, j], exactly, as int64."""
    exact32 = layer.max_abs_current(max_count) < FLOAT32_EXACT
    dtype = torch.float32 if exact32 else torch.float64
    weight = torch.from_numpy(layer.weight).to(dtype)
    z = torch.matmul(counts.to(dtype), weight)
    return z.round_().to(torch.int64)


def _run_layer(layer: Layer, z: torch.Tensor, trace: bool):
    """Scan the membrane of one layer over T; return (spike counts, final v, trace)."""
    samples, steps, n_out = z.shape
    low, high = v_range(layer.v_bits)
    theta = torch.from_numpy(layer.threshold.astype(np.int64))
    beta = torch.from_numpy(layer.bias.astype(np.int64))
    k = layer.leak_shift
    rounding = (1 << (k - 1)) if k else 0
    v = torch.zeros(samples, n_out, dtype=torch.int64)
    counts = torch.zeros(samples, steps, n_out, dtype=torch.uint8) if layer.spiking else None
    membranes = torch.empty(samples, steps, n_out, dtype=torch.int64) if trace else None
    for t in range(steps):
        leak = 0 if k is None else (v + rounding) >> k
        h = (v - leak + z[:, t] + beta).clamp_(low, high)
        if layer.spiking:
            # #{m in 1..M : h >= m * theta} is floor(h / theta) clipped to 0..M.
            n = torch.div(h, theta, rounding_mode="floor").clamp_(0, layer.burst_max)
            if layer.reset == "zero":
                v = torch.where(n > 0, torch.zeros_like(h), h)
            else:
                v = (h - n * theta).clamp_(low, high)
            counts[:, t] = n.to(torch.uint8)
        else:
            v = h
        if trace:
            membranes[:, t] = v
    return counts, v, membranes


@torch.no_grad()
def run_golden(
    program: Program, spikes, batch_size: int = 4096, trace: bool = False
) -> Result:
    """Run `program` on input spikes `[samples, T, inputs]`.

    With `trace=True` the result also holds every layer's membrane after each timestep.
    """
    spikes = check_spikes(program, spikes)
    samples = spikes.shape[0]
    last = program.layers[-1]
    readout = np.zeros((samples, last.outputs), dtype=np.int64)
    out_spikes = {
        layer.name: np.zeros((samples, program.timesteps, layer.outputs), dtype=np.uint8)
        for layer in program.layers
        if layer.spiking
    }
    membranes = {
        layer.name: np.zeros((samples, program.timesteps, layer.outputs), dtype=np.int64)
        for layer in program.layers
    } if trace else {}
    max_counts = program.layer_input_counts()
    for start in range(0, samples, batch_size):
        stop = min(start + batch_size, samples)
        counts = torch.from_numpy(spikes[start:stop])
        for layer, max_count in zip(program.layers, max_counts):
            z = _layer_currents(layer, counts, max_count)
            counts, v, trace_v = _run_layer(layer, z, trace)
            if layer.spiking:
                out_spikes[layer.name][start:stop] = counts.numpy()
            if trace:
                membranes[layer.name][start:stop] = trace_v.numpy()
        if last.spiking:
            readout[start:stop] = counts.to(torch.int64).sum(dim=1).numpy()
        else:
            readout[start:stop] = v.numpy()
    return Result(
        readout=readout,
        spikes=out_spikes,
        cycles=np.zeros(samples, dtype=np.int64),
        membranes=membranes,
    )
