"""keras.layers.TextVectorization as preprocessing outside the compiled model.

Strings never enter the IR, so the layer runs in numpy where a Keras 3 tutorial calls it: on
texts (`vectorize(texts)`, in `Dataset.map`) before an int-input model. It follows Keras 3's
defaults: standardize "lower_and_strip_punctuation", split on whitespace, a vocabulary built by
`adapt` with "" (padding, id 0) and "[UNK]" (id 1) first and then the tokens by descending
frequency (ties in reverse token order, as Keras's lexsort leaves them), `max_tokens` counting
those two; output_mode "int" (padded or cut at the end to output_sequence_length, else to the
longest text), "multi_hot", "count" or "tf_idf".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

PUNCTUATION = re.compile(r'[!"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~\']')
PADDING, OOV = "", "[UNK]"
OUTPUT_MODES = ("int", "multi_hot", "count", "tf_idf")


class TextVectorization:
    def __init__(self, max_tokens: int | None = None,
                 standardize: str | Callable[[str], str] | None = "lower_and_strip_punctuation",
                 split: str | None = "whitespace", ngrams: Any = None,
                 output_mode: str = "int", output_sequence_length: int | None = None,
                 pad_to_max_tokens: bool = False, vocabulary: Any = None, name: str | None = None,
                 **kwargs: Any) -> None:
        if ngrams is not None:
            raise NotImplementedError("TextVectorization: ngrams are not supported yet")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"TextVectorization: output_mode must be one of {OUTPUT_MODES}, got "
                             f"{output_mode!r}")
        if standardize not in (None, "lower_and_strip_punctuation", "lower", "strip_punctuation") \
                and not callable(standardize):
            raise ValueError(f"TextVectorization: unknown standardize {standardize!r}")
        if split not in (None, "whitespace", "character"):
            raise ValueError(f"TextVectorization: split must be 'whitespace', 'character' or None, got "
                             f"{split!r}")
        if max_tokens is not None and max_tokens < (3 if output_mode == "int" else 2):
            raise ValueError(f"TextVectorization: max_tokens must leave room for a token, got {max_tokens}")
        self.max_tokens, self.standardize, self.split = max_tokens, standardize, split
        self.output_mode, self.output_sequence_length = output_mode, output_sequence_length
        self.pad_to_max_tokens = pad_to_max_tokens
        self.name = name or "text_vectorization"
        self._vocabulary: list[str] = []
        self._index: dict[str, int] = {}
        self._idf: np.ndarray | None = None
        if vocabulary is not None:
            self.set_vocabulary(list(vocabulary))

    # -- text to tokens ---------------------------------------------------------------------
    def _tokens(self, text: Any) -> list[str]:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        if not isinstance(text, str):
            raise TypeError(f"TextVectorization: expected strings, got {type(text).__name__}")
        if callable(self.standardize):
            text = self.standardize(text)
        elif self.standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.lower()
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = PUNCTUATION.sub("", text)
        if self.split == "whitespace":
            return text.split()
        if self.split == "character":
            return list(text)
        return [text]

    # -- vocabulary -------------------------------------------------------------------------
    def adapt(self, data: Iterable[Any], batch_size: int | None = None, steps: int | None = None) -> None:
        """Count the tokens of `data` (texts, or batches of texts as a Dataset yields them)."""
        counts: Counter[str] = Counter()
        documents: Counter[str] = Counter()
        total = 0
        for text in _texts(data):
            tokens = self._tokens(text)
            counts.update(tokens)
            documents.update(set(tokens))
            total += 1
        ranked = sorted(counts, key=lambda token: (counts[token], token), reverse=True)
        reserved = 2 if self.output_mode == "int" else 1
        if self.max_tokens is not None:
            ranked = ranked[:self.max_tokens - reserved]
        self._set(ranked)
        if self.output_mode == "tf_idf":
            idf = [np.log(1 + total / (1 + documents[token])) for token in ranked]
            self._idf = np.array([float(np.mean(idf)) if idf else 0.0, *idf], dtype=np.float32)

    def _set(self, tokens: list[str]) -> None:
        head = [PADDING, OOV] if self.output_mode == "int" else [OOV]
        self._vocabulary = head + [t for t in tokens if t not in head]
        self._index = {token: i for i, token in enumerate(self._vocabulary)}

    def set_vocabulary(self, vocabulary: list[str], idf_weights: Any = None) -> None:
        tokens = [t for t in vocabulary if t not in (PADDING, OOV)]
        self._set(tokens)
        if idf_weights is not None:
            self._idf = np.asarray([0.0, *idf_weights], dtype=np.float32)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        return list(self._vocabulary) if include_special_tokens else [
            t for t in self._vocabulary if t not in (PADDING, OOV)]

    def vocabulary_size(self) -> int:
        return len(self._vocabulary)

    # -- texts to arrays --------------------------------------------------------------------
    def __call__(self, texts: Any) -> np.ndarray:
        if not self._vocabulary:
            raise RuntimeError(f"{self.name}: call adapt() or give a vocabulary before vectorizing")
        single = isinstance(texts, (str, bytes))
        batch = [texts] if single else list(_texts(texts))
        oov = self._index[OOV]
        ids = [[self._index.get(token, oov) for token in self._tokens(text)] for text in batch]
        result = self._ints(ids) if self.output_mode == "int" else self._vectors(ids)
        return result[0] if single else result

    def _ints(self, ids: list[list[int]]) -> np.ndarray:
        length = self.output_sequence_length or max((len(row) for row in ids), default=0)
        out = np.zeros((len(ids), length), dtype=np.int64)
        for row, values in enumerate(ids):
            kept = values[:length]
            out[row, :len(kept)] = kept
        return out

    def _vectors(self, ids: list[list[int]]) -> np.ndarray:
        size = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else len(self._vocabulary)
        out = np.zeros((len(ids), size), dtype=np.float32)
        for row, values in enumerate(ids):
            for value in values:
                out[row, value] += 1.0
        if self.output_mode == "multi_hot":
            return (out > 0).astype(np.float32)
        if self.output_mode == "tf_idf":
            if self._idf is None:
                raise RuntimeError(f"{self.name}: tf_idf needs adapt() (or idf_weights) first")
            out[:, :len(self._idf)] *= self._idf
        return out

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "max_tokens": self.max_tokens,
                "standardize": self.standardize if isinstance(self.standardize, str) else None,
                "split": self.split, "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length,
                "pad_to_max_tokens": self.pad_to_max_tokens, "vocabulary": self.get_vocabulary()}


def _texts(data: Any) -> Iterable[Any]:
    """Texts one by one from a list, an array, or an iterable of batches (a Dataset of strings)."""
    if isinstance(data, (str, bytes)):
        yield data
        return
    for item in data:
        if isinstance(item, (str, bytes)):
            yield item
        elif isinstance(item, np.ndarray) and item.ndim == 0:
            yield item.item()
        else:
            yield from _texts(item)
