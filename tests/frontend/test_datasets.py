"""Data loaders checked against the published counts and statistics (shared datasets README)."""

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from graphc.frontend import datasets
from graphc.frontend.datasets import (
    DATA_DIR,
    fashion_mnist,
    load_banknote,
    load_boston_housing,
    load_ionosphere,
    load_iris,
    load_mnist_subset,
    load_pima,
    load_sonar,
    read_idx,
)

SHARED = Path("/work/shared/datasets")


def test_packaged_files_match_the_attribution_checksums():
    text = (DATA_DIR / "ATTRIBUTION.md").read_text()
    files = sorted(p.name for p in DATA_DIR.iterdir()
                   if p.name != "ATTRIBUTION.md" and p.is_file() and p.suffix != ".py")  # graphc.data code
    assert len(files) == 9
    for name in files:
        digest = hashlib.sha256((DATA_DIR / name).read_bytes()).hexdigest()
        assert f"`{digest}`" in text, name


def test_pima():
    x, y = load_pima()
    assert x.shape == (768, 8) and y.shape == (768,) and x.dtype == y.dtype == np.float32
    assert y.sum() == 268 and set(np.unique(y)) == {0.0, 1.0}
    assert x[:, 1].astype(np.float64).mean() == pytest.approx(120.8945, abs=1e-4)


def test_iris():
    x, y, names = load_iris()
    assert x.shape == (150, 4) and x.dtype == np.float32
    assert names == ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]
    assert np.bincount(y).tolist() == [50, 50, 50]
    assert x[:, 1].astype(np.float64).mean() == pytest.approx(3.054, abs=1e-3)  # the UCI erratum value


def test_binary_tabular_sets():
    x, y = load_banknote()
    assert x.shape == (1372, 4) and np.bincount(y.astype(int)).tolist() == [762, 610]
    x, y, names = load_sonar()
    assert x.shape == (208, 60) and names == ["M", "R"] and np.bincount(y).tolist() == [111, 97]
    assert x.min() >= 0 and x.max() <= 1
    x, y, names = load_ionosphere()
    assert x.shape == (351, 34) and names == ["b", "g"] and np.bincount(y).tolist() == [126, 225]


def test_boston_housing_matches_keras_split():
    (x_train, y_train), (x_test, y_test) = load_boston_housing()
    assert x_train.shape == (404, 13) and x_test.shape == (102, 13) and x_train.dtype == np.float64
    # keras.datasets.boston_housing.load_data() (seed 113): the first training targets and sample as
    # printed in "Deep Learning with Python", section 3.6.
    np.testing.assert_allclose(y_train[:10], [15.2, 42.3, 50.0, 21.1, 17.7, 18.5, 11.3, 15.6, 15.6, 14.4])
    np.testing.assert_allclose(x_train[0], [1.23247, 0.0, 8.14, 0.0, 0.538, 6.142, 91.7, 3.9769, 4.0, 307.0,
                                            21.0, 396.9, 18.72])
    assert np.concatenate([y_train, y_test]).mean() == pytest.approx(22.5328, abs=1e-4)
    (x_small, _), (x_big, _) = load_boston_housing(test_split=0.1)
    assert len(x_small) == 455 and len(x_big) == 51
    with pytest.raises(ValueError, match="test_split"):
        load_boston_housing(test_split=1.0)


def test_mnist_subset():
    (x_train, y_train), (x_test, y_test) = load_mnist_subset()
    assert x_train.shape == (5000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == y_train.dtype == x_test.dtype == y_test.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [500] * 10
    assert np.bincount(y_train[-500:], minlength=10).min() > 20, "a validation split holds every class"
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert x_test.mean() / 255 == pytest.approx(0.1325146, abs=1e-7)
    assert x_train.mean() / 255 == pytest.approx(0.1313, abs=1e-4)


@pytest.mark.skipif(not (SHARED / "fashion-mnist").is_dir(), reason="shared Fashion-MNIST folder absent")
def test_fashion_mnist_from_the_environment(monkeypatch):
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(SHARED))
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28) and x_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    assert x_test.mean() / 255 == pytest.approx(0.2868493, abs=1e-7)


def test_fashion_mnist_missing_folder_message(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    with pytest.raises(FileNotFoundError) as error:
        fashion_mnist.load_data(data_dir=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "fashion-mnist") in message and datasets.DATA_DIR_ENV in message
    assert "train-images-idx3-ubyte.gz" in message
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "elsewhere" / "fashion-mnist"))):
        fashion_mnist.load_data()


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize(("dtype", "code"), [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B),
                                             (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)])
def test_read_idx_round_trip(tmp_path, dtype, code):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    path = tmp_path / "a.idx"
    path.write_bytes(idx_bytes(array, code))
    result = read_idx(path)
    assert result.dtype == np.dtype(dtype) and result.dtype.isnative
    np.testing.assert_array_equal(result, array)
    result[0, 0, 0] = 1  # callers may normalise in place
    gz = tmp_path / "a.idx.gz"
    gz.write_bytes(gzip.compress(idx_bytes(array, code)))
    np.testing.assert_array_equal(read_idx(gz), array)


@pytest.mark.parametrize(("payload", "message"), [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "not an IDX file"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x01", "announces rank 3"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x04\x01\x02", r"needs 4 data bytes, the file has 2"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", r"needs 1 data bytes, the file has 2"),
    (b"", "not an IDX file"),
])
def test_read_idx_rejects_corrupt_files(tmp_path, payload, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=message):
        read_idx(path)


def test_read_idx_rejects_truncated_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.zeros((10, 10), np.uint8), 0x08))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[:-12])
    with pytest.raises(ValueError, match="corrupt gzip data"):
        read_idx(path)
