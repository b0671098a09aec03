"""The architectures spikeloom trains, by name: each one's configuration, module and the
optimiser schedule it trains best with. Checkpoints record the name (`kind`).

- `dense`: the spiking MLP (`models/mlp.py`), compiled to a chain of dense layers (format 1);
  with a weight budget, ALBSNN chooses its layers' bits (`models/albsnn.py`).
- `mixer`: the Mixer-SNN (`models/mixer.py`), compiled to a graph (format 2).
- `snn-mlp`: the spiking SNN-MLP (`models/snn_mlp.py`), compiled to a graph with scan
  populations.

Graph models read square images: `config.image_size` pixels a side.
"""

from dataclasses import dataclass

from torch import nn

from .mixer import MixerConfig, SpikingMixer
from .mlp import MLPConfig, SpikingMLP
from .snn_mlp import SNNMLPConfig, SpikingSNNMLP

__all__ = ["ModelKind", "MODEL_KINDS", "kind_of", "build_model", "is_graph_model"]


@dataclass(frozen=True)
class ModelKind:
    name: str
    config: type
    module: type
    #: Peak learning rate of Adam and the schedule that reaches it: `onecycle` warms up then
    #: anneals; `cosine` starts at the peak. Both were measured on digits (docs/models.md).
    lr: float
    schedule: str
    #: Whether it compiles to a graph (format 2) rather than a chain of dense layers (format 1).
    graph: bool
    #: Label smoothing of the cross-entropy loss (measured on digits: +0.8 points float for the
    #: Mixer, +0.8 golden for the SNN-MLP; docs/models.md).
    label_smoothing: float = 0.0


MODEL_KINDS = {
    kind.name: kind
    for kind in (
        ModelKind("dense", MLPConfig, SpikingMLP, lr=3e-3, schedule="onecycle", graph=False),
        ModelKind(
            "mixer",
            MixerConfig,
            SpikingMixer,
            lr=1e-2,
            schedule="cosine",
            graph=True,
            label_smoothing=0.1,
        ),
        ModelKind(
            "snn-mlp",
            SNNMLPConfig,
            SpikingSNNMLP,
            lr=1e-2,
            schedule="cosine",
            graph=True,
            label_smoothing=0.1,
        ),
    )
}


def kind_of(model_or_config) -> ModelKind:
    """The kind of a model, or of a model's configuration."""
    for kind in MODEL_KINDS.values():
        if isinstance(model_or_config, (kind.module, kind.config)):
            return kind
    raise TypeError(f"{type(model_or_config).__name__} is not a spikeloom model or configuration")


def build_model(kind: str, config) -> nn.Module:
    """A fresh model of `kind` from its configuration (a dataclass or its `as_dict()`)."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"model kind {kind!r} is not one of {', '.join(MODEL_KINDS)}")
    entry = MODEL_KINDS[kind]
    if isinstance(config, dict):
        config = entry.config(**config)
    return entry.module(config)


def is_graph_model(model: nn.Module) -> bool:
    return kind_of(model).graph
