"""What a GEMM-based lowering needs to run its GEMMs with a fused epilogue (gemm_epilogue.py builds it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llvmlite import ir

from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import I64, element_ptr, i64
from graphc.ir.graph import Node


@dataclass(frozen=True)
class Epilogue:
    """The tile function a GEMM calls, the buffers it reads (one node standing for each), and where
    the GEMM stores C.

    With a `tail` (a 2x2 pool ending the chain, OpDef.epilogue_tail) there is no tile
    function: the head applies `vector` (never None then) to each of its register tiles, combines
    each pool window's values as the pool does (pooling.combine_window) and stores the result in
    c_home, the tail's buffer; the chain's values are never stored."""

    function: ir.Function | None
    buffers: tuple[Node, ...]
    c_home: Node
    # For a chain of per-column arithmetic with one output (bias, BatchNormalization, relu):
    # vector(ctx, sums, first_column, mask) -> the chain's output for 16 columns of a row, from the
    # head's values in a register (gemm_epilogue.vector_chain); the caller stores it in c_home.
    vector: Callable[[KernelContext, ir.Value, ir.Value, ir.Value | None], ir.Value] | None = None
    tail: Node | None = None

    def fields(self, ctx: KernelContext, first_row: ir.Value) -> ir.Value:
        """The block the epilogue reads: the first row of C the GEMM is given, N, the buffers (as seen
        by `ctx`, which may be a task's own function)."""
        builder = ctx.builder
        with builder.goto_entry_block():
            block = builder.alloca(I64, size=2 + len(self.buffers), name="epilogue_fields")
        values = [first_row, ctx.batch] + [builder.ptrtoint(ctx.ptr(node), I64) for node in self.buffers]
        for k, value in enumerate(values):
            builder.store(value, element_ptr(builder, block, i64(k), I64))
        return block
