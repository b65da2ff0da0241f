"""Tokenizer and friends (KERAS_REFERENCE_LAYERS.md 7.4) and imdb.load_data's conventions (7.2), on
the polarity stand-in and on a Keras-layout imdb.npz written here."""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from graphc.keras.datasets import imdb
from graphc.keras.preprocessing.text import Tokenizer, one_hot, text_to_word_sequence

TEXTS = ["The cat sat on the mat.", "The dog sat!", "cat cat dog"]
DATA = Path(os.environ.get("GRAPHC_DATA_DIR", "")) / "text" / "review_polarity.tar.gz"
needs_corpus = pytest.mark.skipif(
    not DATA.is_file(), reason="set GRAPHC_DATA_DIR to the folder holding text/"
)


def test_tokenizer_follows_keras() -> None:
    tokenizer = Tokenizer(oov_token="<OOV>")
    tokenizer.fit_on_texts(TEXTS)
    assert tokenizer.word_index == {"<OOV>": 1, "the": 2, "cat": 3, "sat": 4, "dog": 5, "on": 6, "mat": 7}
    limited = Tokenizer(num_words=4)
    limited.fit_on_texts(TEXTS)
    assert len(limited.word_index) == 6  # num_words does not limit the index
    assert limited.texts_to_sequences(["the mat sat cat"]) == [[1, 3, 2]]
    assert text_to_word_sequence("It's a DOG, isn't it?") == ["it's", "a", "dog", "isn't", "it"]
    matrix = limited.texts_to_matrix(["the the cat"], mode="tfidf")
    tf, idf = 1 + math.log(2), math.log(1 + 3 / (1 + 2))
    assert matrix.shape == (1, 4) and matrix[0, 1] == pytest.approx(tf * idf)
    assert limited.texts_to_matrix(["the the cat"], mode="count")[0].tolist() == [0, 2, 1, 0]
    assert all(1 <= i < 10 for i in one_hot("a b c d e f", 10))


@needs_corpus
def test_imdb_stand_in_uses_keras_conventions(monkeypatch) -> None:
    monkeypatch.setenv("HOME", "/nonexistent-home")
    with pytest.warns(UserWarning, match="stand-in"):
        (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=1000)
    assert x_train.dtype == object and y_train.dtype == np.int64 and len(x_train) == len(x_test) == 1000
    assert y_train.sum() == 500 and set(np.unique(y_test)) == {0, 1}
    assert all(x[0] == 1 for x in x_train) and max(max(x) for x in x_train) == 999
    with pytest.warns(UserWarning):
        (raw, _), _ = imdb.load_data()
    index = {rank + 3: word for word, rank in imdb.get_word_index().items()}
    assert index[4] == "the" and all(w in index or w == 1 for w in raw[0][:50])
    with pytest.warns(UserWarning):
        (short, _), _ = imdb.load_data(maxlen=300)
    assert all(len(x) < 300 for x in short) and 0 < len(short) < 1000


def _write_npz(folder: Path, x_train: list, planted: object | None = None) -> None:
    def objects(rows: list) -> np.ndarray:
        out = np.empty(len(rows), dtype=object)
        out[:] = rows
        return out

    np.savez(
        folder / "imdb.npz",
        x_train=objects(x_train if planted is None else [planted]),
        y_train=np.array([1, 0][: len(x_train)]),
        x_test=objects([[5, 6]]),
        y_test=np.array([1]),
    )


class _Planted:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/graphc-planted-imdb"),))


def test_keras_imdb_npz_is_read_without_running_code(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHC_DATA_DIR", str(tmp_path))
    _write_npz(tmp_path, [[1, 2, 3], [4]])
    (x_train, y_train), (x_test, _) = imdb.load_data(seed=0)
    # start char, ids + 3, and Keras's quirk: without num_words the largest id (9) becomes oov (2)
    assert sorted(map(len, x_train)) == [2, 4] and list(x_test[0]) == [1, 8, 2]
    marker = Path("/tmp/graphc-planted-imdb")
    marker.unlink(missing_ok=True)
    _write_npz(tmp_path, [[1]], planted=_Planted())
    with pytest.raises((ValueError, pickle.UnpicklingError), match="refusing|imdb.npz"):
        imdb.load_data()
    assert not marker.exists()
