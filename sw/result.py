"""What a backend returns for a batch of samples, and its `.npz` form (DESIGN.md section 3)."""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Result"]


@dataclass
class Result:
    readout: np.ndarray  # int64 [samples, n_last]
    spikes: dict[str, np.ndarray]  # layer name -> uint8 [samples, T, n]
    cycles: np.ndarray  # int64 [samples]; 0 for the golden model
    membranes: dict[str, np.ndarray] = field(default_factory=dict)  # int64 [samples, T, n]
    #: Lanes of the engine that ran the samples (None for the golden model).
    lanes: int | None = None
    #: Engine counters per sample and layer, int64 [samples, layers]: layer_cycles,
    #: layer_events, layer_synops, layer_stalls (empty for the golden model).
    counters: dict[str, np.ndarray] = field(default_factory=dict)
    #: Waveform file the run wrote, if asked to.
    waves: str | None = None

    @property
    def predictions(self) -> np.ndarray:
        """Predicted class: argmax of the readout, lowest index on ties."""
        return np.argmax(self.readout, axis=1)

    def save(self, path) -> None:
        arrays = {"readout": self.readout, "cycles": self.cycles}
        arrays.update({f"{name}.spikes": value for name, value in self.spikes.items()})
        if self.lanes is not None:
            arrays["lanes"] = np.int64(self.lanes)
        arrays.update({f"counters.{name}": value for name, value in self.counters.items()})
        np.savez_compressed(path, **arrays)
