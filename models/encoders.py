"""Host-side encoders: raw samples in [0, 1] -> input spikes `[batch, T, channels]` (or
`[batch, T, levels, H, W]` for an image that keeps its layout, what graph Programs read).

The engine receives spikes only; these run on the host. Each encoder can describe itself as a
`spec()` (plain YAML-able values) plus `arrays()` and be rebuilt by `encoder_from_spec`, so a
compiled Program carries the exact encoder it was trained with.
"""

import torch
from torch import nn

from .neurons import LIF

__all__ = [
    "ThermometerEncoder",
    "RateEncoder",
    "AnalogEncoder",
    "ImageThermometerEncoder",
    "encoder_from_spec",
]


class ThermometerEncoder(nn.Module):
    """Each feature becomes `levels` channels: channel k fires while x >= (k + 1) / (levels + 1).

    The same spikes repeat every timestep: deterministic, integer end to end.
    """

    def __init__(self, features: int, timesteps: int, levels: int = 4):
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.features, self.timesteps, self.levels = features, timesteps, levels
        self.register_buffer(
            "thresholds", torch.arange(1, levels + 1, dtype=torch.float32) / (levels + 1)
        )

    @property
    def channels(self) -> int:
        return self.features * self.levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spikes = (x.unsqueeze(-1) >= self.thresholds).flatten(1).to(torch.float32)
        return spikes.unsqueeze(1).expand(-1, self.timesteps, -1)

    def spec(self) -> dict:
        return {"kind": "thermometer", "features": self.features, "levels": self.levels}

    def arrays(self) -> dict:
        return {}


class RateEncoder(nn.Module):
    """Bernoulli rate coding: each feature spikes with probability x at every timestep.

    In eval mode the noise of sample `first_index + i` comes from its own generator, seeded by
    `(seed, index)`: sample i of a data split gets the same spikes however the split is batched,
    on every backend and every run. Training draws from the global generator.
    """

    def __init__(self, features: int, timesteps: int, seed: int = 0):
        super().__init__()
        self.features, self.timesteps, self.seed = features, timesteps, seed

    @property
    def channels(self) -> int:
        return self.features

    def forward(self, x: torch.Tensor, first_index: int = 0) -> torch.Tensor:
        shape = (self.timesteps, self.features)
        if self.training:
            noise = torch.rand(x.shape[0], *shape, device=x.device)
        else:
            noise = torch.stack(
                [
                    torch.rand(shape, generator=torch.Generator().manual_seed(seed))
                    for seed in self._sample_seeds(first_index, x.shape[0])
                ]
            ).to(x.device)
        return (noise < x.unsqueeze(1)).to(torch.float32)

    def _sample_seeds(self, first_index: int, count: int) -> list[int]:
        # CPU generators keep 32 bits of a seed; spread encoder seeds apart within them.
        base = self.seed * 0x9E3779B1 + first_index
        return [(base + i) & 0xFFFFFFFF for i in range(count)]

    def spec(self) -> dict:
        return {"kind": "rate", "features": self.features, "seed": self.seed}

    def arrays(self) -> dict:
        return {}


class AnalogEncoder(nn.Module):
    """A learned float first layer run on the host: Linear -> BatchNorm -> LIF -> spikes.

    It sees analog pixels, which binary engine layers cannot (the spiking patch encoding idea);
    its output spikes are the engine's input.
    """

    def __init__(
        self,
        features: int,
        timesteps: int,
        width: int = 128,
        leak_shift: int | None = 1,
        reset: str = "subtract",
    ):
        super().__init__()
        self.features, self.timesteps, self.width = features, timesteps, width
        self.linear = nn.Linear(features, width)
        self.norm = nn.BatchNorm1d(width)
        self.neuron = LIF(leak_shift=leak_shift, reset=reset)

    @property
    def channels(self) -> int:
        return self.width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        current = self.norm(self.linear(x))
        return self.neuron(current.unsqueeze(1).expand(-1, self.timesteps, -1))

    def spec(self) -> dict:
        return {
            "kind": "analog",
            "features": self.features,
            "width": self.width,
            "leak_shift": self.neuron.leak_shift,
            "reset": self.neuron.reset,
        }

    def arrays(self) -> dict:
        return {key: value.detach().cpu().numpy() for key, value in self.state_dict().items()}


class ImageThermometerEncoder(nn.Module):
    """Pixels -> spikes `[batch, T, levels, H, W]`, channels first so the image keeps its layout:
    channel k fires while the pixel is >= (k + 1) / (levels + 1), the same every timestep."""

    def __init__(self, size: int, timesteps: int, levels: int = 4):
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.size, self.timesteps, self.levels = size, timesteps, levels
        self.register_buffer(
            "thresholds", torch.arange(1, levels + 1, dtype=torch.float32) / (levels + 1)
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.levels, self.size, self.size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.reshape(x.shape[0], 1, self.size, self.size)
        spikes = (images >= self.thresholds.view(1, -1, 1, 1)).to(torch.float32)
        return spikes.unsqueeze(1).expand(-1, self.timesteps, -1, -1, -1)

    def spec(self) -> dict:
        return {
            "kind": "thermometer_image",
            "features": self.size * self.size,
            "levels": self.levels,
            "height": self.size,
            "width": self.size,
        }

    def arrays(self) -> dict:
        return {}


def encoder_from_spec(spec: dict, timesteps: int, arrays: dict | None = None) -> nn.Module:
    """Rebuild an encoder from `spec()` and `arrays()`; raise ValueError on an unknown spec."""
    kind = spec.get("kind")
    try:
        if kind == "thermometer":
            encoder = ThermometerEncoder(spec["features"], timesteps, spec["levels"])
        elif kind == "thermometer_image":
            if spec["height"] != spec["width"] or spec["features"] != spec["height"] ** 2:
                raise ValueError(
                    f"thermometer_image: features {spec['features']} must be height x width of a "
                    f"square image, got {spec['height']} x {spec['width']}"
                )
            encoder = ImageThermometerEncoder(spec["height"], timesteps, spec["levels"])
        elif kind == "rate":
            encoder = RateEncoder(spec["features"], timesteps, spec.get("seed", 0))
        elif kind == "analog":
            encoder = AnalogEncoder(
                spec["features"], timesteps, spec["width"], spec["leak_shift"], spec["reset"]
            )
            state = {key: torch.as_tensor(value) for key, value in (arrays or {}).items()}
            encoder.load_state_dict(state)
        else:
            raise ValueError(
                f"encoder kind {kind!r} is not one of thermometer, thermometer_image, rate, analog"
            )
    except KeyError as missing:
        raise ValueError(f"encoder {kind!r}: missing field {missing}") from None
    except RuntimeError as error:
        raise ValueError(
            f"encoder {kind!r}: arrays do not match ({error})".splitlines()[0]
        ) from None
    return encoder.eval()
