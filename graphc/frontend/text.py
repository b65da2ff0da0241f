"""keras.preprocessing.text: Tokenizer, text_to_word_sequence, one_hot and hashing_trick, with the
legacy Keras behaviour documented in KERAS_REFERENCE_LAYERS.md 7.4."""

from __future__ import annotations

import json
import math
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
MATRIX_MODES = ("binary", "count", "tfidf", "freq")


def text_to_word_sequence(
    text: str, filters: str = FILTERS, lower: bool = True, split: str = " "
) -> list[str]:
    """Lower-cased (by default), every filter character turned into `split`, split, empties dropped."""
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [word for word in text.split(split) if word]


def hashing_trick(
    text: str,
    n: int,
    hash_function: Callable[[str], int] | str | None = None,
    filters: str = FILTERS,
    lower: bool = True,
    split: str = " ",
) -> list[int]:
    """Each word hashed to 1..n-1 (0 is never produced). Python's `hash` (the default, as in Keras)
    changes between processes unless PYTHONHASHSEED is set; hash_function="md5" does not."""
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        import hashlib

        def hash_function(word: str) -> int:
            return int(hashlib.md5(word.encode()).hexdigest(), 16)

    return [hash_function(word) % (n - 1) + 1 for word in text_to_word_sequence(text, filters, lower, split)]


def one_hot(text: str, n: int, filters: str = FILTERS, lower: bool = True, split: str = " ") -> list[int]:
    """Keras's one_hot: hashing_trick with Python's hash."""
    return hashing_trick(text, n, hash, filters, lower, split)


class Tokenizer:
    """Word index by descending count (ties in first-seen order), ids from 1; an oov_token takes 1.
    num_words limits texts_to_sequences / texts_to_matrix, not word_index."""

    def __init__(
        self,
        num_words: int | None = None,
        filters: str = FILTERS,
        lower: bool = True,
        split: str = " ",
        char_level: bool = False,
        oov_token: str | None = None,
        analyzer: Any = None,
        document_count: int = 0,
        **kwargs: Any,
    ) -> None:
        if kwargs.pop("nb_words", None) is not None and num_words is None:
            raise ValueError("Tokenizer: `nb_words` is Keras 1's name; use `num_words`")
        if kwargs:
            raise TypeError(f"Tokenizer: unexpected arguments {sorted(kwargs)}")
        self.num_words = num_words
        self.filters = filters
        self.lower = lower
        self.split = split
        self.char_level = char_level
        self.oov_token = oov_token
        self.analyzer = analyzer
        self.document_count = document_count
        self.word_counts: OrderedDict[str, int] = OrderedDict()
        self.word_docs: defaultdict[str, int] = defaultdict(int)
        self.index_docs: defaultdict[int, int] = defaultdict(int)
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}

    def _words(self, text: str | Sequence[str]) -> list[str]:
        if self.char_level or not isinstance(text, str):
            return [t.lower() for t in text] if self.lower and isinstance(text, str) else list(text)
        if self.analyzer is not None:
            return list(self.analyzer(text))
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts: Iterable[str | Sequence[str]]) -> None:
        for text in texts:
            self.document_count += 1
            words = self._words(text)
            for word in words:
                self.word_counts[word] = self.word_counts.get(word, 0) + 1
            for word in set(words):
                self.word_docs[word] += 1
        ranked = sorted(
            self.word_counts.items(), key=lambda item: item[1], reverse=True
        )  # stable: first seen
        vocabulary = ([self.oov_token] if self.oov_token is not None else []) + [w for w, _ in ranked]
        self.word_index = {word: i for i, word in enumerate(vocabulary, start=1)}
        self.index_word = {i: word for word, i in self.word_index.items()}
        self.index_docs = defaultdict(int, {self.word_index[w]: c for w, c in self.word_docs.items()})

    def texts_to_sequences(self, texts: Iterable[str | Sequence[str]]) -> list[list[int]]:
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        out = []
        for text in texts:
            sequence = []
            for word in self._words(text):
                index = self.word_index.get(word)
                if index is not None and (not self.num_words or index < self.num_words):
                    sequence.append(index)
                elif oov is not None:
                    sequence.append(oov)
            out.append(sequence)
        return out

    def sequences_to_texts(self, sequences: Iterable[Sequence[int]]) -> list[str]:
        return [" ".join(self.index_word[i] for i in seq if i in self.index_word) for seq in sequences]

    def texts_to_matrix(self, texts: Sequence[str], mode: str = "binary") -> np.ndarray:
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode)

    def sequences_to_matrix(self, sequences: Sequence[Sequence[int]], mode: str = "binary") -> np.ndarray:
        if mode not in MATRIX_MODES:
            raise ValueError(f"Tokenizer: mode must be one of {MATRIX_MODES}, got {mode!r}")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Tokenizer: fit on texts before using tfidf mode")
        width = self.num_words or len(self.word_index) + 1
        matrix = np.zeros((len(sequences), width))
        for row, sequence in enumerate(sequences):
            counts: dict[int, int] = defaultdict(int)
            for index in sequence:
                if index < width:
                    counts[index] += 1
            for index, count in counts.items():
                if mode == "count":
                    matrix[row, index] = count
                elif mode == "freq":
                    matrix[row, index] = count / len(sequence)
                elif mode == "binary":
                    matrix[row, index] = 1
                else:
                    tf = 1 + math.log(count)
                    idf = math.log(1 + self.document_count / (1 + self.index_docs.get(index, 0)))
                    matrix[row, index] = tf * idf
        return matrix

    def get_config(self) -> dict[str, Any]:
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "oov_token": self.oov_token,
            "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts),
            "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs),
            "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self) -> str:
        return json.dumps({"class_name": "Tokenizer", "config": self.get_config()})
