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

#: Neuron kinds a layer may use (docs/semantics.md).
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
    #: Depth of the weight memory in words of `lanes * max_weight_bits` bits; layer l uses
    #: `inputs * ceil(outputs / lanes)` of them.
    weight_words: int = 8192
    #: Widest membrane the state units implement.
    max_v_bits: int = 24
    #: Widest weight the accumulate lanes implement.
    max_weight_bits: int = 8
    #: Longest run of timesteps per sample.
    max_timesteps: int = 64
    #: Width of the per-lane current accumulators (one timestep's z).
    current_bits: int = 16
    #: LIF/LIFB state units; the sweep updates this many of a group's `lanes` neurons per cycle
    #: (None: all of them). Membrane and threshold memories are this many neurons wide, so a
    #: narrow sweep is what lets 64 lanes fit the few block RAMs of an iCE40 UP5K.
    sweep_lanes: int | None = None
    #: Largest LIFB burst the inter-layer event buffers are sized for.
    max_burst: int = BURST_MAX

    def __post_init__(self):
        if self.lanes < 1:
            raise ValueError(f"lanes must be >= 1, got {self.lanes}")
        if self.max_v_bits not in V_BITS:
            raise ValueError(
                f"max_v_bits must be in {V_BITS.start}..{V_BITS.stop - 1}, got {self.max_v_bits}"
            )
        if self.max_weight_bits not in WEIGHT_BITS:
            raise ValueError(f"max_weight_bits must be in 1..8, got {self.max_weight_bits}")
        for name in ("max_layers", "max_inputs", "max_neurons", "weight_words", "max_timesteps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 2 <= self.current_bits <= 32:
            raise ValueError(f"current_bits must be in 2..32, got {self.current_bits}")
        if self.sweep_lanes is not None and not (
            1 <= self.sweep_lanes <= self.lanes and self.lanes % self.sweep_lanes == 0
        ):
            raise ValueError(
                f"sweep_lanes must divide lanes ({self.lanes}), got {self.sweep_lanes}"
            )
        if not 1 <= self.max_burst <= BURST_MAX:
            raise ValueError(f"max_burst must be in 1..{BURST_MAX}, got {self.max_burst}")

    def groups(self, neurons: int) -> int:
        """Lane groups a layer of `neurons` needs."""
        return -(-neurons // self.lanes)

    def layer_weight_words(self, inputs: int, outputs: int) -> int:
        """Weight-memory words one layer occupies: one per input and lane group."""
        return inputs * self.groups(outputs)

    @property
    def units(self) -> int:
        """LIF/LIFB state units: neurons swept per cycle, and per membrane-memory word."""
        return self.sweep_lanes or self.lanes

    @property
    def slots(self) -> int:
        """Sweep cycles (membrane-memory words) per lane group."""
        return self.lanes // self.units

    @property
    def neuron_words(self) -> int:
        """Depth of the membrane and threshold/bias memories: every layer's groups' slots."""
        return self.max_layers * self.groups(self.max_neurons) * self.slots

    @property
    def address_bits(self) -> int:
        """Width of an input or neuron address."""
        return max(self.max_inputs, self.max_neurons, 2).bit_length()

    @property
    def spike_depth(self) -> int:
        """Entries of an inter-layer event buffer: every neuron's largest burst."""
        return self.max_neurons * self.max_burst

    def as_dict(self) -> dict:
        return asdict(self)
