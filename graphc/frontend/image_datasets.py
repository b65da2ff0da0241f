"""keras.datasets.mnist and cifar10 from local files only, in Keras's shapes and dtypes.

MNIST: Keras's cached `mnist.npz` (read with allow_pickle=False) or the four official IDX files in
`$GRAPHC_DATA_DIR/mnist/`; without either, the 5,000 training digits and the full test set shipped
with graphc, with a warning saying so, so tutorials run anywhere. CIFAR-10: Keras's cache layout
`cifar-10-batches-py/` (data_batch_1..5, test_batch). Those batches are Python pickles; they are read
by an unpickler that builds only dicts, lists, strings, numbers and numpy arrays, so a planted file
cannot run code. Nothing is ever downloaded.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import numpy as np

from graphc.frontend.datasets import DATA_DIR_ENV, checked_idx, load_mnist_subset
from graphc.frontend.layers.image_format import image_data_format
from graphc.frontend.safe_pickle import load_data_pickle

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_SIZE = 32 * 32 * 3


def _folders() -> list[Path]:
    """Where data may be: $GRAPHC_DATA_DIR, then Keras's cache folder."""
    found = [Path(os.environ[DATA_DIR_ENV]).expanduser()] if os.environ.get(DATA_DIR_ENV) else []
    return [*found, Path.home() / ".keras" / "datasets"]


def load_mnist(path: str = "mnist.npz") -> Split:
    """(x_train, y_train), (x_test, y_test): uint8 (N, 28, 28) and (N,), as keras.datasets.mnist."""
    for folder in _folders():
        for candidate in (folder / path, folder / "mnist" / path):
            if candidate.is_file():
                return _mnist_npz(candidate)
        idx = folder / "mnist"
        if all((idx / name).is_file() for name in MNIST_FILES):
            x_train = checked_idx(idx / MNIST_FILES[0], (60000, 28, 28))
            y_train = checked_idx(idx / MNIST_FILES[1], (60000,))
            return (x_train, y_train), (
                checked_idx(idx / MNIST_FILES[2], (10000, 28, 28)),
                checked_idx(idx / MNIST_FILES[3], (10000,)),
            )
    searched = ", ".join(str(f) for f in _folders())
    warnings.warn(
        f"mnist.load_data: the full MNIST training set is not here (searched {searched} for {path} "
        f"or mnist/{MNIST_FILES[0]}...); using the 5,000 training digits shipped with graphc and "
        "the full 10,000-image test set",
        UserWarning,
        stacklevel=2,
    )
    return load_mnist_subset()


def _mnist_npz(path: Path) -> Split:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{path} is not Keras's mnist.npz ({error})") from None
    for key, array in arrays.items():
        rows = 28 * 28 if key.startswith("x") else 1
        if array.dtype != np.uint8 or array.size != len(array) * rows:
            raise ValueError(
                f"{path}: {key} should be uint8 with {rows} values per sample, got "
                f"{array.dtype} {array.shape}"
            )
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = load_data_pickle(path.read_bytes(), "a CIFAR-10 batch")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} is not a CIFAR-10 batch ({error})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR-10 batch: it holds a {type(batch).__name__}, not a dict")
    data = np.asarray(batch.get(b"data", batch.get("data")))
    labels = np.asarray(batch.get(b"labels", batch.get("labels")))
    if (
        data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != CIFAR_SIZE
        or labels.shape != (len(data),)
    ):
        raise ValueError(
            f"{path}: expected uint8 data (N, {CIFAR_SIZE}) and N labels, got {data.dtype} "
            f"{data.shape} and {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels must be classes 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.uint8).reshape(-1, 1)


def load_cifar10() -> Split:
    """(x_train, y_train), (x_test, y_test): uint8 (N, 32, 32, 3) (channels_first: (N, 3, 32, 32)) and
    labels (N, 1), as keras.datasets.cifar10 with Keras's cache folder already filled."""
    for folder in _folders():
        root = folder / CIFAR_FOLDER
        if all((root / name).is_file() for name in (*CIFAR_BATCHES, "test_batch")):
            parts = [_cifar_batch(root / name) for name in CIFAR_BATCHES]
            x_train, y_train = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
            x_test, y_test = _cifar_batch(root / "test_batch")
            if image_data_format() == "channels_last":
                x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
            return (np.ascontiguousarray(x_train), y_train), (np.ascontiguousarray(x_test), y_test)
    searched = ", ".join(str(f / CIFAR_FOLDER) for f in _folders())
    raise FileNotFoundError(
        f"CIFAR-10 not found: searched {searched} for data_batch_1..5 and test_batch. "
        "graphc does not download data: unpack cifar-10-python.tar.gz into one of them"
    )
