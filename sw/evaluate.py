"""Accuracy of a checkpoint (float) or a Program (on a backend) on a data split."""

from dataclasses import dataclass

import numpy as np

from models.mlp import SpikingMLP
from models.train import evaluate as float_accuracy

from .encode import encode
from .errors import InputError
from .golden import Result, run_golden
from .program import Program

__all__ = ["BACKENDS", "run_program", "Evaluation", "evaluate_program", "evaluate_target"]

#: Backends that run Programs. Each is a function `(program, spikes) -> Result`.
BACKENDS = {"golden": run_golden}


def run_program(program: Program, spikes: np.ndarray, backend: str = "golden") -> Result:
    if backend not in BACKENDS:
        raise InputError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    return BACKENDS[backend](program, spikes)


@dataclass
class Evaluation:
    accuracy: float
    samples: int
    backend: str
    result: Result | None = None


def evaluate_program(program: Program, x, y, backend: str = "golden") -> Evaluation:
    result = run_program(program, encode(program, x), backend)
    accuracy = float((result.predictions == y).mean()) if len(y) else 0.0
    return Evaluation(accuracy, len(y), backend, result)


def evaluate_target(target: SpikingMLP | Program, x, y, backend: str = "golden") -> Evaluation:
    """Float accuracy of a model, or the accuracy of a Program on `backend`."""
    if isinstance(target, Program):
        return evaluate_program(target, x, y, backend)
    if x.shape[1] != target.config.in_features:
        raise InputError(
            f"samples have {x.shape[1]} features, the model expects {target.config.in_features}"
        )
    return Evaluation(float_accuracy(target, x, y), len(y), "float")
