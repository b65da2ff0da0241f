"""matmul: a call to the shared, multi-threaded GEMM for its transpose case.

C (M x N) = op(A) @ op(B), optionally followed by an epilogue (a fused elementwise chain,
gemm_epilogue.py) applied to each finished tile while it is still in cache. The GEMM itself
(gemm_kernel.py) takes its shapes at run time, so it is not part of the program's module:
it is compiled once per target into a separate object (codegen/support.py) that every
library links, and programs only declare it. Compile time stays flat in the number of
layers and a model's own LLVM module stays small.
"""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import I64, PTR, VOID, element_ptr, i64, intrinsic
from graphc.codegen.lowering.epilogue_call import Epilogue
from graphc.codegen.lowering.parallel_loops import Cut
from graphc.codegen.lowering.registry import kernel_lowering
from graphc.ir.graph import Node
from graphc.ops.contraction import BATCH_MATMUL, MATMUL

GEMM_CASES = ((False, False), (False, True), (True, False), (True, True))
GEMM_TYPE = ir.FunctionType(VOID, [I64, I64, I64, PTR, PTR, PTR, PTR, PTR])  # M, N, K, A, B, C, epilogue, ctx


def gemm_name(ta: bool, tb: bool) -> str:
    return f"graphc_gemm_{'t' if ta else 'n'}{'t' if tb else 'n'}"


def declare_gemm(module: ir.Module, ta: bool, tb: bool) -> ir.Function:
    return intrinsic(module, gemm_name(ta, tb), GEMM_TYPE.return_type, GEMM_TYPE.args)


def gemm_case(node: Node) -> tuple[bool, bool]:
    """The shared GEMM a matmul calls: one per transpose case, built once per target (support.py)."""
    return (node.attrs["transpose_a"], node.attrs["transpose_b"])


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
    fn = declare_gemm(ctx.module, node.attrs["transpose_a"], node.attrs["transpose_b"])
    null = ir.Constant(PTR, None)
    pointers = [ctx.ptr(a_node), ctx.ptr(b_node), out, epilogue or null, epilogue_ctx or null]
    ctx.builder.call(fn, gemm_extents(ctx, node) + pointers)


def _matmul_with_epilogue(ctx: KernelContext, node: Node, epilogue: Epilogue) -> None:
    call_gemm(ctx, node, ctx.ptr(epilogue.c_home), epilogue.function, epilogue.fields(ctx, i64(0)))


@kernel_lowering(MATMUL, shared=gemm_case, epilogue=_matmul_with_epilogue)
def _matmul(ctx: KernelContext, node: Node) -> None:
    call_gemm(ctx, node, ctx.ptr(node))


@kernel_lowering(BATCH_MATMUL, shared=gemm_case)
def _batch_matmul(ctx: KernelContext, node: Node) -> None:
    """The shared GEMM once per index of the leading axis, on that index's matrices; each call
    spreads its own tiles over the worker pool."""
    a_node, b_node = node.inputs
    b = ctx.builder
    fn = declare_gemm(ctx.module, node.attrs["transpose_a"], node.attrs["transpose_b"])
    a_rows, a_cols = a_node.shape[1:]
    m, n = node.shape[1:]
    k = a_rows if node.attrs["transpose_a"] else a_cols
    null = ir.Constant(PTR, None)
    with Cut(i64(0), ctx.dim(node.shape[0])).loop(b, name="matrix") as i:
        pointers = [element_ptr(b, ctx.ptr(x), b.mul(i, i64(x.shape[1] * x.shape[2])))
                    for x in (a_node, b_node, node)]
        b.call(fn, [i64(m), i64(n), i64(k), *pointers, null, null])
