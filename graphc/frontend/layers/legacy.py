"""Keras 1/2 argument spellings that tutorials still use, mapped to today's names."""

from __future__ import annotations

import warnings
from typing import Any


def rename_legacy_kwargs(layer: str, kwargs: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """Return kwargs with old names replaced, warning once per old name in one line."""
    result = dict(kwargs)
    for old, new in renames.items():
        if old not in result:
            continue
        if new in result:
            raise ValueError(f"{layer}: got both the legacy argument `{old}` and `{new}`")
        warnings.warn(f"{layer}: `{old}` is a Keras 1/2 argument; use `{new}`",
                      DeprecationWarning, stacklevel=4)
        result[new] = result.pop(old)
    return result
