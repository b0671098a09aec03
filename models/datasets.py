"""Data sets as float features in [0, 1] and integer labels.

`digits` (scikit-learn's 8x8 digits, bundled, the default) uses the split every comparison here
uses: `train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)`, 360 test images.
`mnist` and `fashion` read the IDX files users already have; nothing is downloaded.
"""

import gzip
import struct
from pathlib import Path

import numpy as np

__all__ = ["DatasetError", "DATASETS", "load_dataset", "read_idx", "write_idx"]

DATASETS = ("digits", "mnist", "fashion")
_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DatasetError(ValueError):
    """A data set is missing or malformed."""


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into an array of its declared shape."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DatasetError(f"{path}: corrupt gzip data ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path}: not an IDX file (bad magic {raw[:4].hex() or 'empty'})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise DatasetError(f"{path}: unknown IDX element type 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated header ({len(raw)} bytes, need {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetError(
            f"{path}: {len(raw)} bytes, but shape {shape} of {dtype} needs {expected}"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write `array` as an IDX file (uint8 or int8 elements); gzip when the name ends in .gz."""
    array = np.asarray(array)
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}
    if array.dtype not in codes:
        raise ValueError(f"write_idx supports uint8 and int8, got {array.dtype}")
    data = bytes([0, 0, codes[array.dtype], array.ndim])
    data += struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def _find_idx(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (directory / name).is_file():
            return directory / name
    raise DatasetError(
        f"{directory}: no {stem} or {stem}.gz (give the folder holding the IDX files)"
    )


def _load_idx(directory: str | Path | None, name: str, split: str):
    if directory is None:
        raise DatasetError(f"data set {name!r} needs --data-dir with its IDX files")
    directory = Path(directory)
    images_file, labels_file = (_find_idx(directory, stem) for stem in _IDX_FILES[split])
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim < 2 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetError(
            f"{directory}: {len(images)} images of shape {images.shape[1:]} do not match "
            f"{len(labels)} labels"
        )
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return x, labels.astype(np.int64)


def load_dataset(name: str = "digits", split: str = "test", data_dir=None):
    """Return `(x, y)`: float32 features in [0, 1] `[n, features]` and int64 labels `[n]`."""
    if split not in ("train", "test"):
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        x_train, x_test, y_train, y_test = train_test_split(
            digits.data, digits.target, test_size=0.2, random_state=0, stratify=digits.target
        )
        x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
        return (x / 16.0).astype(np.float32), y.astype(np.int64)
    if name in ("mnist", "fashion"):
        return _load_idx(data_dir, name, split)
    raise DatasetError(f"unknown data set {name!r} (known: {', '.join(DATASETS)})")
