"""Compile a trained `SpikingSNNMLP` into a format-2 graph Program (docs/semantics.md, section 8).

The fold is `compile_mixer`'s (`sw/compiler/compile_graph.py`): every population's batch norm
`s * u + d` (per channel, `s > 0`) becomes `theta = max(round(2^g / s), 1)` and
`beta = round(2^g * d / s)` at the broadcast shape `[C, 1, 1]`, every projection into it
carrying the same gain shift `g`; the readout is divided by `|gain * step| / 2^g`.

What is new here:

- **Scan populations** (section 8.5) `b{i}_lr` (along the columns, axis 2) and `b{i}_td` (along
  the rows, axis 1): `neuron: scan`, `leak_shift` null, `scan = Scan(axis, scan_group,
  scan_carry_shift)`, `burst_max` the model's (1 for lif). Their fold is the same: the carry
  lives in the membrane's units, which are one channel's along a line.
- **The depthwise 3x3** is a `conv` projection with `groups = C` and padding 1; 1x1 convolutions
  are `axis` projections along channels; the seed's `conv3` is one weight (`b{i}_merge`) used by
  the projections from `lr` and from `td`.
- **Residual currents**: the projections that sum to a block input's current (the patch
  embedding's `conv` from the input, then each block's two `merge` projections and its `ff_out`)
  are repeated into every population that adds the residual (`b{i}_t`, `b{i}_out`), from the
  weights stored once.

Exactness: with dyadic batch norms (every `2^g / s` and `2^g * d / s` an integer) the float
model's spikes equal these integers' for every population, for the scan too (its float carry
`r 2^-k + unit / 2` floors to the integer carry `(r + 2^(k-1)) >> k`; models/snn_mlp.py).

Widths: `graph_v_bits` holds `burst_max` thresholds and one step's largest `|z| + |beta|` = `B`
over every projection into the population. For the LIF populations its docstring's argument
holds (leak_shift 1, 2 bits of headroom). For a scan population: `h = carry + z + beta`, either
reset keeps `|r| <= |h|`, and the carry is `r 2^-k` rounded half up, so `|carry| <= |h| 2^-k +
1/2`. From a carry of 0 at every group start, `k >= 1` gives `|h| <= B + (2B + 1) / 2`, hence
`|h| <= 2B + 1 < 2^(bitlen(B) + 1)` at every position: one bit of headroom suffices; `k = 0`
carries `r` whole, `|h| <= G B` along a group of `G` positions (at most the line's length),
which needs `ceil(log2 G)` bits. Scan populations get the larger of that and `headroom_bits`;
`sat` then never binds (unless the width hit the format's 32-bit cap).
"""

from dataclasses import replace

import numpy as np
import torch
from spikeloom.models.mixer import PopNorm
from spikeloom.models.snn_mlp import SNNMLPBlock, SNNMLPConfig, SpikingSNNMLP
from spikeloom.sw.compiler.compile import clip_to_membrane
from spikeloom.sw.compiler.compile_graph import (
    _INPUT,
    GraphCompileOptions,
    PopulationFold,
    _fold,
    _fold_readout,
    graph_v_bits,
)
from spikeloom.sw.compiler.graph import Graph, Population, Projection, Scan, Weight

__all__ = ["compile_snn_mlp", "scan_headroom_bits"]

#: The block's weights, as named in the graph (`b{i}_<key>`).
_BLOCK_WEIGHTS = ("pointwise", "depthwise", "to_lr", "to_td", "merge", "ff_in", "ff_out")


def scan_headroom_bits(population: Population) -> int:
    """Bits above one step's largest `|z| + |beta|` that a scan population's walk can need
    (module docstring): 1 when the carry decays (`carry_shift >= 1`), else `ceil(log2 G)` for
    groups of `G` positions, `G` at most the line's length."""
    scan = population.scan
    if scan.carry_shift >= 1:
        return 1
    return (min(scan.group, population.shape[scan.axis]) - 1).bit_length()


class _GraphParts:
    """The weights, projections and (not yet sized) populations of the graph being built."""

    def __init__(self, config: SNNMLPConfig, gain_shift: int):
        self.config, self.gain_shift = config, gain_shift
        self.weights: dict[str, Weight] = {}
        self.projections: list[Projection] = []
        self.staged: list[tuple[Population, np.ndarray, np.ndarray, PopulationFold]] = []
        #: The projections whose sum is the residual current (each block output's current).
        self.residual: list[Projection] = []

    def weight(self, name: str, values: torch.Tensor, bits: int = 1) -> str:
        self.weights[name] = Weight(name, bits, values.numpy().astype(np.int8))
        return name

    def population(self, name: str, norm: PopNorm, scan: Scan | None = None) -> str:
        config = self.config
        theta, beta, fold = _fold(norm, self.gain_shift, name)
        if scan is None:
            neuron, leak_shift = ("lifb" if config.burst_max > 1 else "lif"), config.leak_shift
        else:
            neuron, leak_shift = "scan", None  # a scan keeps no membrane between timesteps
        pop = Population(
            name=name,
            shape=(theta.shape[0], config.tokens, config.tokens),
            neuron=neuron,
            threshold=theta,
            bias=beta,
            burst_max=config.burst_max,
            leak_shift=leak_shift,
            reset=config.reset,
            scan=scan,
        )
        self.staged.append((pop, theta, beta, fold))
        return name

    def project(self, source: str, target: str, kind: str, weight: str, **layout) -> Projection:
        projection = Projection(source, target, kind, weight, self.gain_shift, **layout)
        self.projections.append(projection)
        return projection

    def add_residual(self, target: str) -> None:
        """Every projection of the residual current, into `target` as well."""
        for projection in self.residual:
            self.projections.append(replace(projection, target=target))


def _stem(parts: _GraphParts, model: SpikingSNNMLP) -> str:
    """The patch embedding `h` into `x0`; `h` starts the residual current."""
    patch = parts.weight("patch", model.patch.integer_weight())
    stride = (model.config.patch, model.config.patch)
    x0 = parts.population("x0", model.norm0)
    parts.residual = [parts.project(_INPUT, x0, "conv", patch, stride=stride)]
    return x0


def _block(parts: _GraphParts, prefix: str, block: SNNMLPBlock, x: str) -> str:
    """One block from its input population `x`; returns its output population."""
    config = parts.config
    w = {
        key: parts.weight(f"{prefix}_{key}", getattr(block, key).integer_weight())
        for key in _BLOCK_WEIGHTS
    }

    def channel_mix(source: str, target: str, key: str) -> Projection:
        return parts.project(source, target, "axis", w[key], axis=0)

    def scan(axis: int) -> Scan:
        return Scan(axis, config.scan_group, config.scan_carry_shift)

    p = parts.population(f"{prefix}_p", block.norm_p)
    channel_mix(x, p, "pointwise")
    a = parts.population(f"{prefix}_a", block.norm_a)
    channels = block.norm_a.gamma.numel()
    parts.project(p, a, "conv", w["depthwise"], padding=(1, 1), groups=channels)
    lr = parts.population(f"{prefix}_lr", block.norm_lr, scan(2))
    channel_mix(a, lr, "to_lr")
    td = parts.population(f"{prefix}_td", block.norm_td, scan(1))
    channel_mix(a, td, "to_td")

    t = parts.population(f"{prefix}_t", block.norm_t)
    parts.add_residual(t)
    parts.residual += [channel_mix(lr, t, "merge"), channel_mix(td, t, "merge")]
    ff = parts.population(f"{prefix}_ff", block.norm_ff)
    channel_mix(t, ff, "ff_in")
    out = parts.population(f"{prefix}_out", block.norm_out)
    parts.add_residual(out)
    parts.residual.append(channel_mix(ff, out, "ff_out"))
    return out


def compile_snn_mlp(model: SpikingSNNMLP, options: GraphCompileOptions | None = None):
    """Return `(graph, notes)`: the validated format-2 Program and per-population folds."""
    options = options or GraphCompileOptions()
    config = model.config
    model = model.eval()
    g = config.gain_shift if options.gain_shift is None else options.gain_shift
    parts = _GraphParts(config, g)
    with torch.no_grad():
        x = _stem(parts, model)
        for index, block in enumerate(model.blocks):
            x = _block(parts, f"b{index}", block, x)
        readout, theta, beta, fold, readout_weight = _fold_readout(model, g)
        parts.staged.append((readout, theta, beta, fold))
        parts.project(
            x, "readout", "dense", parts.weight("readout", readout_weight, model.head.bits)
        )
    graph = Graph(
        timesteps=config.timesteps,
        input_name=_INPUT,
        input_shape=model.encoder.shape,
        populations=[pop for pop, *_ in parts.staged],
        weights=parts.weights,
        projections=parts.projections,
        encoder=model.encoder.spec(),
        encoder_arrays=model.encoder.arrays(),
        dataset=None,
    )
    notes = []
    for pop, theta, beta, fold in parts.staged:
        headroom = options.headroom_bits
        if pop.neuron == "scan":
            headroom = max(headroom, scan_headroom_bits(pop))
        pop.v_bits = options.v_bits or graph_v_bits(graph, pop, theta, beta, headroom)
        pop.threshold, pop.bias = clip_to_membrane(theta, beta, pop.v_bits, fold)
        notes.append(fold)
    return graph.validate(), notes
