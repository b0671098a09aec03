"""ALBSNN: choose, during training, which engine layers hold binary and which k-bit weights.

Our reading of Pei et al. 2023 (no code was published): every epoch of a warm-up phase, an
estimator scores for each candidate layer the loss that binarizing that layer alone would cause;
the chooser then binarizes the set of layers with the least summed score whose weights fit a
memory budget in bits. After the warm-up the choice is frozen. Once held-out accuracy
plateaus, binary weight optimisation (BWO) replaces the latent-weight update of the binary
layers by direct sign flips. docs/albsnn.md describes each step and the measurements behind
the defaults.
"""

import copy
import itertools
from dataclasses import dataclass

import torch
from torch import nn

from .layers import QuantLinear
from .mlp import ReadoutLayer, SpikingMLP

__all__ = [
    "BudgetError",
    "ESTIMATORS",
    "ALBSNNOptions",
    "ALBSNN",
    "BinaryWeightOptimizer",
    "layer_weight_bits",
    "model_weight_bits",
    "weight_error",
    "current_errors",
    "accuracy_drops",
    "estimate",
    "choose_bits",
    "set_layer_bits",
]

ESTIMATORS = ("accuracy", "current", "weight")


class BudgetError(ValueError):
    """A weight-memory budget that no choice of bits can hold."""


@dataclass
class ALBSNNOptions:
    """How ALBSNN runs; the budget itself is `TrainConfig.weight_budget_bits`."""

    #: Bits of a layer that is not binarized (2..8).
    k_bits: int = 4
    #: accuracy | current | weight (see `estimate`).
    estimator: str = "accuracy"
    #: Epochs during which the choice is remade at each epoch's end; None: a quarter of the
    #: epochs, at least 1. The choice made after the last of them is final.
    warmup_epochs: int | None = None
    #: Part of the training split held out (seeded) for the estimators and the plateau test.
    holdout_fraction: float = 0.1
    #: Whether the readout may be binarized; by default it stays k-bit (see docs/albsnn.md).
    binarize_readout: bool = False
    #: Binary weight optimisation once held-out accuracy plateaus.
    bwo: bool = True
    #: Plateau: no better held-out accuracy for this many epochs after the warm-up...
    bwo_patience: int = 3
    #: ...or the last fraction of the epochs has begun, whichever comes first.
    bwo_fraction: float = 0.25
    #: Rate of the exponential averages of each binary weight's gradient and its square.
    bwo_rate: float = 0.05
    #: A weight flips when its averaged gradient, over its root mean square, pushes it across
    #: zero by more than this (0..1; see `BinaryWeightOptimizer`).
    bwo_margin: float = 0.5

    def __post_init__(self):
        if not 2 <= self.k_bits <= 8:
            raise ValueError(f"k_bits must be in 2..8, got {self.k_bits}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        if self.warmup_epochs is not None and self.warmup_epochs < 1:
            raise ValueError(f"warmup_epochs must be at least 1, got {self.warmup_epochs}")
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")
        if not 0 < self.bwo_rate <= 1:
            raise ValueError(f"bwo_rate must be in (0, 1], got {self.bwo_rate}")


def layer_weight_bits(inputs: int, outputs: int, bits: int) -> int:
    """Bits one layer's weights take in memory: inputs * outputs * bits."""
    return inputs * outputs * bits


def model_weight_bits(model: SpikingMLP) -> int:
    """Bits all engine layers' weights take, at their current widths."""
    return sum(
        layer_weight_bits(m.linear.in_features, m.linear.out_features, m.linear.bits)
        for m in model.layers
    )


def _sign(w: torch.Tensor) -> torch.Tensor:
    return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)


def _binary_scale(w: torch.Tensor) -> torch.Tensor:
    """a = mean |W|: the scale that minimises ||W - a sign W||^2."""
    return w.abs().mean().clamp_min(1e-8)


def weight_error(linear: QuantLinear) -> float:
    """||W - a sign W||^2 / ||W||^2 of the latent weights, with a = mean |W|."""
    with torch.no_grad():
        w = linear.weight.double()
        return float((w - _binary_scale(w) * _sign(w)).square().sum() / w.square().sum())


def set_layer_bits(layer: nn.Module, bits: int) -> None:
    """Give `layer` `bits`-bit weights, keeping its latent weights and its output's scale.

    A binary layer computes `x @ sign W`, a k-bit one about `x @ W ~ a x @ sign W`, so switching
    multiplies the current by 1/a (or a): the batch norm's running statistics (or the readout's
    gain) are rescaled so that the model in eval mode computes about what it did.
    """
    linear = layer.linear
    if linear.bits == bits:
        return
    with torch.no_grad():
        # The scale the layer's current changes by: k-bit weights sit near W (step * q), binary
        # ones at sign W.
        a = float(_binary_scale(linear.weight))
        factor = 1 / a if bits == 1 else (a if linear.bits == 1 else 1.0)
        if isinstance(layer, ReadoutLayer):
            layer.gain.div_(factor)
        else:
            layer.norm.running_mean.mul_(factor)
            layer.norm.running_var.mul_(factor * factor)
    linear.bits = bits


def _accuracy(model: SpikingMLP, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def _recalibrate(model: SpikingMLP, x: torch.Tensor) -> None:
    """Batch-norm running statistics measured afresh on `x` (weights unchanged)."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    saved = [n.momentum for n in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batches seen
    model.train()
    with torch.no_grad():
        model(x)
    for norm, momentum in zip(norms, saved):
        norm.momentum = momentum
    model.eval()


def _reference(model: SpikingMLP, candidates: list[int], k_bits: int) -> SpikingMLP:
    """A copy of `model` with every candidate layer k-bit: the state each estimate starts from."""
    probe = copy.deepcopy(model)
    for index in candidates:
        set_layer_bits(probe.layers[index], k_bits)
    return probe


def accuracy_drops(
    model: SpikingMLP, x: torch.Tensor, y: torch.Tensor, candidates: list[int], k_bits: int
) -> list[float]:
    """Per candidate: held-out accuracy with every candidate k-bit, minus that with only it
    binary; batch norms are recalibrated on `x` in both, as training would adapt them."""
    reference = _reference(model, candidates, k_bits)
    _recalibrate(reference, x)
    base = _accuracy(reference, x, y)
    drops = []
    for index in candidates:
        probe = copy.deepcopy(reference)
        set_layer_bits(probe.layers[index], 1)
        _recalibrate(probe, x)
        drops.append(base - _accuracy(probe, x, y))
    return drops


def current_errors(
    model: SpikingMLP, x: torch.Tensor, candidates: list[int], k_bits: int
) -> list[float]:
    """Per candidate: `||I - s I_b||^2 / ||I||^2` on `x`, with `I` the layer's current (input
    times weights) at k bits, `I_b` that with sign W, and `s` the least-squares scale (which the
    batch norm or the readout gain would absorb)."""
    reference = _reference(model, candidates, k_bits).eval()
    inputs = {}
    hooks = [
        reference.layers[i].linear.register_forward_hook(
            lambda module, args, out, i=i: inputs.__setitem__(i, args[0])
        )
        for i in candidates
    ]
    with torch.no_grad():
        reference(x)
        for hook in hooks:
            hook.remove()
        errors = []
        for index in candidates:
            linear = reference.layers[index].linear
            current = (inputs[index] @ (linear.quantized() * linear.step())).double()
            binary = (inputs[index] @ _sign(linear.weight)).double()
            scale = (current * binary).sum() / binary.square().sum().clamp_min(1e-12)
            total = current.square().sum().clamp_min(1e-12)
            errors.append(float((current - scale * binary).square().sum() / total))
    return errors


def estimate(
    model: SpikingMLP,
    estimator: str,
    x: torch.Tensor,
    y: torch.Tensor,
    candidates: list[int],
    k_bits: int,
) -> list[float]:
    """The estimated cost of binarizing each candidate layer alone (lower is cheaper)."""
    if estimator == "weight":
        return [weight_error(model.layers[i].linear) for i in candidates]
    if estimator == "current":
        return current_errors(model, x, candidates, k_bits)
    if estimator == "accuracy":
        return accuracy_drops(model, x, y, candidates, k_bits)
    raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")


def choose_bits(
    sizes: list[int],
    costs: list[float | None],
    budget_bits: int,
    k_bits: int,
    fixed: dict[int, int] | None = None,
) -> list[int]:
    """Per layer 1 or `k_bits`: the binary set with the least summed cost that fits the budget.

    `sizes` are the layers' weight counts and `costs` the estimates, None for a layer that is
    not a candidate; `fixed` maps such layers to their bits (default `k_bits`). Ties go to the
    choice that stores more bits, then to binarizing later layers. Raises ValueError when even
    all candidates binary exceed the budget.
    """
    fixed = fixed or {}
    candidates = [i for i, cost in enumerate(costs) if cost is not None]
    base = [fixed.get(i, k_bits) for i in range(len(sizes))]
    for i in candidates:
        base[i] = k_bits

    def total(bits):
        return sum(layer_weight_bits(n, 1, b) for n, b in zip(sizes, bits))

    smallest = list(base)
    for i in candidates:
        smallest[i] = 1
    if total(smallest) > budget_bits:
        raise BudgetError(
            f"weight budget {budget_bits} bits is below the smallest choice, "
            f"{total(smallest)} bits (candidate layers binary: {smallest}; all-{k_bits}-bit "
            f"takes {total(base)} bits)"
        )
    best = None
    for count in range(len(candidates) + 1):
        for subset in itertools.combinations(candidates, count):
            bits = list(base)
            for i in subset:
                bits[i] = 1
            stored = total(bits)
            if stored > budget_bits:
                continue
            # A negative estimate is noise (binarizing rarely helps): it counts as free, so the
            # tie-break keeps that layer k-bit unless the budget needs it.
            cost = sum(max(costs[i], 0.0) for i in subset)
            key = (cost, -stored, [-i for i in subset])
            if best is None or key < best[0]:
                best = (key, bits)
    return best[1]


class BinaryWeightOptimizer:
    """Sign flips for binary layers, in place of latent-weight updates.

    Each binary weight keeps exponential averages (rate `rate`) of its gradient, `m`, and of the
    gradient's square, `v`. Gradient descent moves a weight against its gradient, so when `m`
    has the weight's own sign the push is towards zero and across it; the weight flips once the
    push is consistent: `sign(w) * m / sqrt(v) > margin`. The ratio is in [-1, 1] whatever the
    layer's gradient scale (1: every recent gradient pushed the same way), so one margin fits
    every layer and model. A flipped weight's push then points back and stops. Its gradient is
    cleared so that the float optimizer leaves binary weights alone; the layer's scale stays
    trainable (the batch norm's gamma, or the readout's gain).
    """

    def __init__(self, linears: list[QuantLinear], rate: float = 0.05, margin: float = 0.5):
        self.linears, self.rate, self.margin = linears, rate, margin
        self.averages = [torch.zeros_like(linear.weight) for linear in linears]
        self.squares = [torch.zeros_like(linear.weight) for linear in linears]
        with torch.no_grad():  # the binary weights themselves, where the STE passes gradient
            for linear in linears:
                linear.weight.copy_(_sign(linear.weight))
        self.flips = 0

    def step(self) -> int:
        """Use the gradients just computed; returns the number of weights flipped."""
        flipped = 0
        with torch.no_grad():
            for linear, average, square in zip(self.linears, self.averages, self.squares):
                grad = linear.weight.grad
                if grad is None:
                    continue
                average.mul_(1 - self.rate).add_(grad, alpha=self.rate)
                square.mul_(1 - self.rate).addcmul_(grad, grad, value=self.rate)
                sign = _sign(linear.weight)
                flip = average * sign > self.margin * square.sqrt().clamp_min(1e-30)
                linear.weight.copy_(torch.where(flip, -sign, sign))
                linear.weight.grad = None
                flipped += int(flip.sum())
        self.flips += flipped
        return flipped


class ALBSNN:
    """The per-epoch chooser and the per-step BWO that `models.train.train` drives."""

    def __init__(
        self,
        model: SpikingMLP,
        budget_bits: int,
        options: ALBSNNOptions,
        epochs: int,
        holdout: tuple[torch.Tensor, torch.Tensor],
    ):
        self.model, self.budget, self.options, self.epochs = model, budget_bits, options, epochs
        self.x, self.y = holdout
        self.warmup = options.warmup_epochs or max(1, epochs // 4)
        n = len(model.layers)
        self.candidates = [
            i
            for i, layer in enumerate(model.layers)
            if options.binarize_readout or not isinstance(layer, ReadoutLayer)
        ]
        self.sizes = [m.linear.in_features * m.linear.out_features for m in model.layers]
        # Fails before any training when the budget cannot hold.
        free = [0.0 if i in self.candidates else None for i in range(n)]
        choose_bits(self.sizes, free, budget_bits, options.k_bits)
        self.best, self.since_best = -1.0, 0
        self.bwo: BinaryWeightOptimizer | None = None

    def before_step(self) -> None:
        """Between backward and the optimizer's step."""
        if self.bwo is not None:
            self.bwo.step()

    def end_epoch(self, epoch: int) -> dict:
        """After epoch `epoch` (1-based): choose bits (warm-up), test for a plateau (after it).
        Returns what the history records."""
        model, options = self.model, self.options
        entry = {}
        if epoch <= self.warmup:
            costs = estimate(
                model, options.estimator, self.x, self.y, self.candidates, options.k_bits
            )
            full = [None] * len(model.layers)
            for index, cost in zip(self.candidates, costs):
                full[index] = cost
            bits = choose_bits(self.sizes, full, self.budget, options.k_bits)
            for layer, b in zip(model.layers, bits):
                set_layer_bits(layer, b)
            model.config.weight_bits = bits
            entry["estimates"] = full
            entry["phase"] = "warmup"
        else:
            entry["phase"] = "bwo" if self.bwo is not None else "frozen"
        # In the warm-up this follows the switch, whose batch norms training has yet to adapt.
        accuracy = _accuracy(model, self.x, self.y)
        entry["bits"] = [m.linear.bits for m in model.layers]
        entry["weight_bits_stored"] = model_weight_bits(model)
        entry["holdout_accuracy"] = accuracy
        if self.bwo is not None:
            entry["flips"] = self.bwo.flips
            self.bwo.flips = 0
        if epoch > self.warmup:
            if accuracy > self.best:
                self.best, self.since_best = accuracy, 0
            else:
                self.since_best += 1
        plateau = self.since_best >= options.bwo_patience
        late = epoch >= self.epochs * (1 - options.bwo_fraction)
        if options.bwo and self.bwo is None and epoch >= self.warmup and (plateau or late):
            binary = [m.linear for m in model.layers if m.linear.bits == 1]
            if binary and epoch < self.epochs:
                self.bwo = BinaryWeightOptimizer(binary, options.bwo_rate, options.bwo_margin)
                entry["bwo_starts"] = True
        return entry
