"""Seeded training of any model of `models.zoo`, with a progress bar; checkpoints hold its kind,
state and configuration."""

import copy
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .albsnn import ALBSNN, ALBSNNOptions
from .datasets import load_dataset
from .mlp import SpikingMLP
from .zoo import MODEL_KINDS, build_model, kind_of

__all__ = [
    "TrainConfig",
    "TrainingInterrupted",
    "train",
    "evaluate",
    "save_checkpoint",
    "load_checkpoint",
]


class TrainingInterrupted(Exception):
    """Ctrl-C during `train`: `model` holds the weights of the last completed epoch (of
    `history`'s length; none when `history` is empty), so they can still be saved."""

    def __init__(self, model, history: list[dict], epochs: int):
        super().__init__(f"training interrupted after {len(history)} of {epochs} epochs")
        self.model, self.history, self.epochs = model, history, epochs


@dataclass
class TrainConfig:
    dataset: str = "digits"
    data_dir: str | None = None
    epochs: int = 40
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    seed: int = 0
    #: A weight-memory budget in bits: runs ALBSNN (models/albsnn.py, docs/albsnn.md), which
    #: chooses each engine layer's weight bits; None trains `MLPConfig.weight_bits` as given.
    weight_budget_bits: int | None = None
    #: ALBSNN's options (an `ALBSNNOptions` or its dict); None: the defaults.
    albsnn: ALBSNNOptions | None = None
    #: `onecycle` or `cosine` (models/zoo.py); None: the one the model kind trains best with.
    schedule: str | None = None
    #: Label smoothing of the loss, 0..1; None: the model kind's (models/zoo.py).
    label_smoothing: float | None = None

    def __post_init__(self):
        if isinstance(self.albsnn, dict):  # as a checkpoint stores it
            self.albsnn = ALBSNNOptions(**self.albsnn)
        if self.label_smoothing is not None and not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.schedule not in (None, "onecycle", "cosine"):
            raise ValueError(f"schedule must be 'onecycle' or 'cosine', got {self.schedule!r}")


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Accuracy of the float model on `(x, y)`."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            scores = model(torch.from_numpy(x[start : start + batch_size]))
            correct += (scores.argmax(dim=1).numpy() == y[start : start + batch_size]).sum()
    return float(correct) / len(x)


def train(model_config, train_config: TrainConfig, progress: bool = True):
    """Train the model `model_config` describes (any configuration of `models.zoo`) from a
    fixed seed; return `(model, history)` with per-epoch loss and accuracy.

    Ctrl-C raises `TrainingInterrupted` with the model as it was after the last whole epoch.
    """
    kind = kind_of(model_config)
    # What the kind trains best with, where the configuration leaves it open; the checkpoint
    # records the values used.
    train_config = replace(
        train_config,
        schedule=train_config.schedule or kind.schedule,
        label_smoothing=(
            kind.label_smoothing
            if train_config.label_smoothing is None
            else train_config.label_smoothing
        ),
    )
    torch.manual_seed(train_config.seed)
    generator = torch.Generator().manual_seed(train_config.seed)
    x_train, y_train = load_dataset(train_config.dataset, "train", train_config.data_dir)
    x_test, y_test = load_dataset(train_config.dataset, "test", train_config.data_dir)
    if kind.graph:
        _check_image_size(model_config, x_train.shape[1], train_config.dataset)
    elif x_train.shape[1] != model_config.in_features:
        model_config.in_features = x_train.shape[1]
    albsnn = None
    if train_config.weight_budget_bits is not None:
        if kind.name != "dense":
            raise ValueError(f"a weight budget (ALBSNN) applies to dense models, not {kind.name}")
        options = train_config.albsnn or ALBSNNOptions()
        x_train, y_train, holdout = _hold_out(x_train, y_train, options, train_config.seed)
        # Every engine layer starts k-bit; the chooser binarizes some after each warm-up epoch.
        engine_layers = len(model_config.hidden) + 1
        model_config = replace(model_config, weight_bits=[options.k_bits] * engine_layers)
    model = build_model(kind.name, model_config)
    if train_config.weight_budget_bits is not None:
        albsnn = ALBSNN(
            model, train_config.weight_budget_bits, options, train_config.epochs, holdout
        )
    optimizer = torch.optim.Adam(
        model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay
    )
    steps = train_config.epochs * -(-len(x_train) // train_config.batch_size)
    schedule = _schedule(optimizer, train_config.schedule, train_config.lr, steps)
    xs, ys = torch.from_numpy(x_train), torch.from_numpy(y_train)
    # The weights and history of the last whole epoch, replaced in one assignment so that
    # Ctrl-C never finds them apart.
    # ALBSNN changes layers' bits, which the state dict does not hold: they are kept beside it.
    completed = (copy.deepcopy(model.state_dict()), [], _bits(model))
    bar = tqdm(range(train_config.epochs), desc="train", unit="epoch", disable=not progress)
    try:
        for epoch in bar:
            hook = albsnn.before_step if albsnn else None
            loss = _train_epoch(
                model, optimizer, schedule, xs, ys, generator, train_config, before_step=hook
            )
            accuracy = evaluate(model, x_test, y_test)
            entry = {"epoch": epoch + 1, "loss": loss, "test_accuracy": accuracy}
            if albsnn:
                entry.update(albsnn.end_epoch(epoch + 1))
            completed = (copy.deepcopy(model.state_dict()), [*completed[1], entry], _bits(model))
            bar.set_postfix(loss=f"{loss:.3f}", test=f"{accuracy:.3f}")
    except KeyboardInterrupt:
        bar.close()
        model.load_state_dict(completed[0])
        _set_bits(model, completed[2])
        raise TrainingInterrupted(model.eval(), completed[1], train_config.epochs) from None
    return model, completed[1]


def _check_image_size(config, features: int, dataset: str) -> None:
    """A graph model reads square images of `config.image_size` pixels a side."""
    if config.image_size**2 != features:
        raise ValueError(
            f"the model reads {config.image_size}x{config.image_size} images, {dataset} has "
            f"{features} pixels per sample"
        )


def _schedule(optimizer, name: str, lr: float, steps: int):
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)


def _bits(model) -> list[int] | None:
    """A dense model's weight bits per layer (ALBSNN changes them); None for other kinds."""
    if not isinstance(model, SpikingMLP):
        return None
    return [layer.linear.bits for layer in model.layers]


def _set_bits(model, bits: list[int] | None) -> None:
    if bits is None:
        return
    for layer, b in zip(model.layers, bits):
        layer.linear.bits = b
    model.config.weight_bits = list(bits)


def _hold_out(x, y, options: ALBSNNOptions, seed: int):
    """Split a seeded `holdout_fraction` off the training set for ALBSNN's estimators."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + 1)).numpy()
    count = max(2, round(len(x) * options.holdout_fraction))
    held, kept = order[:count], order[count:]
    holdout = (torch.from_numpy(x[held]), torch.from_numpy(y[held]))
    return x[kept], y[kept], holdout


def _train_epoch(
    model, optimizer, schedule, xs, ys, generator, train_config, before_step=None
) -> float:
    """One pass over the training set in a seeded order; returns the mean loss.

    `before_step()`, if given, runs between each backward pass and the optimizer's step.
    """
    loss_fn = nn.CrossEntropyLoss(label_smoothing=train_config.label_smoothing or 0.0)
    model.train()
    order = torch.randperm(len(xs), generator=generator)
    total = 0.0
    for start in range(0, len(xs), train_config.batch_size):
        index = order[start : start + train_config.batch_size]
        if len(index) < 2:  # batch norm needs two samples
            continue
        loss = loss_fn(model(xs[index]), ys[index])
        optimizer.zero_grad()
        loss.backward()
        if before_step is not None:
            before_step()
        optimizer.step()
        schedule.step()
        model.clip_weights_()
        total += loss.item() * len(index)
    return total / len(xs)


def save_checkpoint(path, model: nn.Module, train_config: TrainConfig | None, history=None):
    """A checkpoint is the model's kind, its state dict and both configs: enough to rebuild the
    model."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": "spikeloom.checkpoint/1",
            "kind": kind_of(model).name,
            "model": model.config.as_dict(),
            "train": asdict(train_config) if train_config else None,
            "state_dict": model.state_dict(),
            "history": history or [],
        },
        path,
    )


def load_checkpoint(path) -> tuple[nn.Module, dict]:
    """Rebuild a model from `save_checkpoint`'s file; returns `(model, checkpoint dict)`.

    A checkpoint without a `kind` holds a dense model (they were the only kind at first)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != "spikeloom.checkpoint/1":
        raise ValueError(f"{path}: not a spikeloom checkpoint")
    kind = checkpoint.setdefault("kind", "dense")
    if kind not in MODEL_KINDS:
        raise ValueError(f"model kind {kind!r} is not one of {', '.join(MODEL_KINDS)}")
    model = build_model(kind, checkpoint["model"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), checkpoint
