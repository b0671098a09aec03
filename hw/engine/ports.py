"""What the engine's blocks share besides streams: the read port of a memory one block owns and
another addresses, and the widths of the sequencer's address registers."""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import layout
from ..params import EngineParams

__all__ = ["ReadPortSignature", "EventReadSignature", "neuron_addr_bits", "weight_addr_bits"]


def ReadPortSignature(addr, data) -> wiring.Signature:
    """A reader's side of a synchronous read port: `data` is the word at the previous cycle's
    `addr`. The block that owns the memory holds it flipped."""
    return wiring.Signature({"addr": Out(addr), "data": In(data)})


def EventReadSignature(params: EngineParams) -> wiring.Signature:
    """A read of an event buffer (input or spike): the address counts events up to the larger
    of the two buffers, the data is an input or neuron address."""
    events = max(params.max_inputs, params.spike_depth)
    return ReadPortSignature(range(events + 1), params.address_bits)


def _field_bits(params: EngineParams, name: str) -> int:
    return {field: width for field, width, _ in layout.layer_fields(params)}[name]


def neuron_addr_bits(params: EngineParams) -> int:
    """Width of a threshold/bias and membrane word's address as the sequencer counts it: one
    bit above the layer table's `neuron_base`."""
    return _field_bits(params, "neuron_base") + 1


def weight_addr_bits(params: EngineParams) -> int:
    """Width of a group's first weight address as the sequencer counts it: one bit above the
    layer table's `weight_base`."""
    return _field_bits(params, "weight_base") + 1
