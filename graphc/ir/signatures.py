"""The type rules the IR checks nodes against, installed by the op catalogue.

The IR names ops but defines none: `graphc.ops` installs a lookup when it is imported, so
`ir` imports nothing above it (the layering test in tests/test_layers.py checks this).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from graphc.ir.types import TensorType


class Signature(Protocol):
    """What the IR needs of an op: how many operands it takes and its shape/dtype rule."""

    name: str
    arity: int | None

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType: ...


_lookup: Callable[[str], Signature] | None = None


def install(lookup: Callable[[str], Signature]) -> None:
    global _lookup
    _lookup = lookup


def signature(op: str) -> Signature:
    if _lookup is None:
        raise RuntimeError(f"no op catalogue is installed to type {op!r}: import graphc.ops first")
    return _lookup(op)
