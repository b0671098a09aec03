"""Binary and k-bit linear layers trained with a straight-through estimator.

The forward pass uses the quantized weights the engine will hold, times one per-tensor step
size; the backward pass treats quantization as the identity inside the clipping range.
`integer_weight()` returns exactly the integers the compiler writes into a Program.
"""

import math

import torch
from torch import nn

__all__ = ["QuantLinear"]


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class _SignSTE(torch.autograd.Function):
    """sign() with +1 at zero; gradient passes where |w| <= 1 (BinaryConnect's clipped STE)."""

    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= 1).to(grad.dtype)


class QuantLinear(nn.Module):
    """`y = x @ (step * Wq)` with `Wq` binary (+1/-1) or `bits`-bit two's complement, no bias.

    A bias would be folded away anyway: the batch norm or readout bias after this layer holds it.
    """

    def __init__(self, in_features: int, out_features: int, bits: int = 1):
        super().__init__()
        if not 1 <= bits <= 8:
            raise ValueError(f"weight bits must be in 1..8, got {bits}")
        self.in_features, self.out_features, self.bits = in_features, out_features, bits
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        bound = 1 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)

    @property
    def qmax(self) -> int:
        return 1 if self.bits == 1 else (1 << (self.bits - 1)) - 1

    def step(self) -> torch.Tensor:
        """The float value of one integer weight unit (1 for binary weights)."""
        if self.bits == 1:
            return torch.ones((), device=self.weight.device)
        return (self.weight.detach().abs().max() / self.qmax).clamp_min(1e-8)

    def quantized(self) -> torch.Tensor:
        """Integer-valued float weights, differentiable through the STE."""
        if self.bits == 1:
            return _SignSTE.apply(self.weight)
        q = _RoundSTE.apply(self.weight / self.step())
        return q.clamp(-self.qmax - 1, self.qmax)

    def integer_weight(self) -> torch.Tensor:
        """The weights as int64 `[in, out]`, exactly what the engine stores."""
        with torch.no_grad():
            return self.quantized().round().to(torch.int64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.quantized() * self.step())

    def clip_(self) -> None:
        """Keep latent binary weights in [-1, 1], where the STE passes gradient."""
        if self.bits == 1:
            with torch.no_grad():
                self.weight.clamp_(-1, 1)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, bits={self.bits}"
