"""Does a Program fit an engine build? Widths every backend needs, and the build's limits.

`check_fits` returns `(ok, messages)` in the manner of a deploy-time validator: nothing runs on a
target until every message is resolved. Each message names the layer, the limit and the value.
"""

from dataclasses import dataclass

from spikeloom.hw.params import EngineParams
from spikeloom.sw.compiler.program import Program

__all__ = ["LayerWidths", "layer_widths", "check_fits", "params_for_program"]


def _signed_bits(magnitude: int) -> int:
    return int(magnitude).bit_length() + 1


@dataclass(frozen=True)
class LayerWidths:
    """Two's complement widths that make one layer's arithmetic overflow-free."""

    name: str
    #: Holds any z = sum_i c[i] * W[i, j] of one timestep.
    current_bits: int
    #: Holds v - lam + z + beta before saturation (|v|, |lam| < 2^(v_bits-1)).
    sum_bits: int


def layer_widths(program: Program) -> list[LayerWidths]:
    widths = []
    for layer, max_count in zip(program.layers, program.layer_input_counts(), strict=True):
        current = layer.max_abs_current(max_count)
        bias = int(abs(layer.bias.astype(int)).max(initial=0))
        # |v| <= 2^(v_bits-1) and |v - lam| <= 2^(v_bits-1) as lam has v's sign and |lam|<=|v|.
        pre_saturation = (1 << (layer.v_bits - 1)) + current + bias
        widths.append(LayerWidths(layer.name, _signed_bits(current), _signed_bits(pre_saturation)))
    return widths


def check_fits(program: Program, params: EngineParams) -> tuple[bool, list[str]]:
    """Every way `program` exceeds `params`, as messages; `ok` when there are none."""
    problems = []
    if len(program.layers) > params.max_layers:
        problems.append(
            f"{len(program.layers)} layers exceed the {params.max_layers} this engine holds"
        )
    if program.timesteps > params.max_timesteps:
        problems.append(f"{program.timesteps} timesteps exceed the engine's {params.max_timesteps}")
    total_words = 0
    for layer, widths in zip(program.layers, layer_widths(program), strict=True):
        where = f"layer {layer.name!r}"
        if layer.inputs > params.max_inputs:
            problems.append(f"{where}: {layer.inputs} inputs exceed {params.max_inputs}")
        if layer.outputs > params.max_neurons:
            problems.append(f"{where}: {layer.outputs} neurons exceed {params.max_neurons}")
        if layer.v_bits > params.max_v_bits:
            problems.append(f"{where}: v_bits {layer.v_bits} exceeds {params.max_v_bits}")
        if layer.weight_bits > params.max_weight_bits:
            problems.append(
                f"{where}: weight_bits {layer.weight_bits} exceeds {params.max_weight_bits}"
            )
        if layer.burst_max > params.max_burst:
            problems.append(
                f"{where}: bursts of up to {layer.burst_max} spikes exceed the "
                f"{params.max_burst} the engine's event buffers hold"
            )
        if widths.current_bits > params.current_bits:
            problems.append(
                f"{where}: currents need {widths.current_bits} bits, the engine's "
                f"accumulators have {params.current_bits}"
            )
        total_words += params.layer_weight_words(layer.inputs, layer.outputs)
    if total_words > params.weight_words:
        problems.append(
            f"weights need {total_words} words of memory, more than the "
            f"{params.weight_words} this engine has"
        )
    return not problems, problems


def params_for_program(program: Program, lanes: int = 16, **overrides) -> EngineParams:
    """The smallest engine build that runs `program` (simulation builds are sized this way)."""
    widths = layer_widths(program)
    sizes = dict(
        lanes=lanes,
        max_layers=len(program.layers),
        max_inputs=max(layer.inputs for layer in program.layers),
        max_neurons=max(layer.outputs for layer in program.layers),
        max_v_bits=max(layer.v_bits for layer in program.layers),
        max_weight_bits=max(layer.weight_bits for layer in program.layers),
        max_timesteps=program.timesteps,
        current_bits=max(w.current_bits for w in widths),
    )
    params = EngineParams(**{**sizes, **overrides})
    words = sum(params.layer_weight_words(layer.inputs, layer.outputs) for layer in program.layers)
    return EngineParams(**{**sizes, "weight_words": words, **overrides})
