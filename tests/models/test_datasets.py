"""Data sets: the digits split, and the IDX reader on small files written here."""

import numpy as np
import pytest
from spikeloom.models.datasets import DatasetError, load_dataset, read_idx, write_idx


def test_digits_split_matches_the_reference_split():
    x_train, y_train = load_dataset("digits", "train")
    x_test, y_test = load_dataset("digits", "test")
    assert x_test.shape == (360, 64) and x_train.shape == (1437, 64)
    assert x_test.dtype == np.float32 and 0 <= x_test.min() and x_test.max() <= 1
    assert np.bincount(y_test).min() >= 35  # stratified: every class present in proportion


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    array = np.random.default_rng(0).integers(0, 256, size=(5, 4, 3)).astype(np.uint8)
    write_idx(tmp_path / f"a{suffix}", array)
    np.testing.assert_array_equal(read_idx(tmp_path / f"a{suffix}"), array)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_a_folder_of_idx_files(tmp_path, gz):
    rng = np.random.default_rng(1)
    suffix = ".gz" if gz else ""
    images = rng.integers(0, 256, size=(6, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, size=6).astype(np.uint8)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels)
    x, y = load_dataset("mnist", "test", tmp_path)
    assert x.shape == (6, 784) and x.max() <= 1.0
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(x[0], images[0].reshape(-1) / 255.0)


def test_truncated_and_corrupt_idx_files(tmp_path):
    write_idx(tmp_path / "a", np.zeros((4, 2), np.uint8))
    data = (tmp_path / "a").read_bytes()
    (tmp_path / "short").write_bytes(data[:-1])
    with pytest.raises(DatasetError, match="bytes, but shape"):
        read_idx(tmp_path / "short")
    (tmp_path / "magic").write_bytes(b"\x01\x02" + data[2:])
    with pytest.raises(DatasetError, match="bad magic"):
        read_idx(tmp_path / "magic")
    (tmp_path / "header").write_bytes(data[:6])
    with pytest.raises(DatasetError, match="truncated header"):
        read_idx(tmp_path / "header")


def test_missing_files_and_unknown_names(tmp_path):
    with pytest.raises(DatasetError, match="needs --data-dir"):
        load_dataset("mnist", "test")
    with pytest.raises(DatasetError, match="no t10k-images"):
        load_dataset("fashion", "test", tmp_path)
    with pytest.raises(DatasetError, match="unknown data set"):
        load_dataset("cifar", "test")
    images, labels = np.zeros((3, 2, 2), np.uint8), np.zeros(2, np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(DatasetError, match="do not match"):
        load_dataset("mnist", "test", tmp_path)
