"""one_hot: a pointwise op comparing its operand with the index along the new last axis."""

from __future__ import annotations

from collections.abc import Sequence

from llvmlite import ir

from graphc.codegen.affine import ONE, ZERO, Sym
from graphc.codegen.llvm_util import F32
from graphc.codegen.lowering.pointwise import ScalarSite
from graphc.codegen.lowering.registry import scalar_lowering
from graphc.ir.graph import Node


def _leading_axes(node: Node, operand: int) -> Sequence[int]:
    """The indices operand fills every axis but the new class axis."""
    return list(range(node.inputs[0].type.rank))


def _class_axis(node: Node) -> list[tuple[Sym, ...]]:
    rank = node.type.rank
    return [tuple(ONE if a == rank - 1 else ZERO for a in range(rank))]


@scalar_lowering("one_hot", access=_leading_axes, index_streams=_class_axis)
def _one_hot(site: ScalarSite, node: Node, args: list[ir.Value]) -> ir.Value:
    b = site.builder
    klass = b.sitofp(site.index(0), F32)
    return b.uitofp(b.fcmp_ordered("==", args[0], klass), F32)
