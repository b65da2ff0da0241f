"""HDF5 string-list attributes as Keras writes and reads them (fixed or variable length, chunked)."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

# Keras splits attribute arrays larger than this into name0, name1, ... (an HDF5 object header limit).
HDF5_OBJECT_HEADER_LIMIT = 64512


def _decode(item: Any) -> str:
    if isinstance(item, (bytes, np.bytes_)):
        return bytes(item).decode("utf-8")
    if isinstance(item, str):
        return item
    raise ValueError(f"expected a string, got {type(item).__name__} {item!r}")


def read_string(attrs: h5py.AttributeManager, name: str) -> str | None:
    """A scalar string attribute (vlen ASCII/UTF-8 or fixed-length bytes); None when absent."""
    if name not in attrs:
        return None
    value = attrs[name]
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"attribute {name!r} should be one string, got an array of shape {value.shape}")
        value = value.reshape(-1)[0]
    return _decode(value)


def read_string_list(attrs: h5py.AttributeManager, name: str) -> list[str] | None:
    """A string-list attribute, joining Keras's chunks name0, name1, ...; None when absent.

    An empty float array (what Keras writes for a layer without weights) reads as [].
    """
    if name in attrs:
        parts = [attrs[name]]
    elif f"{name}0" in attrs:
        parts, index = [], 0
        while f"{name}{index}" in attrs:
            parts.append(attrs[f"{name}{index}"])
            index += 1
    else:
        return None
    items: list[str] = []
    for part in parts:
        array = np.asarray(part)
        if array.size == 0:
            continue
        if array.ndim > 1:
            raise ValueError(f"attribute {name!r} should be a list of strings, got shape {array.shape}")
        items.extend(_decode(item) for item in array.reshape(-1))
    return items


def write_string(attrs: h5py.AttributeManager, name: str, value: str) -> None:
    attrs.create(name, value, dtype=_string_dtype([value]))


def write_string_list(attrs: h5py.AttributeManager, name: str, values: list[str]) -> None:
    """Variable-length strings as h5py 3 / tf.keras write them, chunked above the header limit.

    An empty list is written as an empty float64 array, as Keras does for weightless layers.
    """
    if not values:
        attrs[name] = np.zeros((0,), dtype=np.float64)
        return
    encoded = [v.encode("utf-8") for v in values]
    fixed_size = len(encoded) * max(len(e) for e in encoded)  # the size Keras's chunking rule measures
    chunks = 1
    while fixed_size / chunks >= HDF5_OBJECT_HEADER_LIMIT:
        chunks += 1
    dtype = _string_dtype(values)
    if chunks == 1:
        attrs.create(name, np.array(values, dtype=dtype), dtype=dtype)
        return
    for index, part in enumerate(np.array_split(np.array(values, dtype=object), chunks)):
        attrs.create(f"{name}{index}", np.array(list(part), dtype=dtype), dtype=dtype)


def _string_dtype(values: list[str]) -> np.dtype:
    ascii_only = all(v.isascii() for v in values)
    return h5py.string_dtype(encoding="ascii" if ascii_only else "utf-8")
