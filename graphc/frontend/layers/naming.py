"""Keras-style automatic names: dense, dense_1, dense_2, ... per class, per process."""

from __future__ import annotations

import re
from collections import defaultdict

_counters: defaultdict[str, int] = defaultdict(int)


def to_snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower().replace("__", "_")


def unique_name(base: str) -> str:
    count = _counters[base]
    _counters[base] += 1
    return base if count == 0 else f"{base}_{count}"


def reset_names() -> None:
    """What `keras.backend.clear_session()` does to names."""
    _counters.clear()
