"""Load what the user points the CLI at: a checkpoint or a Program directory."""

import pickle
import zipfile
from pathlib import Path

from spikeloom.models.datasets import DatasetError, load_dataset
from spikeloom.models.mlp import SpikingMLP
from spikeloom.models.train import load_checkpoint
from spikeloom.sw.compiler.program import Program, load_program
from spikeloom.sw.errors import InputError

__all__ = ["existing_file", "load_model", "load_target", "load_data"]


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


def load_model(path) -> tuple[SpikingMLP, dict]:
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


def load_target(path) -> tuple[SpikingMLP | Program, str | None]:
    """A Program directory or a checkpoint file, whichever `path` is, and the data set it
    records having been trained on (None when it does not say)."""
    path = Path(path)
    if path.is_dir():
        program = load_program(path)
        return program, program.dataset
    model, checkpoint = load_model(path)
    return model, (checkpoint.get("train") or {}).get("dataset")


def load_data(dataset: str, split: str, data_dir=None):
    try:
        return load_dataset(dataset, split, data_dir)
    except DatasetError as error:
        raise InputError(str(error)) from None
