"""A spiking SNN-MLP (Li et al., CVPR 2022) on a grid of patch tokens, built from binary weights.

The published SNN-MLP is a real-valued MLP whose token mixing is a LIF recurrence run *along
space*. This is its spiking reading, written as the populations and projections of a format-2
graph (docs/semantics.md, section 8), every population `[channels, rows, columns]`:

- **Stem**: thermometer-coded pixels (`ImageThermometerEncoder`) and a patch embedding
  `h = Conv(p x p, stride p)`, a `conv` projection from the input (section 8.2);
  `x0 = LIF(BN(h))`.
- **Block**, from the block's input `x` (spikes) and its residual current `u` (below):
  `p = LIF(BN(P x))` (1x1 convolution: an `axis` projection along channels),
  `a = LIF(BN(D p))` (depthwise 3x3, padding 1: a `conv` projection with `groups = C`),
  `lr = Scan_W(BN(L a))` and `td = Scan_H(BN(V a))`: scan populations (section 8.5) walking
  along the columns (axis 2) and the rows (axis 1), their currents 1x1 channel mixings of `a`;
  `x_t = LIF(BN(u + M lr + M td))`, where `M` (the seed's `conv3`) is **one** weight tensor used
  by two projections, so `M lr + M td = conv3(lr + td)`;
  `ff = LIF(BN(F_1 x_t))` with `ratio * C` channels and `x' = LIF(BN(u + M lr + M td + F_2 ff))`.
- **Readout**: a dense binary (or `weight_bits`) projection of the last block's spikes, times one
  learned `gain`, plus a per-class `bias`, integrated over T (section 8.4), as in the Mixer-SNN.

Design decisions:

- **Residuals are currents.** The seed's `x += f(x)` adds real values; spikes cannot be added
  and fired again without loss, so the residual stream is kept as a *current*: `u` starts as the
  patch embedding `h`, and each population that the seed's `x +=` feeds (`x_t`, `x'`) receives
  every projection that made up `u` (re-computed from the stored weights: section 8.2's sums
  simply add), plus the block's own new terms; the block output's current becomes the next
  block's `u`. So block `i`'s `x_t` repeats `1 + 3 i` projections (the patch embedding, then
  two `M` and one `F_2` per earlier block) beside its own two, and `x'` those and `F_2 ff`: a
  cost in events, never in weight memory.
- **One batch norm per population**, on its summed current, per channel, with a positive scale
  (`PopNorm`): the seed's GroupNorm cannot fold into thresholds; a shared weight tensor cannot
  flip its sign per target neuron.
- **GELU becomes LIF** (`models.neurons.LIF`, leak `v - v 2^-k`, section 2), and the seed's LIF
  scan becomes a scan population whose spike counts replace its real-valued output.
- **The scan's float twin** (`ScanNeuron`) is exact after folding: the integer carry
  `(r + 2^(k-1)) >> k` is `floor((r + 2^(k-1)) / 2^k)`, and with `r = floor(R)` (the integer
  value is the floor of the float one in integer units, as in section 5) that is
  `floor((R + 2^(k-1)) / 2^k)`. So the float carry is `R_f 2^-k + unit / 2`, with `R_f = R unit`
  the float reset value and `unit` the float value of one integer step (`scale / 2^gain_shift`
  per channel, `gain_shift` the model's own): floors commute with the integer additions of the
  next position, and both walks fire identically. The half unit is the carry's rounding, which
  the LIF leak does not need (`v - ceil(v / 2) = floor(v / 2)`).
  Scan lines run along rows or columns, so a line never mixes channels (units).
- **Binary weights** everywhere (straight-through sign, `BinaryWeight`), the readout
  `weight_bits`; neurons fire at a float threshold of 1; every projection into a population
  carries `gain_shift` (section 8.2) when compiled.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .graph_config import MAX_SHIFT, GraphModelConfig, check_range
from .mixer import BinaryGraphModel, BinaryWeight, PopNorm, mix
from .neurons import LIF, SpikeFunction

__all__ = ["SNNMLPConfig", "SpikingSNNMLP", "ScanNeuron", "POPULATIONS"]

#: Population names of one block, in update order (prefixed `b{i}_`).
POPULATIONS = ("p", "a", "lr", "td", "t", "ff", "out")


@dataclass
class SNNMLPConfig(GraphModelConfig):
    """Everything that defines the architecture (stored in every checkpoint): the fields of
    `GraphModelConfig` (with lifb, the scan populations burst up to `burst_max` too) and:"""

    mlp_ratio: int = 4  # channel MLP: C -> ratio * C -> C
    scan_group: int = 4  # positions per scan group (the seed's s)
    scan_carry_shift: int = 2  # carry = reset value * 2^-k: the seed's tau = 0.25

    def __post_init__(self):
        super().__post_init__()
        check_range("mlp_ratio", self.mlp_ratio, 1)
        check_range("scan_group", self.scan_group, 1)
        check_range("scan_carry_shift", self.scan_carry_shift, 0, MAX_SHIFT)


class ScanNeuron(nn.Module):
    """The float twin of a scan population (docs/semantics.md, section 8.5): at every timestep,
    each line along `axis` (1 = rows, 2 = columns of `[C, H, W]`) is walked in groups of `group`
    positions, the carry to the next position being `r 2^-k + unit / 2` (module docstring), with
    a threshold of 1, `burst_max` spikes at most and zero or subtract reset. Nothing is kept
    between timesteps. The spike's gradient is `LIF`'s surrogate; the reset is detached."""

    def __init__(
        self,
        axis: int,
        group: int,
        carry_shift: int,
        reset: str = "zero",
        burst_max: int = 1,
        surrogate_alpha: float = 2.0,
    ):
        super().__init__()
        if axis not in (1, 2):
            raise ValueError(f"a scan runs along rows (1) or columns (2), got axis {axis}")
        if reset not in ("zero", "subtract"):
            raise ValueError(f"reset must be 'zero' or 'subtract', got {reset!r}")
        check_range("burst_max", burst_max, 1, 7)
        check_range("group", group, 1)
        check_range("carry_shift", carry_shift, 0)
        self.axis, self.group, self.carry_shift = axis, group, carry_shift
        self.reset, self.burst_max = reset, burst_max
        self.surrogate_alpha = surrogate_alpha

    def _carry(self, r: torch.Tensor, half_unit: torch.Tensor) -> torch.Tensor:
        """The float carry whose floor, in integer units, is `(r + 2^(k-1)) >> k`."""
        if self.carry_shift == 0:
            return r
        return r * 2.0**-self.carry_shift + half_unit

    def forward(self, x: torch.Tensor, unit: torch.Tensor) -> torch.Tensor:
        """`x`: current `[batch, T, C, H, W]`; `unit`: `[C]`, the float value of one integer
        step per channel. Returns spike counts of `x`'s shape."""
        dim = 2 + self.axis
        lines = x.movedim(dim, -1)
        channels, *grid = x.shape[2:]
        half_unit = (unit.detach() / 2).view(-1, 1, 1).expand(channels, *grid)
        half_unit = half_unit.movedim(self.axis, -1)
        counts, carry = [], None
        for i in range(lines.shape[-1]):
            h = lines[..., i] if i % self.group == 0 else carry + lines[..., i]
            n = sum(
                SpikeFunction.apply(h - m, self.surrogate_alpha)
                for m in range(1, self.burst_max + 1)
            )
            fired = n.detach()
            r = h * (1 - fired.clamp(max=1)) if self.reset == "zero" else h - fired
            carry = self._carry(r, half_unit[..., i])
            counts.append(n)
        return torch.stack(counts, dim=-1).movedim(-1, dim)

    def extra_repr(self) -> str:
        return (
            f"axis={self.axis}, group={self.group}, carry_shift={self.carry_shift}, "
            f"reset={self.reset!r}, burst_max={self.burst_max}"
        )


class SNNMLPBlock(nn.Module):
    """One block's weights and batch norms; `SpikingSNNMLP.run` wires them. 1x1 convolutions
    are `[C_in, C_out]` matrices (`mix` along channels), the depthwise kernel `[C, 1, 3, 3]`."""

    def __init__(self, channels: int, ratio: int):
        super().__init__()
        c = channels
        self.pointwise = BinaryWeight(c, c, fan_in=c)
        self.depthwise = BinaryWeight(c, 1, 3, 3, fan_in=9)
        self.to_lr = BinaryWeight(c, c, fan_in=c)  # the seed's conv_1, before the scan
        self.to_td = BinaryWeight(c, c, fan_in=c)  # conv_2
        self.merge = BinaryWeight(c, c, fan_in=2 * c)  # conv3: used by two projections
        self.ff_in = BinaryWeight(c, ratio * c, fan_in=c)
        self.ff_out = BinaryWeight(ratio * c, c, fan_in=ratio * c)
        self.norm_p = PopNorm(c)
        self.norm_a = PopNorm(c)
        self.norm_lr = PopNorm(c)
        self.norm_td = PopNorm(c)
        self.norm_t = PopNorm(c)
        self.norm_ff = PopNorm(ratio * c)
        self.norm_out = PopNorm(c)


def depthwise(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A `conv` projection with `groups = C`, 3x3, padding 1, of counts `[batch, T, C, H, W]`."""
    flat = F.conv2d(x.flatten(0, 1), weight, padding=1, groups=x.shape[2])
    return flat.unflatten(0, x.shape[:2])


class SpikingSNNMLP(BinaryGraphModel):
    def __init__(self, config: SNNMLPConfig):
        super().__init__(config)
        c = config
        self.blocks = nn.ModuleList(SNNMLPBlock(c.channels, c.mlp_ratio) for _ in range(c.blocks))
        self._add_readout(c.channels * c.tokens**2, c.classes, c.weight_bits)
        self.neuron = LIF(leak_shift=c.leak_shift, reset=c.reset, burst_max=c.burst_max)
        scan = dict(group=c.scan_group, carry_shift=c.scan_carry_shift, reset=c.reset)
        self.scan_w = ScanNeuron(axis=2, burst_max=c.burst_max, **scan)
        self.scan_h = ScanNeuron(axis=1, burst_max=c.burst_max, **scan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw images `[batch, H * W]` (or `[batch, H, W]`) in [0, 1] -> class scores."""
        return self.forward_spikes(self.encoder(x))

    def forward_spikes(self, spikes: torch.Tensor) -> torch.Tensor:
        """Input spikes `[batch, T, levels, H, W]` -> class scores (the readout's final v)."""
        return self.run(spikes)[0]

    def unit(self, norm: PopNorm) -> torch.Tensor:
        """The float value of one integer step of a population's membrane, per channel, once
        compiled at the model's gain shift: `scale / 2^gain_shift`."""
        return norm.scale() * 2.0**-self.config.gain_shift

    def run(self, spikes: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Class scores and the spikes `[batch, T, C, H, W]` of every population, keyed by the
        names the compiler gives them (`x0`, then `b{i}_p`, `_a`, `_lr`, `_td`, `_t`, `_ff`,
        `_out` per block)."""
        c = self.config
        batch, steps = spikes.shape[:2]
        flat = F.conv2d(spikes.flatten(0, 1), self.patch(), stride=c.patch)
        # The residual current: the summed current of the latest block output (x0's: h).
        residual = flat.unflatten(0, (batch, steps))
        populations = {}
        x = populations["x0"] = self.neuron(self.norm0(residual))
        for index, block in enumerate(self.blocks):
            pops = {}
            p = pops["p"] = self.neuron(block.norm_p(mix(x, block.pointwise(), 0)))
            a = pops["a"] = self.neuron(block.norm_a(depthwise(p, block.depthwise())))
            lr_current = block.norm_lr(mix(a, block.to_lr(), 0))
            lr = pops["lr"] = self.scan_w(lr_current, self.unit(block.norm_lr))
            td_current = block.norm_td(mix(a, block.to_td(), 0))
            td = pops["td"] = self.scan_h(td_current, self.unit(block.norm_td))
            merge = block.merge()
            residual = residual + mix(lr, merge, 0) + mix(td, merge, 0)
            x_t = pops["t"] = self.neuron(block.norm_t(residual))
            ff = pops["ff"] = self.neuron(block.norm_ff(mix(x_t, block.ff_in(), 0)))
            residual = residual + mix(ff, block.ff_out(), 0)
            x = pops["out"] = self.neuron(block.norm_out(residual))
            populations.update((f"b{index}_{name}", value) for name, value in pops.items())
        return self.read_out(x), populations
