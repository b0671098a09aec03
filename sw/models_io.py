"""Load and check what the user points the command line at: checkpoints, Program folders,
data sets, spike and label arrays, build reports, and the files and folders it will write.

Every problem is an `InputError` of one line naming the file (and the option that gave it)."""

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import yaml
from spikeloom.models.datasets import DatasetError, load_dataset
from spikeloom.models.train import load_checkpoint
from spikeloom.sw.compiler.graph import Graph, load_graph
from spikeloom.sw.compiler.program import FORMAT as CHAIN_FORMAT
from spikeloom.sw.compiler.program import Program, load_program
from spikeloom.sw.errors import InputError
from torch import nn

__all__ = [
    "existing_file",
    "load_any_program",
    "load_model",
    "load_target",
    "load_data",
    "output_file",
    "output_folder",
    "load_array",
    "load_spikes",
    "load_labels",
    "load_build_report",
]


def existing_file(path, kind: str, option: str = "") -> Path:
    """`path` if it is a file with something in it; else `InputError` naming `kind` of file
    (and the command line `option` that gave it)."""
    path = Path(path)
    named = f"{option} {path}".strip()
    if path.is_dir():
        raise InputError(f"{named} is a folder, not a {kind} file")
    if not path.is_file():
        raise InputError(f"{named}: no such {kind} file")
    if path.stat().st_size == 0:
        raise InputError(f"{named} is empty, not a {kind} file")
    return path


def load_model(path) -> tuple[nn.Module, dict]:
    """Rebuild a trained model from a checkpoint; `InputError` when the file is not one."""
    path = existing_file(path, "checkpoint")
    try:
        return load_checkpoint(path)
    except (
        ValueError,
        KeyError,
        TypeError,
        RuntimeError,
        EOFError,
        OSError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: not a usable spikeloom checkpoint ({first})") from None


def load_any_program(path) -> Program | Graph:
    """A Program folder of either format: a chain of dense layers (format 1) as `Program`,
    which every backend runs, and a graph (format 2) as `Graph`."""
    graph = load_graph(path)  # reads and validates both formats
    header = yaml.safe_load((Path(path) / "program.yaml").read_text())
    return load_program(path) if header.get("format") == CHAIN_FORMAT else graph


def load_target(path) -> tuple[nn.Module | Program | Graph, str | None]:
    """A Program folder (either format) or a checkpoint file, whichever `path` is, and the data
    set it records having been trained on (None when it does not say)."""
    path = Path(path)
    if path.is_dir():
        program = load_any_program(path)
        return program, program.dataset
    model, checkpoint = load_model(path)
    return model, (checkpoint.get("train") or {}).get("dataset")


def load_data(dataset: str, split: str, data_dir=None):
    try:
        return load_dataset(dataset, split, data_dir)
    except DatasetError as error:
        raise InputError(str(error)) from None


def output_file(path: str, suffix: str, option: str = "--out") -> Path:
    """`path` exactly as given, which must end in `suffix` and not be a folder."""
    path = Path(path)
    if path.suffix != suffix:
        raise InputError(f"{option} {path}: the file name must end in {suffix}")
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder, not a {suffix} file")
    return path


def output_folder(path: str, keeps: str, option: str = "--out") -> Path:
    """A folder to write into: new, empty, or one that already holds `keeps` (rewritten)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is a file, not a folder")
    if path.is_dir() and any(path.iterdir()) and not (path / keeps).exists():
        raise InputError(
            f"{option} {path} is a folder with other files in it (no {keeps}); "
            "give a new or empty folder"
        )
    return path


def load_array(path, what: str, option: str) -> np.ndarray:
    """A `.npy` array file, with one-line errors for anything else."""
    path = existing_file(path, f"{what} .npy", option)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{option} {path}: not a .npy array ({first})") from None
    if not isinstance(loaded, np.ndarray):  # np.load opens an .npz archive whatever its name
        loaded.close()
        raise InputError(f"{option} {path} is an .npz archive, not a .npy array")
    return loaded


def load_spikes(path, option: str = "--input") -> np.ndarray:
    return load_array(path, "spikes", option)


def load_labels(path, samples: int) -> np.ndarray:
    labels = load_array(path, "labels", "--labels")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise InputError(
            f"--labels {path}: expected a 1-d integer array, got {labels.dtype} of "
            f"shape {labels.shape}"
        )
    if len(labels) != samples:
        raise InputError(f"--labels {path} has {len(labels)} labels for {samples} samples")
    return labels


def load_build_report(path) -> dict:
    path = Path(path)
    path = path / "report.json" if path.is_dir() else path
    try:
        build = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"--build: build report {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"--build: {path} is not a build report ({error})") from None
    if not isinstance(build, dict) or "clock_mhz" not in build:
        raise InputError(f"--build: {path} is not a build report of `spikeloom build`")
    return build
