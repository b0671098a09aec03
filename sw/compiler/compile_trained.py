"""Compile any trained model of `models.zoo`: a dense model to a chain Program (format 1), a
graph model to a graph Program (format 2)."""

from spikeloom.models.zoo import kind_of
from spikeloom.sw.compiler.compile import CompileOptions, compile_model
from spikeloom.sw.compiler.compile_graph import GraphCompileOptions, compile_mixer
from spikeloom.sw.compiler.compile_snn_mlp import compile_snn_mlp
from spikeloom.sw.compiler.graph import Graph
from spikeloom.sw.compiler.program import Program

__all__ = ["GRAPH_COMPILERS", "compile_trained"]

#: The compiler of each graph model kind: `(model, GraphCompileOptions) -> (graph, folds)`.
GRAPH_COMPILERS = {"mixer": compile_mixer, "snn-mlp": compile_snn_mlp}


def compile_trained(model, v_bits: int | None = None) -> tuple[Program | Graph, list]:
    """`(program, folds)`: the validated Program and what folding did per layer or population.

    `v_bits` fixes every membrane's width; None picks the smallest that cannot overflow."""
    kind = kind_of(model)
    if not kind.graph:
        return compile_model(model, CompileOptions(v_bits=v_bits))
    return GRAPH_COMPILERS[kind.name](model, GraphCompileOptions(v_bits=v_bits))
