"""Checking and batching the numpy data given to fit, evaluate and predict."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np


def as_float_array(value: Any, what: str) -> np.ndarray:
    """Numeric array-likes become float32 arrays; anything else is refused by name."""
    if type(value) is np.ndarray and value.dtype == np.float32 and value.ndim and value.flags.c_contiguous:
        return value  # the common case, checked cheaply: a per-batch call costs microseconds
    if value is None:
        raise ValueError(f"`{what}` is required")
    array = np.asarray(value)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"`{what}` must be a numeric array, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"`{what}` must be real numbers, got dtype {array.dtype} (the imaginary part "
                        "would be dropped)")
    if array.ndim == 0:
        raise ValueError(f"`{what}` must have a batch axis, got a scalar")
    return np.ascontiguousarray(array, dtype=np.float32)


def check_same_length(x: np.ndarray, y: np.ndarray) -> None:
    if len(x) != len(y):
        raise ValueError(f"Data cardinality is ambiguous: x sizes: {len(x)}, y sizes: {len(y)}. "
                         "Make sure all arrays contain the same number of samples.")


def check_batch_size(batch_size: Any) -> int:
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float) -> tuple[np.ndarray, ...]:
    """Keras's rule: the last floor(n*fraction) samples, taken before any shuffling."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"`validation_split` must be in [0, 1), got {fraction}")
    split_at = int(len(x) * (1.0 - fraction))
    if split_at == 0 or split_at == len(x):
        raise ValueError(f"validation_split={fraction} leaves no training or no validation samples "
                         f"out of {len(x)}")
    return x[:split_at], y[:split_at], x[split_at:], y[split_at:]


def batches(count: int, batch_size: int, order: np.ndarray | None = None) -> Iterator[np.ndarray | slice]:
    """Index sets of consecutive batches; the last one may be smaller."""
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        yield slice(start, stop) if order is None else order[start:stop]


def fit_labels_to(y: np.ndarray, label_shape: tuple[int | None, ...], loss_name: str) -> np.ndarray:
    """Squeeze or expand a trailing axis as Keras does, then require the exact label shape."""
    want = tuple(label_shape[1:])
    have = y.shape[1:]
    if have != want:
        if have + (1,) == want:
            y = y[..., None]
        elif have == want + (1,):
            y = y[..., 0]
        else:
            raise ValueError(
                f"loss {loss_name!r} expects labels of shape {(None, *want)}, got {(None, *have)}"
            )
    return np.ascontiguousarray(y)


def check_not_empty(x: np.ndarray, what: str) -> None:
    """Keras refuses to fit or evaluate on no data; an empty epoch would log nothing at all."""
    if len(x) == 0:
        raise ValueError(f"{what} got 0 samples: `x` has shape {x.shape}; pass at least one sample")


def check_labels(y: np.ndarray, loss_name: str, classes: int | None) -> None:
    """Labels every loss can use: finite, and class indices in [0, classes) for sparse losses.

    A bad label would otherwise train with its loss and gradient silently set to 0 (an
    out-of-range index selects no class) or poison every weight with NaN. The common case costs
    one pass: a set lookup for a batch of class indices, one sum for other labels.
    """
    if classes is None:
        if math.isfinite(float(y.sum(dtype=np.float64))):
            return
        bad = ~np.isfinite(y)
        if bad.any():
            _raise_at(y, bad, f"{loss_name}: labels must be finite numbers")
        return
    if y.size <= _SET_CHECK_LIMIT:
        if _class_values(classes).issuperset(y.ravel().tolist()):
            return
    elif y.min(initial=0.0) >= 0 and y.max(initial=0.0) < classes and (np.trunc(y) == y).all():
        return
    bad = ~((y >= 0) & (y < classes) & (np.trunc(y) == y))
    _raise_at(y, bad, f"{loss_name}: labels must be integer class indices in the valid range of "
                      f"[0, {classes})")


_SET_CHECK_LIMIT = 512  # labels per batch checked against the set of class values, beyond that with numpy


@functools.lru_cache(maxsize=8)
def _class_values(classes: int) -> frozenset[float]:
    return frozenset(float(i) for i in range(classes))


def _raise_at(y: np.ndarray, bad: np.ndarray, rule: str) -> None:
    position = tuple(int(i) for i in np.argwhere(bad)[0])
    value = y[position]
    where = position[0] if len(position) == 1 else position
    raise ValueError(f"{rule}; received a label value of {value:g} at position {where} "
                     f"({int(bad.sum())} bad label(s) in all)")
