"""The Mixer-SNN family: a spiking MLP-Mixer on a grid of patch tokens, built from binary weights.

Every spiking tensor is a *population* `[channels, rows, columns]` whose current is a sum of
*projections* of spike counts through binary weights, the graph the compiler writes as a
format-2 Program (docs/semantics.md, section 8):

- the patch embedding `h = Conv(p x p, stride p)(input)` is a projection from the input; its
  current is re-used (the same weight tensor, stored once) by every population that adds `h`;
- `x0 = LIF(BN(h))`, then per block, from the block's input `x`:
  `x_h = LIF(BN(A_H x))` and `x_w = LIF(BN(A_W x))` (one matrix along the rows, one along the
  columns, shared by every channel), `token = T_x x + T_h x_h + T_w x_w` (1x1 channel mixing),
  `x_t = LIF(BN(h + token))`, `ff = LIF(BN(F_1 x_t))` (`3C` channels) and the block output
  `x = LIF(BN(h + token + F_2 ff))`: residuals add currents, never spikes;
- a readout integrates a dense projection of the last block's spikes over T.

Each population has one batch norm on its summed current, per channel, with a *positive* scale
(`|gamma|`): a weight tensor shared by several projections cannot flip its sign per target
neuron, so the compiler needs every scale positive. Neurons fire at a float threshold of 1.
"""

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .encoders import ImageThermometerEncoder
from .layers import QuantLinear, _SignSTE
from .neurons import LIF, Readout, check_neuron_kind

__all__ = ["MixerConfig", "SpikingMixer", "ImageThermometerEncoder", "BinaryWeight", "PopNorm"]


@dataclass
class MixerConfig:
    """Everything that defines the architecture (stored in every checkpoint)."""

    image_size: int = 8  # square images, image_size x image_size pixels
    classes: int = 10
    channels: int = 32
    blocks: int = 2
    patch: int = 2  # patch embedding kernel and stride: tokens on an (image/patch)^2 grid
    timesteps: int = 4
    levels: int = 4  # thermometer channels per pixel
    gain_shift: int = 4  # every projection into a population is multiplied by 2^gain_shift
    neuron: str = "lif"  # lif | lifb
    burst_max: int = 1  # 2..7 for lifb
    leak_shift: int = 1  # tau = 2^k
    reset: str = "zero"
    weight_bits: int = 1  # readout weights; every other weight is binary

    def __post_init__(self):
        check_neuron_kind(self.neuron, self.burst_max)
        if self.reset not in ("zero", "subtract"):
            raise ValueError(f"reset must be 'zero' or 'subtract', got {self.reset!r}")
        if self.image_size % self.patch:
            raise ValueError(f"patch {self.patch} does not divide image_size {self.image_size}")
        if not 0 <= self.gain_shift <= 7:
            raise ValueError(f"gain_shift must be in 0..7, got {self.gain_shift}")
        if not 1 <= self.weight_bits <= 8:
            raise ValueError(f"weight_bits must be in 1..8, got {self.weight_bits}")
        if self.blocks < 1:
            raise ValueError(f"blocks must be >= 1, got {self.blocks}")

    @property
    def tokens(self) -> int:
        """Rows (and columns) of the token grid."""
        return self.image_size // self.patch

    def as_dict(self) -> dict:
        return asdict(self)


class BinaryWeight(nn.Module):
    """A latent float tensor whose forward value is its sign (+1 at zero), through the clipped
    straight-through estimator of `QuantLinear`."""

    def __init__(self, *shape: int, fan_in: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(shape))
        bound = 1 / math.sqrt(fan_in)
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self) -> torch.Tensor:
        return _SignSTE.apply(self.weight)

    def integer_weight(self) -> torch.Tensor:
        with torch.no_grad():
            return self().round().to(torch.int64)

    def clip_(self) -> None:
        with torch.no_grad():
            self.weight.clamp_(-1, 1)


class PopNorm(nn.Module):
    """Per-channel batch norm of a population's summed current with a positive scale `|gamma|`.

    In eval mode it is `scale * u + shift` per channel (`scale()`, `shift()`), what the compiler
    folds into integer thresholds and biases.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False, eps=eps)
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def scale(self) -> torch.Tensor:
        return self.gamma.abs() / torch.sqrt(self.norm.running_var + self.norm.eps)

    def shift(self) -> torch.Tensor:
        return self.beta - self.norm.running_mean * self.scale()

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """`u`: `[batch, T, C, H, W]`."""
        batch, steps = u.shape[:2]
        y = self.norm(u.flatten(0, 1)).unflatten(0, (batch, steps))
        return y * self.gamma.abs().view(-1, 1, 1) + self.beta.view(-1, 1, 1)


class MixerBlock(nn.Module):
    """One block's weights and batch norms; `SpikingMixer.run` wires them."""

    def __init__(self, channels: int, tokens: int):
        super().__init__()
        c = channels
        self.mix_h = BinaryWeight(tokens, tokens, fan_in=tokens)  # [S_a, U_a] along rows
        self.mix_w = BinaryWeight(tokens, tokens, fan_in=tokens)  # along columns
        self.token_x = BinaryWeight(c, c, fan_in=3 * c)  # 1x1 channel mixing, [C_in, C_out]
        self.token_h = BinaryWeight(c, c, fan_in=3 * c)
        self.token_w = BinaryWeight(c, c, fan_in=3 * c)
        self.ff_in = BinaryWeight(c, 3 * c, fan_in=c)
        self.ff_out = BinaryWeight(3 * c, c, fan_in=3 * c)
        self.norm_h = PopNorm(c)
        self.norm_w = PopNorm(c)
        self.norm_t = PopNorm(c)
        self.norm_ff = PopNorm(3 * c)
        self.norm_out = PopNorm(c)


def mix(x: torch.Tensor, weight: torch.Tensor, axis: int) -> torch.Tensor:
    """An `axis` projection (semantics 8.2) of counts `[batch, T, C, H, W]` along population axis
    `axis` (0 = channels, 1 = rows, 2 = columns) by `weight` `[S_a, U_a]`."""
    moved = x.movedim(2 + axis, -1)
    return (moved @ weight).movedim(-1, 2 + axis)


class SpikingMixer(nn.Module):
    def __init__(self, config: MixerConfig):
        super().__init__()
        self.config = c = config
        self.encoder = ImageThermometerEncoder(c.image_size, c.timesteps, c.levels)
        self.patch = BinaryWeight(
            c.channels, c.levels, c.patch, c.patch, fan_in=c.levels * c.patch**2
        )
        self.norm0 = PopNorm(c.channels)
        self.blocks = nn.ModuleList(MixerBlock(c.channels, c.tokens) for _ in range(c.blocks))
        self.head = QuantLinear(c.channels * c.tokens**2, c.classes, c.weight_bits)
        self.gain = nn.Parameter(torch.tensor((c.channels * c.tokens**2) ** -0.5))
        self.bias = nn.Parameter(torch.zeros(c.classes))
        self.neuron = LIF(leak_shift=c.leak_shift, reset=c.reset, burst_max=c.burst_max)
        self.readout = Readout(leak_shift=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw images `[batch, H * W]` (or `[batch, H, W]`) in [0, 1] -> class scores."""
        return self.forward_spikes(self.encoder(x))

    def forward_spikes(self, spikes: torch.Tensor) -> torch.Tensor:
        """Input spikes `[batch, T, levels, H, W]` -> class scores (the readout's final v)."""
        return self.run(spikes)[0]

    def run(self, spikes: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Class scores and the spikes `[batch, T, C, H, W]` of every population, keyed by the
        names the compiler gives them (`x0`, then `b{i}_h`, `b{i}_w`, `b{i}_t`, `b{i}_ff`,
        `b{i}_out` per block)."""
        c = self.config
        batch, steps = spikes.shape[:2]
        flat = F.conv2d(spikes.flatten(0, 1), self.patch(), stride=c.patch)
        h = flat.unflatten(0, (batch, steps))
        populations = {}
        x = populations["x0"] = self.neuron(self.norm0(h))
        for index, block in enumerate(self.blocks):
            name = f"b{index}"
            x_h = populations[f"{name}_h"] = self.neuron(block.norm_h(mix(x, block.mix_h(), 1)))
            x_w = populations[f"{name}_w"] = self.neuron(block.norm_w(mix(x, block.mix_w(), 2)))
            token = (
                mix(x, block.token_x(), 0)
                + mix(x_h, block.token_h(), 0)
                + mix(x_w, block.token_w(), 0)
            )
            x_t = populations[f"{name}_t"] = self.neuron(block.norm_t(h + token))
            ff = populations[f"{name}_ff"] = self.neuron(block.norm_ff(mix(x_t, block.ff_in(), 0)))
            x = populations[f"{name}_out"] = self.neuron(
                block.norm_out(h + token + mix(ff, block.ff_out(), 0))
            )
        current = self.gain * self.head(x.flatten(2)) + self.bias
        return self.readout(current), populations

    def binary_weights(self) -> list[BinaryWeight]:
        return [module for module in self.modules() if isinstance(module, BinaryWeight)]

    def clip_weights_(self) -> None:
        for weight in self.binary_weights():
            weight.clip_()
        self.head.clip_()
