"""Lowerings of the ops whose code is not a scalar formula, registered against their OpDef.

An op says how it becomes code (OpDef.fusion): STORAGE and VIEW ops need none, a POINTWISE op
with a `scalar` rule is emitted by the pointwise loop nest directly. The rest register here:
a KERNEL op's `emit(ctx, node)` writes its own loop nest (reductions, matmul) and may ask for a
private workspace (`scratch_bytes(node)`) or a kernel shared by every library (`shared(node)`,
the GEMM's transpose case), and an op that takes a GEMM epilogue says how to run its GEMMs with one
(`epilogue`); a POINTWISE op without a scalar rule registers
`emit(site, node, args)` (random_uniform's hash, which needs the machine's integer types).
Importing this package's modules registers them all; no list names them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphc.ops.registry import Fusion, OpDef, all_ops

if TYPE_CHECKING:
    from graphc.ir.graph import Graph, Node


@dataclass(frozen=True)
class Lowering:
    op: OpDef
    emit: Callable[..., Any]
    scratch_bytes: Callable[[Node], Any] | None = None
    shared: Callable[[Node], Hashable] | None = None
    epilogue: Callable[..., Any] | None = None
    regions: Callable[[Node], list[Graph]] | None = None


_REGISTRY: dict[str, Lowering] = {}


def _register(lowering: Lowering) -> None:
    name = lowering.op.name
    if name in _REGISTRY:
        raise ValueError(f"lowering for {name!r} registered twice")
    _REGISTRY[name] = lowering


def pointwise_lowering(op: OpDef) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    if op.fusion is not Fusion.POINTWISE or op.scalar is not None:
        raise ValueError(f"{op.name!r} is not a pointwise op without a scalar rule")

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        _register(Lowering(op, fn))
        return fn

    return wrap


def kernel_lowering(
    op: OpDef, scratch_bytes: Callable[[Node], Any] | None = None,
    shared: Callable[[Node], Hashable] | None = None, epilogue: Callable[..., Any] | None = None,
    regions: Callable[[Node], list[Graph]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`epilogue(ctx, node, Epilogue)`: the node's GEMMs with the fused consumer chain's tile function
    (gemm_epilogue.py), required of ops whose OpDef says `epilogue`. `scratch_bytes(node)`: an int, or
    a buffers.Size for scratch that grows with N. `regions(node)`: the graphs (as compiled) whose code
    the node's code calls, so the library links what they need too (their GEMM cases)."""
    if op.fusion is not Fusion.KERNEL:
        raise ValueError(f"{op.name!r} is not a KERNEL op")
    if op.epilogue and epilogue is None:
        raise ValueError(f"{op.name!r} fuses an epilogue: its lowering must say how (epilogue=...)")

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        _register(Lowering(op, fn, scratch_bytes, shared, epilogue, regions))
        return fn

    return wrap


def get_lowering(op: str) -> Lowering:
    load_lowerings()
    try:
        return _REGISTRY[op]
    except KeyError:
        raise NotImplementedError(f"no LLVM lowering for op {op!r}") from None


def find_lowering(op: str) -> Lowering | None:
    load_lowerings()
    return _REGISTRY.get(op)


def needs_lowering(opdef: OpDef) -> bool:
    return opdef.fusion is Fusion.KERNEL or (opdef.fusion is Fusion.POINTWISE and opdef.scalar is None)


def unlowered_ops() -> set[str]:
    """Ops that need a registered lowering and have none (the catalogue test expects none)."""
    load_lowerings()
    return {name for name, opdef in all_ops().items() if needs_lowering(opdef) and name not in _REGISTRY}


_loaded = False


def load_lowerings() -> None:
    """Import every module of this package (each registers its lowerings), once."""
    global _loaded
    if _loaded:
        return
    package = importlib.import_module("graphc.codegen.lowering")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"graphc.codegen.lowering.{info.name}")
    _loaded = True
