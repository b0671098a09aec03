"""Batch norms set to exactly representable values, for the spike-for-spike compile tests of
the graph models."""

import numpy as np
import torch
from spikeloom.models.mixer import PopNorm


def set_exact_norms(model: torch.nn.Module, rng: np.random.Generator, gain_shift: int) -> None:
    """Every `PopNorm` of `model`: scales 2^-1..2^1 (gamma of either sign: the model uses
    |gamma|) and shifts that are whole multiples of scale / 2^g, so theta = 2^g / scale and
    beta = 2^g * shift / scale are integers and every float value on the way (a scan's
    half-unit carries too) is a short dyadic fraction, computed exactly."""
    with torch.no_grad():
        for norm in model.modules():
            if not isinstance(norm, PopNorm):
                continue
            n = norm.gamma.numel()
            norm.norm.eps = 0.0
            norm.norm.running_mean.zero_()
            norm.norm.running_var.fill_(1.0)
            scale = rng.choice([0.5, 1.0, 2.0], size=n) * rng.choice([-1.0, 1.0], size=n)
            norm.gamma.copy_(torch.from_numpy(scale))
            steps = rng.integers(-12, 12, size=n)
            norm.beta.copy_(torch.from_numpy(np.abs(scale) * steps / 2**gain_shift))


def set_exact_readout(model: torch.nn.Module, rng: np.random.Generator, gain_shift: int) -> None:
    """The readout of a graph model (`head`, `gain`, `bias`) at exactly representable values:
    a multi-bit head's integer weights times 2^-2 with the largest at qmax (the step is exactly
    0.25), a negative gain (the compiler negates the readout weights) and biases in multiples
    of step / 2^(g+1)."""
    with torch.no_grad():
        head = model.head
        if head.bits > 1:
            values = rng.integers(-head.qmax, head.qmax + 1, size=head.weight.shape)
            values[0, 0] = head.qmax
            head.weight.copy_(torch.from_numpy(values * 0.25))
        model.gain.fill_(-0.5)
        step = float(head.step())
        classes = torch.arange(head.out_features, dtype=torch.float32)
        model.bias.copy_(0.5 * step * classes / 2**gain_shift)
