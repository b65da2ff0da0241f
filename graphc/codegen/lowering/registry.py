"""Lowerings registered by op name.

Four kinds: a SOURCE has storage but no code (inputs, states, constants); a VIEW
reinterprets its operand's storage (reshape); a SCALAR op is a function of scalars
evaluated inside a pointwise loop nest, so any group of them can be emitted as one loop;
a KERNEL op emits its own loop nest for a single node (reductions, matmul).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphc.codegen.affine import Sym

if TYPE_CHECKING:
    from graphc.ir.graph import Node


class LoweringKind(enum.Enum):
    SOURCE = "source"
    VIEW = "view"
    SCALAR = "scalar"
    KERNEL = "kernel"


AccessMap = Callable[["Node", int], Sequence[int]]
IndexStreams = Callable[["Node"], Sequence[tuple[Sym, ...]]]


@dataclass(frozen=True)
class Lowering:
    """How one op becomes code.

    SCALAR: `emit(site, node, args) -> value`; `access(node, i)` maps each axis of operand i
    to an axis of the node (default: numpy broadcasting, right-aligned); `index_streams(node)`
    lists stride vectors over the node's own axes whose offsets the op reads through
    `site.index(k)` (a counter-based random op needs its flat element index).
    KERNEL: `emit(ctx, node)`; `scratch_bytes(node)` asks for a private workspace buffer.
    """

    op: str
    kind: LoweringKind
    emit: Callable[..., Any] | None = None
    access: AccessMap | None = None
    index_streams: IndexStreams | None = None
    scratch_bytes: Callable[[Node], int] | None = None


_REGISTRY: dict[str, Lowering] = {}


def _register(lowering: Lowering) -> Lowering:
    if lowering.op in _REGISTRY:
        raise ValueError(f"lowering for {lowering.op!r} registered twice")
    _REGISTRY[lowering.op] = lowering
    return lowering


def register_source(op: str) -> None:
    _register(Lowering(op, LoweringKind.SOURCE))


def register_view(op: str) -> None:
    _register(Lowering(op, LoweringKind.VIEW))


def scalar_lowering(
    op: str, access: AccessMap | None = None, index_streams: IndexStreams | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        _register(Lowering(op, LoweringKind.SCALAR, fn, access, index_streams))
        return fn

    return wrap


def kernel_lowering(
    op: str, scratch_bytes: Callable[[Node], int] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        _register(Lowering(op, LoweringKind.KERNEL, fn, scratch_bytes=scratch_bytes))
        return fn

    return wrap


def get_lowering(op: str) -> Lowering:
    _ensure_loaded()
    try:
        return _REGISTRY[op]
    except KeyError:
        raise NotImplementedError(f"no LLVM lowering for op {op!r}") from None


def lowered_ops() -> set[str]:
    _ensure_loaded()
    return set(_REGISTRY)


def _ensure_loaded() -> None:
    from graphc.codegen.lowering import catalogue  # noqa: F401  (registers every lowering)
