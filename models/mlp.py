"""The dense spiking-MLP family: encoder -> quantized hidden layers -> readout or spike counts.

Every layer after the encoder is an *engine layer*: quantized weights, then batch norm (folded
into integer thresholds and biases by the compiler), then LIF/LIFB neurons. The last engine
layer is either a readout integrator with one shared scale (so classes compare on one scale) or
a spiking layer whose spike counts vote.
"""

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .encoders import AnalogEncoder, RateEncoder, ThermometerEncoder
from .layers import QuantLinear
from .neurons import LIF, Readout, check_neuron_kind

__all__ = ["MLPConfig", "SpikingMLP", "EngineLayer"]


@dataclass
class MLPConfig:
    """Everything that defines the architecture (stored in every checkpoint)."""

    in_features: int = 64
    classes: int = 10
    hidden: list[int] = field(default_factory=lambda: [256])
    timesteps: int = 4
    encoder: str = "thermometer"  # thermometer | rate | analog
    encoder_levels: int = 4  # thermometer channels per feature
    encoder_width: int = 128  # analog encoder neurons
    neuron: str = "lif"  # lif | lifb
    burst_max: int = 1  # 2..7 for lifb
    leak_shift: int | None = 1  # tau = 2^k; None: no leak
    reset: str = "subtract"
    weight_bits: list[int] | None = None  # per engine layer; default all binary
    output: str = "readout"  # readout | spikes

    def __post_init__(self):
        engine_layers = len(self.hidden) + 1
        if self.weight_bits is None:
            self.weight_bits = [1] * engine_layers
        if len(self.weight_bits) != engine_layers:
            raise ValueError(
                f"weight_bits has {len(self.weight_bits)} entries but the model has "
                f"{engine_layers} engine layers"
            )
        check_neuron_kind(self.neuron, self.burst_max)
        if self.output not in ("readout", "spikes"):
            raise ValueError(f"output must be 'readout' or 'spikes', got {self.output!r}")
        if self.encoder not in ("thermometer", "rate", "analog"):
            raise ValueError(f"encoder {self.encoder!r} is not thermometer, rate or analog")

    def as_dict(self) -> dict:
        return asdict(self)


class EngineLayer(nn.Module):
    """Quantized linear -> batch norm -> LIF/LIFB: one layer the engine will run."""

    def __init__(self, n_in: int, n_out: int, bits: int, neuron: LIF):
        super().__init__()
        self.linear = QuantLinear(n_in, n_out, bits)
        self.norm = nn.BatchNorm1d(n_out)
        self.neuron = neuron

    def current(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, _ = x.shape
        y = self.norm(self.linear(x.reshape(batch * steps, -1)))
        return y.reshape(batch, steps, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neuron(self.current(x))


class ReadoutLayer(nn.Module):
    """Quantized linear with one shared gain and a per-class bias, integrated over T."""

    def __init__(self, n_in: int, classes: int, bits: int):
        super().__init__()
        self.linear = QuantLinear(n_in, classes, bits)
        self.gain = nn.Parameter(torch.tensor(n_in**-0.5))
        self.bias = nn.Parameter(torch.zeros(classes))
        self.neuron = Readout(leak_shift=None)

    def current(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * self.linear(x) + self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neuron(self.current(x))


class SpikingMLP(nn.Module):
    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        c = config
        if c.encoder == "thermometer":
            self.encoder = ThermometerEncoder(c.in_features, c.timesteps, c.encoder_levels)
        elif c.encoder == "rate":
            self.encoder = RateEncoder(c.in_features, c.timesteps)
        else:
            self.encoder = AnalogEncoder(
                c.in_features, c.timesteps, c.encoder_width, c.leak_shift, c.reset
            )
        widths = [self.encoder.channels, *c.hidden]
        layers = [
            EngineLayer(n_in, n_out, bits, self._neuron())
            for n_in, n_out, bits in zip(widths[:-1], widths[1:], c.weight_bits)
        ]
        if c.output == "readout":
            layers.append(ReadoutLayer(widths[-1], c.classes, c.weight_bits[-1]))
        else:
            layers.append(EngineLayer(widths[-1], c.classes, c.weight_bits[-1], self._neuron()))
        self.layers = nn.ModuleList(layers)

    def _neuron(self) -> LIF:
        c = self.config
        return LIF(leak_shift=c.leak_shift, reset=c.reset, burst_max=c.burst_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw samples `[batch, features]` in [0, 1] -> class scores `[batch, classes]`."""
        return self.forward_spikes(self.encoder(x))

    def forward_spikes(self, spikes: torch.Tensor) -> torch.Tensor:
        """Input spikes `[batch, T, channels]` -> class scores (readout v or spike counts)."""
        x = spikes
        for layer in self.layers:
            x = layer(x)
        return x if self.config.output == "readout" else x.sum(dim=1)

    def clip_weights_(self) -> None:
        for layer in self.layers:
            layer.linear.clip_()
