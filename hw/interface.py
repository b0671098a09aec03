"""The engine's face: one signature shared by the engine, the command processor and the top.

`EngineSignature` is the engine's ports as the engine sees them. The command processor holds
the same signature flipped, so a top level joins the two with one `connect`.
"""

from amaranth import signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from . import layout
from .params import EngineParams

__all__ = ["struct", "counters_layout", "EngineSignature"]


def struct(fields) -> data.StructLayout:
    """A StructLayout from one of `hw.layout`'s field lists."""
    return data.StructLayout(
        {name: signed(width) if is_signed else width for name, width, is_signed in fields}
    )


def counters_layout(params: EngineParams) -> data.StructLayout:
    """The engine's counters as one struct, laid out as `hw.layout.counter_fields` says."""
    per_layer = data.ArrayLayout(layout.COUNTER_BITS, params.max_layers)
    return data.StructLayout(
        {"cycles": layout.COUNTER_BITS, **{name: per_layer for name in layout.LAYER_COUNTERS}}
    )


class EngineSignature(wiring.Signature):
    """The engine's ports (docs/engine.md, "Ports"):

    - `i_events`: input events (`hw.layout.input_fields`): addresses, then an `end` per step;
    - `o_events`: output events (`hw.layout.output_fields`): spikes, step and sample ends,
      readout values;
    - `i_config`: configuration writes (`hw.layout.write_fields`), taken between timesteps;
    - `i_read` / `o_read`: read-back of the same words (`hw.layout.read_fields` in, a word out),
      served between samples;
    - `busy`: a sample is under way;
    - `counters`: cycles and per-layer counts of the sample under way or just finished.
    """

    def __init__(self, params: EngineParams):
        self.params = params
        super().__init__(
            {
                "i_events": In(stream.Signature(struct(layout.input_fields(params)))),
                "o_events": Out(stream.Signature(struct(layout.output_fields(params)))),
                "i_config": In(stream.Signature(struct(layout.write_fields(params)))),
                "i_read": In(stream.Signature(struct(layout.read_fields(params)))),
                "o_read": Out(stream.Signature(layout.word_bits(params))),
                "busy": Out(1),
                "counters": Out(counters_layout(params)),
            }
        )

    def __eq__(self, other):
        return isinstance(other, EngineSignature) and self.params == other.params

    def __hash__(self):
        return hash(self.params)

    def __repr__(self):
        return f"EngineSignature({self.params!r})"
