"""keras.datasets.imdb from local files only, with Keras's index conventions (KERAS_REFERENCE_LAYERS.md 7.2).

Keras's own `imdb.npz` (and `imdb_word_index.json`) are used when they are in $GRAPHC_DATA_DIR or
~/.keras/datasets; their reviews are pickled lists, read by the data-only unpickler. Without them
the same kind of data set is built from the movie-review polarity corpus (Pang & Lee 2004: 1000
positive and 1000 negative reviews, `text/review_polarity.tar.gz` in the data folder), a
stand-in said so by a warning: words ranked by frequency over all 2000 reviews (rank 1 = most
frequent, Tokenizer's filters), the first 500 reviews of each class (by file name) for training and
the rest for testing, label 1 = positive. Nothing is downloaded.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import warnings
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from graphc.frontend.datasets import DATA_DIR_ENV
from graphc.frontend.safe_pickle import load_data_pickle
from graphc.frontend.text import text_to_word_sequence

POLARITY = Path("text") / "review_polarity.tar.gz"
TRAIN_PER_CLASS = 500
Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _folders() -> list[Path]:
    found = [Path(os.environ[DATA_DIR_ENV]).expanduser()] if os.environ.get(DATA_DIR_ENV) else []
    return [*found, Path.home() / ".keras" / "datasets"]


def _find(name: str) -> Path | None:
    return next((folder / name for folder in _folders() if (folder / name).is_file()), None)


def load_imdb(
    path: str = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    **kwargs: Any,
) -> Split:
    """(x_train, y_train), (x_test, y_test): object arrays of id lists and int64 labels, as Keras's."""
    if kwargs.pop("nb_words", None) is not None:
        raise TypeError("imdb.load_data: `nb_words` is Keras 1's name; use `num_words`")
    if kwargs:
        raise TypeError(f"imdb.load_data: unexpected arguments {sorted(kwargs)}")
    found = _find(path)
    (x_train, y_train), (x_test, y_test) = _keras_npz(found) if found else _stand_in()
    rng = np.random.RandomState(seed)
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, y_train = [x_train[i] for i in order], y_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)
    x_test, y_test = [x_test[i] for i in order], y_test[order]
    xs = x_train + x_test
    labels = np.concatenate([y_train, y_test])
    if start_char is not None:
        xs = [[start_char] + [w + index_from for w in x] for x in xs]
    elif index_from:
        xs = [[w + index_from for w in x] for x in xs]
    if maxlen:
        kept = [i for i, x in enumerate(xs) if len(x) < maxlen]
        if not kept:
            raise ValueError(
                f"imdb.load_data: every sequence is at least maxlen={maxlen} long; increase maxlen"
            )
        xs, labels = [xs[i] for i in kept], labels[kept]
        boundary = sum(1 for i in kept if i < len(x_train))
    else:
        boundary = len(x_train)
    if not num_words:
        num_words = max(max(x) for x in xs if x)
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    return (
        (_object_array(xs[:boundary]), labels[:boundary]),
        (_object_array(xs[boundary:]), labels[boundary:]),
    )


def _object_array(sequences: list[list[int]]) -> np.ndarray:
    out = np.empty(len(sequences), dtype=object)
    out[:] = sequences
    return out


def get_imdb_word_index(path: str = "imdb_word_index.json") -> dict[str, int]:
    """{word: rank} (rank 1 = most frequent): Keras's file when present, else the stand-in's ranks."""
    found = _find(path)
    if found is not None:
        index = json.loads(found.read_text())
        if not isinstance(index, dict) or not all(isinstance(v, int) for v in index.values()):
            raise ValueError(f"{found} is not Keras's word index (a JSON object of word: rank)")
        return index
    return dict(_polarity()[1])


def _keras_npz(path: Path) -> Split:
    """Keras's imdb.npz: x_train/x_test are pickled object arrays of lists, read without running code."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for key in ("x_train", "y_train", "x_test", "y_test"):
                with archive.open(f"{key}.npy") as member:
                    data = member.read()
                arrays[key] = _npy(data, f"{path.name}:{key}")
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as error:
        raise ValueError(f"{path} is not Keras's imdb.npz ({error})") from None
    return (
        (list(arrays["x_train"]), np.asarray(arrays["y_train"], np.int64)),
        (list(arrays["x_test"]), np.asarray(arrays["y_test"], np.int64)),
    )


def _npy(data: bytes, what: str) -> np.ndarray:
    stream = io.BytesIO(data)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    reader = readers.get(np.lib.format.read_magic(stream))
    if reader is None:
        raise ValueError(f"{what}: not an .npy array of a known format version")
    shape, _, dtype = reader(stream)
    if dtype.hasobject:
        array = load_data_pickle(data[stream.tell() :], what)
        if not isinstance(array, np.ndarray):
            raise ValueError(f"{what}: expected an array, found {type(array).__name__}")
        return array
    return np.frombuffer(data[stream.tell() :], dtype=dtype).reshape(shape)


def _stand_in() -> Split:
    warnings.warn(
        "imdb.load_data: Keras's imdb.npz is not here; using the 2000-review movie-review polarity "
        "corpus (Pang & Lee 2004) in Keras's format as a stand-in",
        UserWarning,
        stacklevel=3,
    )
    sequences, _, labels, train = _polarity()
    picks = (np.flatnonzero(train), np.flatnonzero(~train))
    return tuple((([sequences[i] for i in part]), labels[part]) for part in picks)  # type: ignore[return-value]


@cache
def _polarity() -> tuple[list[list[int]], tuple[tuple[str, int], ...], np.ndarray, np.ndarray]:
    """(rank sequences, word ranks, labels, is-training flags) of the polarity corpus."""
    found = _find(str(POLARITY))
    if found is None:
        searched = ", ".join(str(f / POLARITY) for f in _folders())
        raise FileNotFoundError(
            f"imdb.load_data: neither Keras's imdb.npz nor the stand-in corpus was found "
            f"(searched {searched}); set {DATA_DIR_ENV} to the folder holding text/"
        )
    texts, labels, train = [], [], []
    with tarfile.open(found, "r:gz") as archive:
        members = sorted(
            (m for m in archive.getmembers() if m.isfile() and m.name.endswith(".txt")), key=lambda m: m.name
        )
        for label, folder in ((0, "/neg/"), (1, "/pos/")):
            chosen = [m for m in members if folder in m.name]
            for k, member in enumerate(chosen):
                handle = archive.extractfile(member)
                assert handle is not None
                texts.append(text_to_word_sequence(handle.read().decode("utf-8", errors="replace")))
                labels.append(label)
                train.append(k < TRAIN_PER_CLASS)
    counts: dict[str, int] = {}
    for words in texts:
        for word in words:
            counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)
    ranks = {word: rank for rank, (word, _) in enumerate(ranked, start=1)}
    sequences = [[ranks[w] for w in words] for words in texts]
    return sequences, tuple(ranks.items()), np.asarray(labels, np.int64), np.asarray(train)
