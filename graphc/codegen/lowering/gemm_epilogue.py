"""A matmul fused with its elementwise consumers (bias add, activation): the GEMM epilogue.

The fusion pass marks a matmul and its consumer chain with one `node.meta["epilogue_group"]`
key (kernels.py makes them one kernel). The GEMM stores each finished tile of C, then calls
an epilogue function on that tile while it is still in L1: a pointwise loop (the same
expression evaluation as pointwise.py) over the tile's rows and columns that reads C and the
chain's other operands and writes the chain's outputs. The chain therefore costs no extra
pass over memory. C itself is stored in the matmul's own buffer when something else reads
it, else in the chain output that the epilogue then overwrites element by element (every
load of an element precedes its stores).
"""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen.context import KernelContext, load_fields, noalias_function, store_fields
from graphc.codegen.llvm_util import counted_loop, i64
from graphc.codegen.lowering.gemm import call_gemm
from graphc.codegen.lowering.gemm_kernel import EPILOGUE_TYPE
from graphc.codegen.lowering.pointwise import PointwisePlan, emit_body, is_immediate
from graphc.ir.affine import Sym
from graphc.ir.graph import Node
from graphc.passes.kernels import Kernel


def emit_gemm_epilogue(ctx: KernelContext, kernel: Kernel, matmul: Node) -> None:
    chain = tuple(n for n in kernel.nodes if n is not matmul)
    outputs = tuple(n for n in kernel.outputs if n is not matmul)
    plan = PointwisePlan(Kernel(chain, outputs))
    c_home = ctx.ptr(matmul) if matmul in kernel.outputs else ctx.ptr(outputs[0])
    pointers = {matmul: c_home}
    for node in Kernel(chain, outputs).inputs:
        if node is not matmul and not is_immediate(node):
            pointers[node] = ctx.ptr(node)
    for node in outputs:
        pointers[node] = ctx.ptr(node)
    tile, tile_ctx, (row0, rows, col0, cols), buffers = noalias_function(
        KernelContext(ctx.builder, ctx.batch, pointers), f"{ctx.builder.function.name}_epilogue_tile", 4)
    _tile_loops(tile_ctx, plan, row0, rows, col0, cols)
    fields = store_fields(ctx.builder, ctx.batch, buffers, "epilogue_ctx")
    epilogue = _epilogue_function(tile, len(buffers))
    call_gemm(ctx, matmul, c_home, epilogue, fields)


def _epilogue_function(tile: ir.Function, count: int) -> ir.Function:
    """`void epilogue(ptr fields, i64 row0, i64 rows, i64 col0, i64 cols)` over one tile of C.

    It reads N and the buffers from `fields` and calls the tile loops, which take each distinct
    buffer as a `noalias` argument and are inlined: without that LLVM checks the buffers for
    overlap at run time on every tile, which made the fused chain slower than a separate pass.
    """
    fn = ir.Function(tile.module, EPILOGUE_TYPE, tile.name.removesuffix("_tile"))
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fields, row0, rows, col0, cols = fn.args
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    batch, pointers = load_fields(bld, fields, count)
    bld.call(tile, [batch, row0, rows, col0, cols, *pointers])
    bld.ret_void()
    return fn


def _tile_loops(
    ctx: KernelContext, plan: PointwisePlan, row0: ir.Value, rows: ir.Value, col0: ir.Value, cols: ir.Value
) -> None:
    bld = ctx.builder
    row_strides = [vector[0] for vector in plan.streams]
    col_strides = [vector[1] for vector in plan.streams]
    with counted_loop(bld, bld.add(row0, rows), start=row0, name="er") as row:
        row_offsets = [_scaled(ctx, row, s) for s in row_strides]
        with counted_loop(bld, bld.add(col0, cols), start=col0, name="ec") as col:
            offsets = [bld.add(r, _scaled(ctx, col, s))
                       for r, s in zip(row_offsets, col_strides, strict=True)]
            emit_body(ctx, plan, offsets)
    bld.ret_void()


def _scaled(ctx: KernelContext, index: ir.Value, stride: Sym) -> ir.Value:
    return i64(0) if stride.is_zero else ctx.scaled(index, stride)
