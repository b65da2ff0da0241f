"""Offline data sets as numpy arrays: small ones shipped in ``graphc/data``, Fashion-MNIST from a folder.

Keras downloads its data sets; graphc never fetches anything, so the small tutorial sets travel with the
package (origins, licences and checksums in ``graphc/data/ATTRIBUTION.md``) and the 30 MB Fashion-MNIST
is read from a local folder. Files are parsed as data with numpy only; a malformed file raises
``ValueError`` naming the file.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np

__all__ = [
    "DATA_DIR",
    "DATA_DIR_ENV",
    "FASHION_MNIST_CLASSES",
    "fashion_mnist",
    "load_banknote",
    "load_boston_housing",
    "load_fashion_mnist",
    "load_ionosphere",
    "load_iris",
    "load_mnist_subset",
    "load_pima",
    "load_sonar",
    "read_idx",
]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DATA_DIR_ENV = "GRAPHC_DATA_DIR"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")

_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array stored in an IDX file (LeCun's MNIST format), gzip-compressed or not.

    The header is a zero word, a type code, the rank, then one big-endian uint32 per dimension; the
    payload must hold exactly the announced number of items.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{path}: corrupt gzip data ({error})") from error
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise ValueError(f"{path}: not an IDX file (magic number {raw[:4].hex() or 'missing'})")
    dtype = _IDX_TYPES.get(raw[2])
    if dtype is None:
        raise ValueError(f"{path}: unknown IDX type code 0x{raw[2]:02x}; expected one of "
                         f"{', '.join(f'0x{code:02x}' for code in _IDX_TYPES)}")
    rank = raw[3]
    header = 4 + 4 * rank
    if rank == 0 or len(raw) < header:
        raise ValueError(f"{path}: IDX header announces rank {rank} but the file has {len(raw)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=rank, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: IDX shape {shape} of {dtype.name} needs {expected} data bytes, "
                         f"the file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).astype(dtype.newbyteorder("=")).reshape(shape)


def _read_table(name: str, columns: int, rows: int, dtype: type = np.float32) -> np.ndarray:
    """A packaged comma-separated file as a ``(rows, columns)`` array, checked against its known size."""
    path = DATA_DIR / name
    try:
        table = np.loadtxt(path, delimiter=",", dtype=dtype, ndmin=2)
    except ValueError as error:
        raise ValueError(f"{path}: cannot parse as {columns} comma-separated columns ({error})") from error
    if table.shape != (rows, columns):
        raise ValueError(f"{path}: expected {rows} rows x {columns} columns, found {table.shape}")
    return table


def _split_labels(name: str, columns: int, rows: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Float features and a text label column, encoded as sklearn's LabelEncoder does (sorted names)."""
    table = _read_table(name, columns, rows, dtype=str)
    path = DATA_DIR / name
    try:
        x = table[:, :-1].astype(np.float32)
    except ValueError as error:
        raise ValueError(f"{path}: non-numeric feature value ({error})") from error
    names, y = np.unique(table[:, -1], return_inverse=True)
    return x, y.astype(np.int64), [str(n) for n in names]


def load_pima() -> tuple[np.ndarray, np.ndarray]:
    """Pima Indians diabetes: x float32 (768, 8), y float32 (768,) with 268 positives.

    Zeros in glucose, blood pressure, skinfold, insulin and BMI stand for missing values.
    """
    table = _read_table("pima-indians-diabetes.csv", 9, 768)
    return table[:, :8].copy(), table[:, 8].copy()


def load_iris() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Iris (UCI text): x float32 (150, 4), y int64 in 0..2, class names ``Iris-setosa`` ... (50 each)."""
    return _split_labels("iris.csv", 5, 150)


def load_banknote() -> tuple[np.ndarray, np.ndarray]:
    """Banknote authentication: x float32 (1372, 4) wavelet features, y float32 (1372,) (610 forgeries)."""
    table = _read_table("banknote_authentication.csv", 5, 1372)
    return table[:, :4].copy(), table[:, 4].copy()


def load_sonar() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Sonar, mines vs rocks: x float32 (208, 60), y int64 with class names ``['M', 'R']`` (111/97)."""
    return _split_labels("sonar.csv", 61, 208)


def load_ionosphere() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Ionosphere radar returns: x float32 (351, 34), y int64 with class names ``['b', 'g']`` (126/225)."""
    return _split_labels("ionosphere.csv", 35, 351)


def load_boston_housing(test_split: float = 0.2, seed: int = 113
                        ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Boston housing as ``keras.datasets.boston_housing.load_data``: float64, same shuffle and split.

    Keras shuffles the 506 rows with ``RandomState(seed)`` and keeps the first ``int(506 * (1 -
    test_split))`` for training (404 by default); targets are median values in k$.
    """
    if not 0 <= test_split < 1:
        raise ValueError(f"load_boston_housing: `test_split` must be in [0, 1), got {test_split!r}")
    table = _read_table("boston-housing.csv", 14, 506, dtype=np.float64)
    indices = np.arange(len(table))
    np.random.RandomState(seed).shuffle(indices)
    x, y = table[indices, :13], table[indices, 13]
    split = int(len(x) * (1 - test_split))
    return (x[:split].copy(), y[:split].copy()), (x[split:].copy(), y[split:].copy())


SUBSET_ORDER_SEED = 113


def load_mnist_subset() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """5,000 MNIST training digits (500 per class) and the full 10,000-image test set.

    Arrays are uint8 like ``keras.datasets.mnist``: x (N, 28, 28), y (N,). The file is sorted by
    class; the digits come in a fixed random order instead, so that `validation_split` (which takes
    the last samples, as in Keras) holds every class rather than only nines.
    """
    train = _read_table("mnist_5k_train_subset.csv.gz", 785, 5000, dtype=np.uint8)
    train = train[np.random.RandomState(SUBSET_ORDER_SEED).permutation(len(train))]
    x_train, y_train = train[:, :784].reshape(-1, 28, 28), train[:, 784].copy()
    x_test = checked_idx(DATA_DIR / "t10k-images-idx3-ubyte.gz", (10000, 28, 28))
    y_test = checked_idx(DATA_DIR / "t10k-labels-idx1-ubyte.gz", (10000,))
    return (x_train, y_train), (x_test, y_test)


def checked_idx(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    array = read_idx(path)
    if array.shape != shape or array.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 {shape}, found {array.dtype} {array.shape}")
    return array


_FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                  "t10k-images-idx3-ubyte.gz")


def load_fashion_mnist(data_dir: str | os.PathLike[str] | None = None
                       ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fashion-MNIST as ``keras.datasets.fashion_mnist.load_data``: uint8, 60,000 train / 10,000 test.

    Reads the four official IDX files from ``<data_dir>/fashion-mnist/``; ``data_dir`` defaults to
    ``$GRAPHC_DATA_DIR``, then to Keras' cache ``~/.keras/datasets``. Nothing is downloaded.
    """
    if data_dir is not None:
        base = Path(data_dir)
    elif os.environ.get(DATA_DIR_ENV):
        base = Path(os.environ[DATA_DIR_ENV])
    else:
        base = Path.home() / ".keras" / "datasets"
    folder = base.expanduser() / "fashion-mnist"
    missing = [name for name in _FASHION_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST not found: searched {folder} and did not find {', '.join(missing)}. graphc does "
            f"not download data; put the four IDX .gz files in a folder named 'fashion-mnist' and pass its "
            f"parent as load_data(data_dir=...) or set the environment variable {DATA_DIR_ENV} to it.")
    y_train = checked_idx(folder / _FASHION_FILES[0], (60000,))
    x_train = checked_idx(folder / _FASHION_FILES[1], (60000, 28, 28))
    y_test = checked_idx(folder / _FASHION_FILES[2], (10000,))
    x_test = checked_idx(folder / _FASHION_FILES[3], (10000, 28, 28))
    return (x_train, y_train), (x_test, y_test)


fashion_mnist = SimpleNamespace(load_data=load_fashion_mnist)
"""``keras.datasets.fashion_mnist`` stand-in: ``fashion_mnist.load_data(data_dir=None)``."""
