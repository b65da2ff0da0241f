"""mnist and cifar10 load_data from local files only; CIFAR pickles never run code."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from graphc.keras import backend
from graphc.keras.datasets import cifar10, mnist


def test_mnist_without_the_full_set_uses_the_shipped_digits(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.warns(UserWarning, match="5,000 training digits"):
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert (x_train.shape, y_train.shape, x_test.shape, y_test.shape) == (
        (5000, 28, 28),
        (5000,),
        (10000, 28, 28),
        (10000,),
    )
    assert x_train.dtype == y_test.dtype == np.uint8
    assert list(y_test[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_mnist_reads_keras_npz_without_pickles(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHC_DATA_DIR", str(tmp_path))
    arrays = {
        "x_train": np.full((3, 28, 28), 7, np.uint8),
        "y_train": np.arange(3, dtype=np.uint8),
        "x_test": np.zeros((2, 28, 28), np.uint8),
        "y_test": np.ones(2, np.uint8),
    }
    np.savez(tmp_path / "mnist.npz", **arrays)
    (x_train, y_train), (x_test, _) = mnist.load_data()
    assert x_train.shape == (3, 28, 28) and list(y_train) == [0, 1, 2] and x_test.shape == (2, 28, 28)
    np.savez(tmp_path / "mnist.npz", **{**arrays, "x_train": np.array([{"evil": 1}], dtype=object)})
    with pytest.raises(ValueError, match="mnist.npz"):
        mnist.load_data()


def _write_cifar(root: Path, rows: int = 4) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (rows, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, rows)],
            b"batch_label": name.encode(),
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


def test_cifar10_reads_the_keras_cache_layout(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHC_DATA_DIR", str(tmp_path))
    _write_cifar(tmp_path)
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (20, 32, 32, 3) and y_train.shape == (20, 1) and x_test.shape == (4, 32, 32, 3)
    raw = pickle.loads((tmp_path / "cifar-10-batches-py" / "test_batch").read_bytes())
    np.testing.assert_array_equal(x_test, raw[b"data"].reshape(4, 3, 32, 32).transpose(0, 2, 3, 1))
    try:
        backend.set_image_data_format("channels_first")
        assert cifar10.load_data()[0][0].shape == (20, 3, 32, 32)
    finally:
        backend.set_image_data_format("channels_last")


class _Planted:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/graphc-planted-cifar"),))


def test_a_planted_cifar_pickle_is_refused_without_running(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHC_DATA_DIR", str(tmp_path))
    _write_cifar(tmp_path)
    marker = Path("/tmp/graphc-planted-cifar")
    marker.unlink(missing_ok=True)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({b"data": _Planted()}))
    with pytest.raises(ValueError, match="refusing to load"):
        cifar10.load_data()
    assert not marker.exists()


def test_cifar10_absent_names_the_folders_searched(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        cifar10.load_data()
