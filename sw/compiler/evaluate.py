"""Accuracy of a checkpoint (float) or a Program (on a backend) on a data split."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from spikeloom.models.mlp import SpikingMLP
from spikeloom.models.train import evaluate as float_accuracy
from spikeloom.sw.compiler.encode import encode
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.program import Program
from spikeloom.sw.errors import InputError
from spikeloom.sw.result import Result

__all__ = ["Runner", "Evaluation", "evaluate_program", "evaluate_target"]

#: A backend: runs a Program on input spikes `[samples, T, inputs]`.
Runner = Callable[[Program, np.ndarray], Result]


@dataclass
class Evaluation:
    accuracy: float
    samples: int
    backend: str
    result: Result | None = None


def evaluate_program(
    program: Program, x, y, runner: Runner = run_golden, backend: str = "golden"
) -> Evaluation:
    result = runner(program, encode(program, x))
    accuracy = float((result.predictions == y).mean()) if len(y) else 0.0
    return Evaluation(accuracy, len(y), backend, result)


def evaluate_target(
    target: SpikingMLP | Program, x, y, runner: Runner = run_golden, backend: str = "golden"
) -> Evaluation:
    """Float accuracy of a model, or the accuracy of a Program on `runner`."""
    if isinstance(target, Program):
        return evaluate_program(target, x, y, runner, backend)
    if x.shape[1] != target.config.in_features:
        raise InputError(
            f"samples have {x.shape[1]} features, the model expects {target.config.in_features}"
        )
    return Evaluation(float_accuracy(target, x, y), len(y), "float")
