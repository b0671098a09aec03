"""What every graph model's configuration holds: a square image, a token grid of patches,
spiking populations of one neuron kind, a readout, and one gain shift for every projection."""

from dataclasses import asdict, dataclass

from .neurons import check_neuron_kind

__all__ = ["GraphModelConfig", "MAX_SHIFT", "check_range"]

#: Largest shift the format allows for every membrane width (v_bits >= 8).
MAX_SHIFT = 7


def check_range(name: str, value, low: int, high: int | None = None) -> None:
    """A one-line `ValueError` naming `name`, its limit and `value` unless low <= value <= high."""
    if value is None or value < low or (high is not None and value > high):
        limit = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name} must be {limit}, got {value}")


@dataclass
class GraphModelConfig:
    """The fields the graph models share (each model adds its own; stored in every
    checkpoint)."""

    image_size: int = 8  # square images, image_size x image_size pixels
    classes: int = 10
    channels: int = 32
    blocks: int = 2
    patch: int = 2  # patch embedding kernel and stride: tokens on an (image/patch)^2 grid
    timesteps: int = 4
    levels: int = 4  # thermometer channels per pixel
    gain_shift: int = 4  # every projection into a population is multiplied by 2^gain_shift
    neuron: str = "lif"  # lif | lifb
    burst_max: int = 1  # 2..7 for lifb
    leak_shift: int = 1  # tau = 2^k
    reset: str = "zero"
    weight_bits: int = 1  # readout weights; every other weight is binary

    def __post_init__(self):
        check_neuron_kind(self.neuron, self.burst_max)
        if self.reset not in ("zero", "subtract"):
            raise ValueError(f"reset must be 'zero' or 'subtract', got {self.reset!r}")
        for name in ("image_size", "patch", "channels", "blocks", "timesteps", "levels"):
            check_range(name, getattr(self, name), 1)
        check_range("classes", self.classes, 2)
        if self.image_size % self.patch:
            raise ValueError(f"patch {self.patch} does not divide image_size {self.image_size}")
        check_range("gain_shift", self.gain_shift, 0, MAX_SHIFT)
        check_range("leak_shift", self.leak_shift, 0, MAX_SHIFT)
        check_range("weight_bits", self.weight_bits, 1, 8)

    @property
    def tokens(self) -> int:
        """Rows (and columns) of the (first) token grid."""
        return self.image_size // self.patch

    def as_dict(self) -> dict:
        return asdict(self)
