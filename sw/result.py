"""What a backend returns for a batch of samples, and its `.npz` form (docs/program-format.md)."""

import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from spikeloom.sw.errors import InputError

__all__ = ["Result", "concat_results", "load_result"]


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
    #: The engine's `EngineParams.as_dict()` (None for the golden model).
    params: dict | None = None
    #: A board's run: its clock, its line rate and the bytes each sample took on the link,
    #: int64 [samples, 2] (sent, received). None where no link was in the loop.
    clock_hz: int | None = None
    baud: int | None = None
    link_bytes: np.ndarray | None = None
    #: Each sample's time from its first input to its counters, by the link's clock: wall time
    #: on a real board, simulated time on the simulated one.
    seconds: np.ndarray | None = None
    #: Samples the run was asked for. More than `samples` when the run stopped early (a lost
    #: link, Ctrl-C): the file then holds the first `samples` of them. None: all completed.
    requested: int | None = None

    @property
    def samples(self) -> int:
        return len(self.readout)

    @property
    def complete(self) -> bool:
        """Whether every requested sample completed."""
        return self.requested is None or self.requested == self.samples

    @property
    def predictions(self) -> np.ndarray:
        """Predicted class: argmax of the readout, lowest index on ties."""
        return np.argmax(self.readout, axis=1)

    def same_outputs(self, other: "Result") -> bool:
        """Whether two runs produced the same readouts and the same spikes in every layer."""
        return (
            np.array_equal(self.readout, other.readout)
            and self.spikes.keys() == other.spikes.keys()
            and all(np.array_equal(self.spikes[name], other.spikes[name]) for name in self.spikes)
        )

    def check_against(self, program) -> None:
        """Raise `InputError` unless this result could come from running `program`: its
        outputs, each layer's spikes and the counters' layers must all fit."""
        samples = self.samples

        def refuse(what: str):
            raise InputError(f"the result does not belong to this Program: {what}")

        if self.readout.ndim != 2 or self.readout.shape[1] != program.outputs:
            refuse(f"readout has shape {self.readout.shape}, the Program {program.outputs} outputs")
        if self.cycles.shape != (samples,):
            refuse(f"cycles have shape {self.cycles.shape} for {samples} samples")
        graph = hasattr(program, "populations")  # a format-2 Program
        what = "population" if graph else "layer"
        if graph:
            shapes = {p.name: tuple(p.shape) for p in program.populations if p.spiking}
        else:
            shapes = {layer.name: (layer.outputs,) for layer in program.layers if layer.spiking}
        for name, spikes in self.spikes.items():
            if name not in shapes:
                refuse(f"it has spikes of {what} {name!r}, the Program's are {list(shapes)}")
            expected = (samples, program.timesteps, *shapes[name])
            if spikes.shape != expected:
                refuse(f"{what} {name!r} spikes have shape {spikes.shape}, expected {expected}")
        if graph and self.counters:
            refuse(
                f"it has engine counters {sorted(self.counters)}; graphs run on the golden model"
            )
        for name, counts in self.counters.items():
            if counts.shape != (samples, len(program.layers)):
                refuse(
                    f"counter {name!r} has shape {counts.shape}, expected "
                    f"({samples}, {len(program.layers)}): one column per layer"
                )
        if self.requested is not None and self.requested < samples:
            refuse(f"it holds {samples} samples of {self.requested} requested")

    def save(self, path) -> Path:
        """Write the `.npz` at exactly `path` (which must end in .npz); returns it."""
        path = Path(path)
        if path.suffix != ".npz":
            raise InputError(f"result file {path} must end in .npz")
        arrays = {"readout": self.readout, "cycles": self.cycles}
        arrays.update({f"{name}.spikes": value for name, value in self.spikes.items()})
        if self.lanes is not None:
            arrays["lanes"] = np.int64(self.lanes)
        arrays.update({f"counters.{name}": value for name, value in self.counters.items()})
        if self.params is not None:
            arrays["params"] = np.array(json.dumps(self.params))
        for name in ("clock_hz", "baud", "requested"):
            if getattr(self, name) is not None:
                arrays[name] = np.int64(getattr(self, name))
        for name in ("link_bytes", "seconds"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        with open(path, "wb") as handle:  # a file object: numpy appends no suffix
            np.savez_compressed(handle, **arrays)
        return path


def concat_results(parts: list[Result], requested: int | None = None) -> Result:
    """One Result of the samples of `parts` in order (runs of one Program on one backend).
    `requested`: the samples asked for, when fewer completed."""
    first = parts[0]

    def joined(name: str):
        arrays = [getattr(part, name) for part in parts]
        return None if arrays[0] is None else np.concatenate(arrays)

    def joined_dict(name: str) -> dict:
        return {
            key: np.concatenate([getattr(part, name)[key] for part in parts])
            for key in getattr(first, name)
        }

    return Result(
        **{
            **first.__dict__,
            "readout": joined("readout"),
            "cycles": joined("cycles"),
            "spikes": joined_dict("spikes"),
            "membranes": joined_dict("membranes"),
            "counters": joined_dict("counters"),
            "link_bytes": joined("link_bytes"),
            "seconds": joined("seconds"),
            "requested": requested if requested != sum(p.samples for p in parts) else None,
        }
    )


def load_result(path) -> Result:
    """A result file written by `Result.save` (`spikeloom sim` and `run` write them)."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise InputError(f"result file {path} {what}")
    if not zipfile.is_zipfile(path):  # also what np.load would take for a pickle or a .npy
        raise InputError(f"{path} is not a result file: not an .npz archive")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path} is not a result file: unreadable ({first})") from None
    return _result_from_arrays(path, arrays)


def _result_from_arrays(path: Path, arrays: dict[str, np.ndarray]) -> Result:
    def integers(key: str, *ndims: int) -> np.ndarray:
        array = arrays[key]
        if array.dtype.kind not in "iu" or array.ndim not in ndims:
            expected = str(ndims[0]) if len(ndims) == 1 else f"{ndims[0]} to {ndims[-1]}"
            raise InputError(
                f"{path} is not a result file: {key} is {array.dtype} of {array.ndim} "
                f"dimensions, expected {expected}-d integers"
            )
        return array

    if "readout" not in arrays or "cycles" not in arrays:
        raise InputError(f"{path} is not a result file: it has no readout or cycles")
    scalar = {
        name: int(integers(name, 0))
        for name in ("lanes", "clock_hz", "baud", "requested")
        if name in arrays
    }
    try:
        params = json.loads(str(arrays["params"])) if "params" in arrays else None
    except json.JSONDecodeError:
        raise InputError(f"{path} is not a result file: its params are not JSON") from None
    return Result(
        readout=integers("readout", 2),
        spikes={
            k.removesuffix(".spikes"): integers(k, 3, 4, 5) for k in arrays if k.endswith(".spikes")
        },
        cycles=integers("cycles", 1),
        counters={
            k.removeprefix("counters."): integers(k, 2) for k in arrays if k.startswith("counters.")
        },
        params=params,
        link_bytes=integers("link_bytes", 2) if "link_bytes" in arrays else None,
        seconds=arrays["seconds"] if "seconds" in arrays else None,
        **scalar,
    )
