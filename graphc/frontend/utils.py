"""``keras.utils`` array helpers, with Keras 3 semantics (``numerical_utils.py``, ``sequence_utils.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["normalize", "pad_sequences", "to_categorical"]


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """One-hot rows of ``num_classes`` (default ``max(x) + 1``), float64 as in K3.

    A trailing dimension of size 1 is dropped first, so labels of shape ``(N, 1)`` give ``(N, C)``.
    """
    labels = np.asarray(x)
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"to_categorical: `x` must hold integer class labels, got dtype {labels.dtype}")
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise ValueError("to_categorical: `x` contains NaN or infinite values")
    labels = labels.astype(np.int64)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    labels = labels.reshape(-1)
    if num_classes is None or num_classes == 0:
        if labels.size == 0:
            raise ValueError("to_categorical: cannot infer `num_classes` from an empty `x`; pass it")
        num_classes = int(labels.max()) + 1
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"to_categorical: `num_classes` must be a positive integer, got {num_classes!r}")
    num_classes = int(num_classes)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise ValueError(f"to_categorical: labels must lie in [0, {num_classes - 1}] for "
                         f"num_classes={num_classes}, got {bad}")
    categorical = np.zeros((labels.size, num_classes))
    categorical[np.arange(labels.size), labels] = 1
    return categorical.reshape(shape + (num_classes,))


def normalize(x: Any, axis: int = -1, order: int | float = 2) -> np.ndarray:
    """``x`` divided by its ``order``-norm along ``axis``; zero vectors are left unchanged."""
    array = np.asarray(x)
    is_int = isinstance(axis, (int, np.integer)) and not isinstance(axis, bool)
    if not is_int or not -array.ndim <= axis < array.ndim:
        raise ValueError(f"normalize: `axis` must be an integer axis of an array of rank {array.ndim}, "
                         f"got {axis!r}")
    norm = np.atleast_1d(np.linalg.norm(array, order, axis))
    norm[norm == 0] = 1
    return array / np.expand_dims(norm, axis)


def pad_sequences(sequences: Sequence[Any], maxlen: int | None = None, dtype: Any = "int32",
                  padding: str = "pre", truncating: str = "pre", value: Any = 0.0) -> np.ndarray:
    """A ``(len(sequences), maxlen)`` array: short sequences padded, long ones cut, at the chosen end."""
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    lengths, sample_shape = [], None
    for sequence in sequences:
        try:
            lengths.append(len(sequence))
        except TypeError as error:
            raise ValueError(f"`sequences` must be a list of iterables. "
                             f"Found non-iterable: {sequence}") from error
        if sample_shape is None and len(sequence):
            sample_shape = np.asarray(sequence).shape[1:]
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    elif isinstance(maxlen, bool) or int(maxlen) != maxlen or maxlen < 0:
        raise ValueError(f"pad_sequences: `maxlen` must be a non-negative integer or None, got {maxlen!r}")
    maxlen = int(maxlen)
    is_text = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_text:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
                         "You should set `dtype=object` for variable length strings.")

    result = np.full((len(sequences), maxlen, *sample_shape), value, dtype=dtype)
    if maxlen == 0:
        return result
    for index, sequence in enumerate(sequences):
        if not len(sequence):
            continue
        kept = np.asarray(sequence[-maxlen:] if truncating == "pre" else sequence[:maxlen], dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {kept.shape[1:]} of sequence at position {index} is different "
                             f"from expected shape {sample_shape}")
        if padding == "post":
            result[index, :len(kept)] = kept
        else:
            result[index, -len(kept):] = kept
    return result
