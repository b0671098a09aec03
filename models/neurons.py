"""LIF and LIFB neurons in float, following the integer rules of docs/semantics.md.

The forward pass is the float twin of the integer engine: leak `v * 2^-k` (or none), threshold
`theta`, zero or subtract reset, bursts of up to `burst_max` spikes, and a readout integrator.
Inputs are multi-step, `[batch, T, features]`; state lives only inside one call, so samples never
share it and there are no globals to reset.
"""

import torch
from torch import nn

__all__ = ["SpikeFunction", "LIF", "LIFB", "Readout", "leak_step", "check_neuron_kind"]


def check_neuron_kind(neuron: str, burst_max: int) -> None:
    """ValueError unless `neuron` is lif (burst_max 1) or lifb (burst_max 2..7): a model
    configuration's neurons, as the Program formats allow them."""
    if neuron not in ("lif", "lifb"):
        raise ValueError(f"neuron must be 'lif' or 'lifb', got {neuron!r}")
    if neuron == "lif" and burst_max != 1:
        raise ValueError(f"a lif neuron has burst_max 1, got {burst_max}")
    if neuron == "lifb" and not 2 <= burst_max <= 7:
        raise ValueError(f"a lifb neuron has burst_max in 2..7, got {burst_max}")


class SpikeFunction(torch.autograd.Function):
    """Heaviside step forward; the derivative of a scaled arctan backward (a surrogate)."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        alpha = ctx.alpha
        surrogate = alpha / 2 / (1 + (torch.pi / 2 * alpha * x) ** 2)
        return grad * surrogate, None


def leak_step(v: torch.Tensor, leak_shift: int | None) -> torch.Tensor:
    """The membrane after one step of leak: `v - v * 2^-k`, or `v` when there is no leak."""
    if leak_shift is None:
        return v
    return v - v * (2.0**-leak_shift)


class LIF(nn.Module):
    """Leaky integrate-and-fire neurons with a float threshold of 1 (scales fold into it).

    `burst_max > 1` makes these LIFB neurons: the output at a step is the number of multiples of
    the threshold that the membrane reached, up to `burst_max`.
    """

    def __init__(
        self,
        leak_shift: int | None = 1,
        reset: str = "subtract",
        burst_max: int = 1,
        threshold: float = 1.0,
        surrogate_alpha: float = 2.0,
        detach_reset: bool = True,
    ):
        super().__init__()
        if reset not in ("zero", "subtract"):
            raise ValueError(f"reset must be 'zero' or 'subtract', got {reset!r}")
        if not 1 <= burst_max <= 7:
            raise ValueError(f"burst_max must be in 1..7, got {burst_max}")
        self.leak_shift = leak_shift
        self.reset = reset
        self.burst_max = burst_max
        self.threshold = threshold
        self.surrogate_alpha = surrogate_alpha
        self.detach_reset = detach_reset

    def forward(self, x: torch.Tensor, return_membrane: bool = False):
        """`x`: input current `[batch, T, n]`; returns spike counts of the same shape."""
        v = torch.zeros_like(x[:, 0])
        spikes, membranes = [], []
        for t in range(x.shape[1]):
            h = leak_step(v, self.leak_shift) + x[:, t]
            n = sum(
                SpikeFunction.apply(h - m * self.threshold, self.surrogate_alpha)
                for m in range(1, self.burst_max + 1)
            )
            n_reset = n.detach() if self.detach_reset else n
            if self.reset == "zero":
                v = h * (1 - n_reset.clamp(max=1))
            else:
                v = h - n_reset * self.threshold
            spikes.append(n)
            membranes.append(v)
        out = torch.stack(spikes, dim=1)
        return (out, torch.stack(membranes, dim=1)) if return_membrane else out

    def extra_repr(self) -> str:
        return f"leak_shift={self.leak_shift}, reset={self.reset!r}, burst_max={self.burst_max}"


class LIFB(LIF):
    """LIF neurons that emit bursts of up to `burst_max` (2..7) spikes per step."""

    def __init__(self, burst_max: int = 2, **kwargs):
        if not 2 <= burst_max <= 7:
            raise ValueError(f"LIFB burst_max must be in 2..7, got {burst_max}")
        super().__init__(burst_max=burst_max, **kwargs)


class Readout(nn.Module):
    """A non-spiking integrator: `v = v - leak + x` each step; the output is the final `v`."""

    def __init__(self, leak_shift: int | None = None):
        super().__init__()
        self.leak_shift = leak_shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(x[:, 0])
        for t in range(x.shape[1]):
            v = leak_step(v, self.leak_shift) + x[:, t]
        return v
