"""Seeded training of a spiking MLP, with a progress bar; checkpoints hold state and config."""

import copy
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .albsnn import ALBSNN, ALBSNNOptions
from .datasets import load_dataset
from .mlp import MLPConfig, SpikingMLP

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

    def __post_init__(self):
        if isinstance(self.albsnn, dict):  # as a checkpoint stores it
            self.albsnn = ALBSNNOptions(**self.albsnn)


def evaluate(model: SpikingMLP, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Accuracy of the float model on `(x, y)`."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            scores = model(torch.from_numpy(x[start : start + batch_size]))
            correct += (scores.argmax(dim=1).numpy() == y[start : start + batch_size]).sum()
    return float(correct) / len(x)


def train(model_config: MLPConfig, train_config: TrainConfig, progress: bool = True):
    """Train from a fixed seed; return `(model, history)` with per-epoch loss and accuracy.

    Ctrl-C raises `TrainingInterrupted` with the model as it was after the last whole epoch.
    """
    torch.manual_seed(train_config.seed)
    generator = torch.Generator().manual_seed(train_config.seed)
    x_train, y_train = load_dataset(train_config.dataset, "train", train_config.data_dir)
    x_test, y_test = load_dataset(train_config.dataset, "test", train_config.data_dir)
    if x_train.shape[1] != model_config.in_features:
        model_config.in_features = x_train.shape[1]
    albsnn = None
    if train_config.weight_budget_bits is not None:
        options = train_config.albsnn or ALBSNNOptions()
        x_train, y_train, holdout = _hold_out(x_train, y_train, options, train_config.seed)
        # Every engine layer starts k-bit; the chooser binarizes some after each warm-up epoch.
        engine_layers = len(model_config.hidden) + 1
        model_config = replace(model_config, weight_bits=[options.k_bits] * engine_layers)
    model = SpikingMLP(model_config)
    if train_config.weight_budget_bits is not None:
        albsnn = ALBSNN(
            model, train_config.weight_budget_bits, options, train_config.epochs, holdout
        )
    optimizer = torch.optim.Adam(
        model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay
    )
    steps = train_config.epochs * -(-len(x_train) // train_config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, train_config.lr, total_steps=steps)
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


def _bits(model: SpikingMLP) -> list[int]:
    return [layer.linear.bits for layer in model.layers]


def _set_bits(model: SpikingMLP, bits: list[int]) -> None:
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
    loss_fn = nn.CrossEntropyLoss()
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


def save_checkpoint(path, model: SpikingMLP, train_config: TrainConfig | None, history=None):
    """A checkpoint is the state dict plus both configs: enough to rebuild the model."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": "spikeloom.checkpoint/1",
            "model": model.config.as_dict(),
            "train": asdict(train_config) if train_config else None,
            "state_dict": model.state_dict(),
            "history": history or [],
        },
        path,
    )


def load_checkpoint(path) -> tuple[SpikingMLP, dict]:
    """Rebuild a model from `save_checkpoint`'s file; returns `(model, checkpoint dict)`."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != "spikeloom.checkpoint/1":
        raise ValueError(f"{path}: not a spikeloom checkpoint")
    model = SpikingMLP(MLPConfig(**checkpoint["model"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), checkpoint
