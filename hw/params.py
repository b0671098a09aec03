"""Sizes and limits shared by the gateware, the compiler, the golden model and the host.

This module imports no Amaranth on purpose: the host software (`sw`) reads the same numbers the
gateware is built from, so a limit is written down exactly once.
"""

from dataclasses import asdict, dataclass

__all__ = [
    "NEURON_KINDS",
    "RESET_KINDS",
    "WEIGHT_BITS",
    "V_BITS",
    "BURST_MAX",
    "EngineParams",
    "weight_range",
    "v_range",
]

#: Neuron kinds a layer may use (DESIGN.md section 2).
NEURON_KINDS = ("lif", "lifb", "readout")
#: Membrane reset rules after a spike.
RESET_KINDS = ("zero", "subtract")
#: Allowed weight widths: 1 is binary (+1/-1), 2..8 are two's complement.
WEIGHT_BITS = range(1, 9)
#: Allowed membrane widths.
V_BITS = range(8, 33)
#: Largest burst a LIFB neuron may emit in one timestep.
BURST_MAX = 7


def weight_range(bits: int) -> tuple[int, int]:
    """Inclusive range of a weight of `bits` bits (binary: -1..+1, zero excluded)."""
    if bits == 1:
        return -1, 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def v_range(v_bits: int) -> tuple[int, int]:
    """Inclusive range of a saturating membrane of `v_bits` bits."""
    return -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1


@dataclass(frozen=True)
class EngineParams:
    """The size of one engine build.

    The compiler rejects a Program that does not fit these numbers before anything runs; the
    gateware is generated from the same object.
    """

    #: Neurons updated in parallel; one weight word is `lanes * weight_bits` wide.
    lanes: int = 16
    #: Most layers one Program may have.
    max_layers: int = 4
    #: Widest layer input (inputs of the first layer, neurons of hidden layers).
    max_inputs: int = 1024
    #: Most neurons in one layer.
    max_neurons: int = 512
    #: Total weight storage, in bits, summed over layers (packed by lane, padded to lanes).
    weight_memory_bits: int = 1 << 20
    #: Widest membrane the state units implement.
    max_v_bits: int = 24
    #: Widest weight the accumulate lanes implement.
    max_weight_bits: int = 8
    #: Longest run of timesteps per sample.
    max_timesteps: int = 64

    def __post_init__(self):
        if self.lanes < 1:
            raise ValueError(f"lanes must be >= 1, got {self.lanes}")
        if self.max_v_bits not in V_BITS:
            raise ValueError(
                f"max_v_bits must be in {V_BITS.start}..{V_BITS.stop - 1}, got {self.max_v_bits}"
            )
        if self.max_weight_bits not in WEIGHT_BITS:
            raise ValueError(f"max_weight_bits must be in 1..8, got {self.max_weight_bits}")

    def layer_weight_bits(self, inputs: int, outputs: int, weight_bits: int) -> int:
        """Bits one layer occupies in the weight memories: rows of whole lane groups."""
        groups = -(-outputs // self.lanes)
        return inputs * groups * self.lanes * weight_bits

    def as_dict(self) -> dict:
        return asdict(self)
