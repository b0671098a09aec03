"""The Mixer-SNN family: a spiking MLP-Mixer on a grid of patch tokens, built from binary weights.

After Mixer-SNN (Li et al., TNNLS 2024; code by EMI-Group). Every spiking tensor is a
*population* `[channels, rows, columns]` whose current is a sum of *projections* of spike counts
through binary weights, the graph the compiler writes as a format-2 Program (docs/semantics.md,
section 8; docs/models.md, "Mixer-SNN"). `population_specs()` lists that graph; the float
forward and the compiler both walk it.

**Input.** The first layer that reads analog pixels stays on the host: the thermometer encoder
turns each pixel into `levels` spike channels, the same every timestep. Everything after it,
the patch embedding included, runs on the engine.

**Stage 1** (`G = image_size / patch` tokens a side):

- the patch embedding `h = Conv(p x p, stride p)(spikes)` is a projection from the input; its
  current is re-used (the same weight tensor, stored once) by every population that adds `h`;
- `x0 = LIF(BN(h))`, then per block, from the block's input `x`:
  `x_h = LIF(BN(A_H x))` and `x_w = LIF(BN(A_W x))` (one matrix along the rows, one along the
  columns, shared by every channel), `token = T_x x + T_h x_h + T_w x_w` (1x1 channel mixing),
  `x_t = LIF(BN(h + token))`, `ff = LIF(BN(F_1 x_t))` (`3C` channels) and the block output
  `x = LIF(BN(h + token + F_2 ff))`: residuals add currents, never spikes.

**Stage 2** (`stages=2`), our reading of the seed's Spiking Patch Encoding (its `PatchCell`):
from the last stage-1 output spikes `x` (`C` channels, `G x G`) to `C2 = 3n` channels on a
`G2 x G2` grid, `G2 = (G - 1) // 2 + 1`, with five 3x3 binary convolutions, padding 1 -- three
stride-2 branches `A`, `B`, `D` from `x` and two stride-1 ones `E_12`, `E_23` between nodes:

    node1 = A x                   n1 = LIF(BN(node1))          (internal population s2_n1)
    node2 = B x + E_12 n1         n2 = LIF(BN(node2))          (internal population s2_n2)
    node3 = D x + node1 + E_23 n2
    h2    = cat(node1, node2, node3)  (channels), then x0 = LIF(BN(h2)) and blocks as in stage 1

The seed follows each convolution with its own batch norm; here, as everywhere in this model,
one batch norm normalises a population's summed current (see "Batch norm" below), so `h2` is the
sum of raw binary projections. `node1`'s current reaches `node3` as a second projection from `x`
with `A`'s weights: currents, not spikes, as the seed adds them. The concatenation is six
projections into each population that adds `h2`, each into one node's channel range (a `Term`'s
`channels`, a format-2 projection's `channels`): `A x` into channels `0..n-1`, `B x` and
`E_12 n1` into `n..2n-1`, `D x`, `A x` again and `E_23 n2` into `2n..3n-1`. So `A`, `B`, `D`,
`E_12` and `E_23` are each stored once, binary, and `A x` is one current added at two places.
The readout reads the last stage.

**Batch norm.** Each population has one batch norm on its summed current with a *positive*
scale (`|gamma|`): a weight tensor shared by several projections cannot flip its sign per
target neuron, so the compiler needs every scale positive. It is per channel, except that
`token_norm="axis"` normalises the token-mixing populations as the seed does, over the mixed
axis: `x_h` per row (folded at broadcast shape `[1, H, 1]`), `x_w` per column (`[1, 1, W]`).
`projection_gains=True` (an experiment) gives each projection into a population of several
projections its own trainable power-of-two gain `2^e`, `e` in -3..3, rounded in the forward
pass with a straight-through estimator; the compiler writes it as that projection's
`gain_shift`. Neurons fire at a float threshold of 1.

**Measured** on digits (docs/models.md, 60 epochs, seeds 0-2): the default (C 32, 2 blocks,
per-row/column token norm, label smoothing 0.1) reached float 0.972-0.986 and golden
0.975-0.986 at `gain_shift` 7, never below its float model; per-row/column norm beat per-channel
by 1.4 points (seed 0); per-projection gains did not beat one batch norm on the sum (mean float
0.974 vs 0.978, golden 0.975 vs 0.980), so they stay an option, off by default.
"""

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .encoders import ImageThermometerEncoder
from .graph_config import GraphModelConfig, check_range
from .layers import QuantLinear, _RoundSTE, _SignSTE
from .neurons import LIF, Readout

__all__ = [
    "MIXER_PRESETS",
    "BinaryWeight",
    "ImageThermometerEncoder",
    "MixerConfig",
    "PopNorm",
    "PopulationSpec",
    "SpikingMixer",
    "Term",
    "mixer_preset",
]

#: The name of the input in `population_specs()` (and in the compiled graph).
INPUT = "spikes"
#: Per-projection gain exponents are kept in -GAIN_EXPONENT_LIMIT..GAIN_EXPONENT_LIMIT.
GAIN_EXPONENT_LIMIT = 3


@dataclass
class MixerConfig(GraphModelConfig):
    """Everything that defines the architecture (stored in every checkpoint): the fields of
    `GraphModelConfig` and:"""

    gain_shift: int = 7  # measured: 2^-7 thresholds lose nothing against float (docs/models.md)
    stages: int = 1  # 2 adds a Spiking Patch Encoding and stage2_blocks on a halved grid
    stage2_channels: int | None = None  # a multiple of 3; None: 2 * channels rounded up to one
    stage2_blocks: int = 1
    token_norm: str = "axis"  # x_h, x_w batch norm: "axis" (per row / column) or "channel"
    projection_gains: bool = False  # a trainable power-of-two gain per summed projection

    def __post_init__(self):
        super().__post_init__()
        if self.stages not in (1, 2):
            raise ValueError(f"stages must be 1 or 2, got {self.stages}")
        if self.stage2_channels is not None and (
            self.stage2_channels < 3 or self.stage2_channels % 3
        ):
            raise ValueError(
                f"stage2_channels must be a positive multiple of 3, got {self.stage2_channels}"
            )
        check_range("stage2_blocks", self.stage2_blocks, 1)
        if self.stages == 2 and self.tokens < 2:
            raise ValueError(f"a second stage needs a token grid of >= 2, got {self.tokens}")
        if self.token_norm not in ("channel", "axis"):
            raise ValueError(f"token_norm must be 'channel' or 'axis', got {self.token_norm!r}")
        if self.projection_gains and self.gain_shift < GAIN_EXPONENT_LIMIT:
            raise ValueError(
                f"projection_gains needs gain_shift >= {GAIN_EXPONENT_LIMIT}, got {self.gain_shift}"
            )

    @property
    def stage2_tokens(self) -> int:
        """Rows (and columns) of stage 2's grid: a 3x3 stride-2 convolution with padding 1."""
        return (self.tokens - 1) // 2 + 1

    @property
    def stage2_width(self) -> int:
        """Stage 2's channels: `stage2_channels`, or twice stage 1's rounded up to a multiple
        of 3 (the three SPE nodes share them equally)."""
        if self.stage2_channels is not None:
            return self.stage2_channels
        return 3 * -(-2 * self.channels // 3)

    @property
    def readout_features(self) -> int:
        """Spikes the readout reads: every neuron of the last stage's last block output."""
        if self.stages == 1:
            return self.channels * self.tokens**2
        return self.stage2_width * self.stage2_tokens**2


#: Named configurations. "digits" is the measured default (docs/models.md); the MNIST ones
#: (28 x 28 images) are sized for the grid: 7x7 patches on a 4x4 grid, or 4x4 patches on a 7x7
#: grid, each with a Spiking Patch Encoding down to 2x2 or 4x4.
MIXER_PRESETS: dict[str, MixerConfig] = {
    "digits": MixerConfig(),
    "mnist-p7": MixerConfig(image_size=28, patch=7, channels=48, blocks=2, stages=2),
    "mnist-p4": MixerConfig(image_size=28, patch=4, channels=48, blocks=2, stages=2),
}


def mixer_preset(name: str, **overrides) -> MixerConfig:
    """A copy of `MIXER_PRESETS[name]` with `overrides` applied (validated again)."""
    if name not in MIXER_PRESETS:
        raise ValueError(f"preset must be one of {sorted(MIXER_PRESETS)}, got {name!r}")
    return MixerConfig(**{**MIXER_PRESETS[name].as_dict(), **overrides})


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
    """Batch norm of a population's summed current along one axis, with a positive scale
    `|gamma|`: `axis` 0 normalises per channel (broadcast `[C, 1, 1]`), 1 per row (`[1, H, 1]`),
    2 per column (`[1, 1, W]`); statistics run over the batch, the timesteps and the other axes.

    In eval mode it is `scale * u + shift` per index of `axis` (`scale()`, `shift()`, shaped for
    the population by `broadcast_shape()`), what the compiler folds into integer thresholds and
    biases.
    """

    def __init__(self, channels: int, eps: float = 1e-5, axis: int = 0):
        """`channels`: the population's size along `axis` (its channels for axis 0)."""
        super().__init__()
        if axis not in (0, 1, 2):
            raise ValueError(f"a population norm's axis must be 0, 1 or 2, got {axis}")
        self.axis = axis
        self.norm = nn.BatchNorm2d(channels, affine=False, eps=eps)
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def broadcast_shape(self) -> tuple[int, int, int]:
        """Where `scale()` and `shift()` sit in a `[C, H, W]` population."""
        shape = [1, 1, 1]
        shape[self.axis] = self.gamma.numel()
        return tuple(shape)

    def scale(self) -> torch.Tensor:
        return self.gamma.abs() / torch.sqrt(self.norm.running_var + self.norm.eps)

    def shift(self) -> torch.Tensor:
        return self.beta - self.norm.running_mean * self.scale()

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """`u`: `[batch, T, C, H, W]`."""
        batch, steps = u.shape[:2]
        moved = u.movedim(2 + self.axis, 2).flatten(0, 1)  # the normalised axis as channels
        y = self.norm(moved).unflatten(0, (batch, steps)).movedim(2, 2 + self.axis)
        shape = self.broadcast_shape()
        return y * self.gamma.abs().view(shape) + self.beta.view(shape)


@dataclass(frozen=True)
class Term:
    """One projection into a population: `source`'s spike counts through the weight tensor
    named `weight`, of `kind` "axis" (along `axis`) or "conv" (`stride`, `padding`), added into
    the population's channels `channels[0] .. channels[1]-1` (None: all of them)."""

    source: str
    kind: str
    weight: str
    axis: int | None = None
    stride: int = 1
    padding: int = 0
    channels: tuple[int, int] | None = None


@dataclass
class PopulationSpec:
    """A spiking population: its shape `[C, H, W]`, its batch norm, the projections summed into
    its current."""

    name: str
    shape: tuple[int, int, int]
    norm: PopNorm
    terms: list[Term]


class MixerBlock(nn.Module):
    """One block's weights and batch norms; `SpikingMixer.population_specs` wires them."""

    WEIGHTS = ("mix_h", "mix_w", "token_x", "token_h", "token_w", "ff_in", "ff_out")

    def __init__(self, channels: int, tokens: int, token_norm: str = "channel"):
        super().__init__()
        c = channels
        self.mix_h = BinaryWeight(tokens, tokens, fan_in=tokens)  # [S_a, U_a] along rows
        self.mix_w = BinaryWeight(tokens, tokens, fan_in=tokens)  # along columns
        self.token_x = BinaryWeight(c, c, fan_in=3 * c)  # 1x1 channel mixing, [C_in, C_out]
        self.token_h = BinaryWeight(c, c, fan_in=3 * c)
        self.token_w = BinaryWeight(c, c, fan_in=3 * c)
        self.ff_in = BinaryWeight(c, 3 * c, fan_in=c)
        self.ff_out = BinaryWeight(3 * c, c, fan_in=3 * c)
        per_axis = token_norm == "axis"
        self.norm_h = PopNorm(tokens, axis=1) if per_axis else PopNorm(c)
        self.norm_w = PopNorm(tokens, axis=2) if per_axis else PopNorm(c)
        self.norm_t = PopNorm(c)
        self.norm_ff = PopNorm(3 * c)
        self.norm_out = PopNorm(c)


class SpikingPatchEncoding(nn.Module):
    """The seed's `PatchCell` (module docstring): three stride-2 3x3 branches from the input
    spikes and two stride-1 ones between its nodes, `out_channels = 3n`."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        n = out_channels // 3
        self.node_channels = n
        self.node1 = BinaryWeight(n, in_channels, 3, 3, fan_in=9 * in_channels)  # A
        self.node2 = BinaryWeight(n, in_channels, 3, 3, fan_in=9 * in_channels)  # B
        self.node3 = BinaryWeight(n, in_channels, 3, 3, fan_in=9 * in_channels)  # D
        self.node1_node2 = BinaryWeight(n, n, 3, 3, fan_in=9 * n)  # E_12
        self.node2_node3 = BinaryWeight(n, n, 3, 3, fan_in=9 * n)  # E_23
        self.norm1 = PopNorm(n)
        self.norm2 = PopNorm(n)


def project(counts: torch.Tensor, weight: torch.Tensor, term: Term) -> torch.Tensor:
    """One projection (semantics 8.2) of counts `[batch, T, C, H, W]`: along population axis
    `term.axis` (0 = channels, 1 = rows, 2 = columns) by `weight` `[S_a, U_a]`, or a 2-D
    convolution by `weight` `[C_out, C_in, kh, kw]`."""
    if term.kind == "axis":
        moved = counts.movedim(2 + term.axis, -1)
        return (moved @ weight).movedim(-1, 2 + term.axis)
    batch, steps = counts.shape[:2]
    flat = F.conv2d(counts.flatten(0, 1), weight, stride=term.stride, padding=term.padding)
    return flat.unflatten(0, (batch, steps))


def into_channels(current: torch.Tensor, channels: tuple[int, int] | None, total: int):
    """`current` `[batch, T, stop - start, H, W]` as the channels `start .. stop-1` of a
    `[batch, T, total, H, W]` current that is zero elsewhere (None: `current` itself)."""
    if channels is None:
        return current
    start, stop = channels
    return F.pad(current, (0, 0, 0, 0, start, total - stop))


def mix(x: torch.Tensor, weight: torch.Tensor, axis: int) -> torch.Tensor:
    """An `axis` projection of counts `[batch, T, C, H, W]` along population axis `axis`."""
    return project(x, weight, Term("", "axis", "", axis=axis))


class BinaryGraphModel(nn.Module):
    """What the graph models share: binary weight tensors (`BinaryWeight`) and a dense readout
    from every spike of the last population, `gain * head(spikes) + bias`, integrated over T
    (one shared gain, which the compiler folds into the readout's integer weights and biases);
    and the stem: the host's thermometer encoder, the binary patch embedding (a `p x p`, stride
    `p` convolution) and the batch norm of the first population, `x0`."""

    def __init__(self, config):
        super().__init__()
        self.config = c = config
        self.encoder = ImageThermometerEncoder(c.image_size, c.timesteps, c.levels)
        self.patch = BinaryWeight(
            c.channels, c.levels, c.patch, c.patch, fan_in=c.levels * c.patch**2
        )
        self.norm0 = PopNorm(c.channels)

    def _add_readout(self, features: int, classes: int, bits: int) -> None:
        self.head = QuantLinear(features, classes, bits)
        self.gain = nn.Parameter(torch.tensor(features**-0.5))
        self.bias = nn.Parameter(torch.zeros(classes))
        self.readout = Readout(leak_shift=None)

    def read_out(self, spikes: torch.Tensor) -> torch.Tensor:
        """Spikes `[batch, T, C, H, W]` of the last population -> class scores."""
        return self.readout(self.gain * self.head(spikes.flatten(2)) + self.bias)

    def binary_weights(self) -> list[BinaryWeight]:
        return [module for module in self.modules() if isinstance(module, BinaryWeight)]

    def clip_weights_(self) -> None:
        for weight in self.binary_weights():
            weight.clip_()
        self.head.clip_()


class SpikingMixer(BinaryGraphModel):
    def __init__(self, config: MixerConfig):
        super().__init__(config)
        c = config
        self.blocks = nn.ModuleList(
            MixerBlock(c.channels, c.tokens, c.token_norm) for _ in range(c.blocks)
        )
        if c.stages == 2:
            self.spe = SpikingPatchEncoding(c.channels, c.stage2_width)
            self.stage2_norm0 = PopNorm(c.stage2_width)
            self.stage2_blocks = nn.ModuleList(
                MixerBlock(c.stage2_width, c.stage2_tokens, c.token_norm)
                for _ in range(c.stage2_blocks)
            )
        self._add_readout(c.readout_features, c.classes, c.weight_bits)
        self.neuron = LIF(leak_shift=c.leak_shift, reset=c.reset, burst_max=c.burst_max)
        if c.projection_gains:
            self.gain_exponents = nn.ParameterDict(
                {
                    _gain_key(spec.name, index): nn.Parameter(torch.zeros(()))
                    for spec in self.population_specs()
                    if len(spec.terms) > 1
                    for index in range(len(spec.terms))
                }
            )

    # The graph ------------------------------------------------------------------------------

    def population_specs(self) -> list[PopulationSpec]:
        """Every spiking population in update order (the readout aside), with its projections:
        stage 1 is `x0`, `b{i}_h`, `b{i}_w`, `b{i}_t`, `b{i}_ff`, `b{i}_out`; stage 2 adds
        `s2_n1`, `s2_n2` (the SPE's internal LIF populations), then `s2_x0` and `s2_b{i}_*`."""
        c = self.config
        grid = (c.tokens, c.tokens)
        h = [Term(INPUT, "conv", "patch", stride=c.patch)]
        specs = [PopulationSpec("x0", (c.channels, *grid), self.norm0, h)]
        x = self._add_blocks(specs, self.blocks, "", "x0", h, c.channels, grid)
        if c.stages == 2:
            width, grid = c.stage2_width, (c.stage2_tokens, c.stage2_tokens)
            node = (self.spe.node_channels, *grid)
            down = {"kind": "conv", "stride": 2, "padding": 1}
            same = {"kind": "conv", "stride": 1, "padding": 1}
            specs.append(
                PopulationSpec("s2_n1", node, self.spe.norm1, [Term(x, weight="s2_A", **down)])
            )
            specs.append(
                PopulationSpec(
                    "s2_n2",
                    node,
                    self.spe.norm2,
                    [Term(x, weight="s2_B", **down), Term("s2_n1", weight="s2_E12", **same)],
                )
            )
            n = self.spe.node_channels
            node1, node2, node3 = (0, n), (n, 2 * n), (2 * n, 3 * n)
            # h2 = cat(node1, node2, node3): each term adds into its node's channels.
            h = [
                Term(x, weight="s2_A", channels=node1, **down),
                Term(x, weight="s2_B", channels=node2, **down),
                Term("s2_n1", weight="s2_E12", channels=node2, **same),
                Term(x, weight="s2_D", channels=node3, **down),
                Term(x, weight="s2_A", channels=node3, **down),
                Term("s2_n2", weight="s2_E23", channels=node3, **same),
            ]
            specs.append(PopulationSpec("s2_x0", (width, *grid), self.stage2_norm0, h))
            self._add_blocks(specs, self.stage2_blocks, "s2_", "s2_x0", h, width, grid)
        return specs

    def _add_blocks(self, specs, blocks, prefix: str, x: str, h: list[Term], c: int, grid):
        """Append each block's populations (module docstring) to `specs`; the last output."""
        for index, block in enumerate(blocks):
            b = f"{prefix}b{index}"

            def axis(source: str, key: str, along: int, b: str = b) -> Term:
                return Term(source, "axis", f"{b}_{key}", axis=along)

            # token = T_x x + T_h x_h + T_w x_w: three channel mixings, added into both x_t
            # and the block output from the same three stored weights.
            token = [
                axis(x, "token_x", 0),
                axis(f"{b}_h", "token_h", 0),
                axis(f"{b}_w", "token_w", 0),
            ]
            specs += [
                PopulationSpec(f"{b}_h", (c, *grid), block.norm_h, [axis(x, "mix_h", 1)]),
                PopulationSpec(f"{b}_w", (c, *grid), block.norm_w, [axis(x, "mix_w", 2)]),
                PopulationSpec(f"{b}_t", (c, *grid), block.norm_t, [*h, *token]),
                PopulationSpec(
                    f"{b}_ff", (3 * c, *grid), block.norm_ff, [axis(f"{b}_t", "ff_in", 0)]
                ),
                PopulationSpec(
                    f"{b}_out",
                    (c, *grid),
                    block.norm_out,
                    [*h, *token, axis(f"{b}_ff", "ff_out", 0)],
                ),
            ]
            x = f"{b}_out"
        return x

    def weight_tensors(self) -> dict[str, torch.Tensor]:
        """Every weight tensor the terms name, as +1/-1 floats that carry gradients to the latent
        weights."""
        weights = {"patch": self.patch()}
        for prefix, blocks in (("", self.blocks), ("s2_", getattr(self, "stage2_blocks", []))):
            for index, block in enumerate(blocks):
                for key in MixerBlock.WEIGHTS:
                    weights[f"{prefix}b{index}_{key}"] = getattr(block, key)()
        if self.config.stages == 2:
            spe = self.spe
            weights.update(
                s2_A=spe.node1(),
                s2_B=spe.node2(),
                s2_D=spe.node3(),
                s2_E12=spe.node1_node2(),
                s2_E23=spe.node2_node3(),
            )
        return weights

    # Per-projection gains -------------------------------------------------------------------

    def gain_exponent(self, population: str, index: int) -> int:
        """The power of two of projection `index` into `population` (0 without gains)."""
        key = _gain_key(population, index)
        if not self.config.projection_gains or key not in self.gain_exponents:
            return 0
        return int(torch.round(self.gain_exponents[key].detach()))

    def _gain(self, population: str, index: int) -> torch.Tensor | float:
        key = _gain_key(population, index)
        if not self.config.projection_gains or key not in self.gain_exponents:
            return 1.0
        return 2.0 ** _RoundSTE.apply(self.gain_exponents[key])

    # Forward --------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw images `[batch, H * W]` (or `[batch, H, W]`) in [0, 1] -> class scores."""
        return self.forward_spikes(self.encoder(x))

    def forward_spikes(self, spikes: torch.Tensor) -> torch.Tensor:
        """Input spikes `[batch, T, levels, H, W]` -> class scores (the readout's final v)."""
        return self.run(spikes)[0]

    def run(self, spikes: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Class scores and the spikes `[batch, T, C, H, W]` of every population, keyed by the
        names of `population_specs()` (the compiler's)."""
        weights = self.weight_tensors()
        counts = {INPUT: spikes}
        # h, h2 and token are re-used: compute each once. Where a term adds (its channel range)
        # does not change its current, so `A x` of node1 and node3 is one entry.
        projected: dict[Term, torch.Tensor] = {}
        for spec in self.population_specs():
            current = 0
            for index, term in enumerate(spec.terms):
                key = replace(term, channels=None)
                if key not in projected:
                    projected[key] = project(counts[term.source], weights[term.weight], term)
                placed = into_channels(projected[key], term.channels, spec.shape[0])
                current = current + self._gain(spec.name, index) * placed
            counts[spec.name] = self.neuron(spec.norm(current))
        populations = {name: value for name, value in counts.items() if name != INPUT}
        return self.read_out(counts[spec.name]), populations

    def clip_weights_(self) -> None:
        super().clip_weights_()
        if self.config.projection_gains:
            with torch.no_grad():
                for exponent in self.gain_exponents.values():
                    exponent.clamp_(-GAIN_EXPONENT_LIMIT, GAIN_EXPONENT_LIMIT)


def _gain_key(population: str, index: int) -> str:
    return f"{population}__{index}"
