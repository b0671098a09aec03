"""Accuracy of a checkpoint (float) or a Program (on a backend) on a data split. A graph
Program (format 2) runs on the golden model."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from spikeloom.models.train import evaluate as float_accuracy
from spikeloom.models.zoo import kind_of
from spikeloom.sw.compiler.encode import encode
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.graph import Graph
from spikeloom.sw.compiler.graph_golden import run_graph_golden
from spikeloom.sw.compiler.program import Program
from spikeloom.sw.errors import InputError
from spikeloom.sw.result import Result

__all__ = ["Runner", "Evaluation", "evaluate_program", "evaluate_target", "model_features"]

#: A backend: runs a Program on input spikes `[samples, T, inputs]`.
Runner = Callable[[Program, np.ndarray], Result]


@dataclass
class Evaluation:
    accuracy: float
    samples: int
    backend: str
    result: Result | None = None


def evaluate_program(
    program: Program | Graph, x, y, runner: Runner | None = None, backend: str = "golden"
) -> Evaluation:
    """Accuracy of a Program on `runner` (default: the golden model of its format)."""
    if runner is None:
        runner = run_graph_golden if isinstance(program, Graph) else run_golden
    result = runner(program, encode(program, x))
    accuracy = float((result.predictions == y).mean()) if len(y) else 0.0
    return Evaluation(accuracy, len(y), backend, result)


def evaluate_target(
    target, x, y, runner: Runner | None = None, backend: str = "golden"
) -> Evaluation:
    """Float accuracy of a model, or the accuracy of a Program (either format) on `runner`."""
    if isinstance(target, (Program, Graph)):
        return evaluate_program(target, x, y, runner, backend)
    expected = model_features(target)
    if x.shape[1] != expected:
        raise InputError(f"samples have {x.shape[1]} features, the model expects {expected}")
    return Evaluation(float_accuracy(target, x, y), len(y), "float")


def model_features(model) -> int:
    """Raw features per sample a trained model reads: pixels of a graph model's square image."""
    config = model.config
    return config.image_size**2 if kind_of(model).graph else config.in_features
