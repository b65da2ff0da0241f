"""matmul: a call to the module's shared, multi-threaded GEMM for its transpose case.

C (M x N) = op(A) @ op(B), optionally followed by an epilogue (a fused elementwise chain,
gemm_epilogue.py) applied to each finished tile while it is still in cache. The GEMM itself
(gemm_kernel.py) is emitted once per transpose case per module, out of line, so compile
time stays flat in the number of layers.
"""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import PTR
from graphc.codegen.lowering.gemm_kernel import shared_gemm
from graphc.codegen.lowering.registry import kernel_lowering
from graphc.ir.graph import Node


def gemm_extents(ctx: KernelContext, node: Node) -> list[ir.Value]:
    """M, N and K as i64 values."""
    a_node = node.inputs[0]
    k = a_node.shape[0] if node.attrs["transpose_a"] else a_node.shape[1]
    return [ctx.dim(node.shape[0]), ctx.dim(node.shape[1]), ctx.dim(k)]


def call_gemm(
    ctx: KernelContext, node: Node, out: ir.Value, epilogue: ir.Value | None = None,
    epilogue_ctx: ir.Value | None = None,
) -> None:
    """out = op(A) @ op(B); `epilogue(epilogue_ctx, row0, rows, col0, cols)` runs on each finished tile."""
    a_node, b_node = node.inputs
    fn = shared_gemm(ctx.module, node.attrs["transpose_a"], node.attrs["transpose_b"])
    null = ir.Constant(PTR, None)
    pointers = [ctx.ptr(a_node), ctx.ptr(b_node), out, epilogue or null, epilogue_ctx or null]
    ctx.builder.call(fn, gemm_extents(ctx, node) + pointers)


@kernel_lowering("matmul")
def _matmul(ctx: KernelContext, node: Node) -> None:
    call_gemm(ctx, node, ctx.ptr(node))
