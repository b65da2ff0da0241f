"""What a lowering sees while it emits one kernel function."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from llvmlite import ir

from graphc.codegen.affine import Sym
from graphc.codegen.llvm_util import intrinsic, sym_value
from graphc.ir.graph import Node


@dataclass
class KernelContext:
    """The builder positioned inside the kernel, the batch size and each node's base pointer."""

    builder: ir.IRBuilder
    batch: ir.Value
    pointers: Mapping[Node, ir.Value]
    scratch: ir.Value | None = None

    @property
    def module(self) -> ir.Module:
        return self.builder.module

    def ptr(self, node: Node) -> ir.Value:
        return self.pointers[node]

    def sym(self, value: Sym) -> ir.Value:
        """An extent as an i64 at the current insertion point (LLVM hoists and merges repeats)."""
        return sym_value(self.builder, value, self.batch)

    def dim(self, d: int | None) -> ir.Value:
        return self.sym(Sym.dim(d))

    def intrinsic(self, name: str, ret: ir.Type, args: Sequence[ir.Type]) -> ir.Function:
        return intrinsic(self.module, name, ret, args)
