"""A GEMM-based kernel (matmul, conv2d) fused with its elementwise consumers (bias add, activation,
BatchNormalization at inference): the GEMM epilogue.

The fusion pass marks the head and its consumer chain with one `node.meta["epilogue_group"]` key
(kernels.py makes them one kernel). The GEMM stores each finished tile of C, then calls an
epilogue function on that tile while it is still in L1: a pointwise loop (the same expression
evaluation as pointwise.py) over the tile's rows and columns that reads C and the chain's other
operands and writes the chain's outputs. The chain therefore costs no extra pass over memory. C
itself is stored in the head's own buffer when something else reads it, else in the chain output
that the epilogue then overwrites element by element (every load of an element precedes its
stores). A head of rank > 2 (a convolution's (N, H, W, F)) is a matrix of N*H*W rows: the fusion
pass only admits operands whose rows coalesce, so one row stride per operand addresses them. The
head's lowering runs its GEMMs (`Lowering.epilogue`): a convolution calls one per chunk of rows,
each with an Epilogue.fields block holding the chunk's first row.
"""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen.context import KernelContext, noalias_function
from graphc.codegen.llvm_util import I64, PTR, counted_loop, element_ptr, i64
from graphc.codegen.lowering.epilogue_call import Epilogue
from graphc.codegen.lowering.gemm_kernel import EPILOGUE_TYPE
from graphc.codegen.lowering.pointwise import PointwisePlan, emit_body, is_immediate
from graphc.codegen.lowering.registry import get_lowering
from graphc.ir.affine import Sym
from graphc.ir.graph import Node
from graphc.passes.kernels import Kernel


def emit_gemm_epilogue(ctx: KernelContext, kernel: Kernel, head: Node) -> None:
    chain = tuple(n for n in kernel.nodes if n is not head)
    outputs = tuple(n for n in kernel.outputs if n is not head)
    plan = PointwisePlan(Kernel(chain, outputs))
    c_home = head if head in kernel.outputs else outputs[0]
    pointers = {head: ctx.ptr(c_home)}
    for node in Kernel(chain, outputs).inputs:
        if node is not head and not is_immediate(node):
            pointers[node] = ctx.ptr(node)
    for node in outputs:
        pointers[node] = ctx.ptr(node)
    tile, tile_ctx, (row0, rows, col0, cols), values = noalias_function(
        KernelContext(ctx.builder, ctx.batch, pointers), f"{ctx.builder.function.name}_epilogue_tile", 4)
    _tile_loops(tile_ctx, plan, row0, rows, col0, cols)
    standing = {value: node for node, value in reversed(list(pointers.items()))}
    buffers = tuple(c_home if standing[v] is head else standing[v] for v in values)
    epilogue = Epilogue(_epilogue_function(tile, len(values)), buffers, c_home)
    get_lowering(head.op).epilogue(ctx, head, epilogue)


def _epilogue_function(tile: ir.Function, count: int) -> ir.Function:
    """`void epilogue(ptr fields, i64 row0, i64 rows, i64 col0, i64 cols)` over one tile of C.

    It reads the first row, N and the buffers from `fields` and calls the tile loops, which take each
    distinct buffer as a `noalias` argument and are inlined: without that LLVM checks the buffers
    for overlap at run time on every tile, which made the fused chain slower than a separate pass.
    """
    fn = ir.Function(tile.module, EPILOGUE_TYPE, tile.name.removesuffix("_tile"))
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fields, row0, rows, col0, cols = fn.args
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    loaded = [bld.load(element_ptr(bld, fields, i64(k), I64), typ=I64) for k in range(count + 2)]
    first, batch = loaded[:2]
    pointers = [bld.inttoptr(value, PTR) for value in loaded[2:]]
    bld.call(tile, [batch, bld.add(first, row0), rows, col0, cols, *pointers])
    bld.ret_void()
    return fn


def _tile_loops(
    ctx: KernelContext, plan: PointwisePlan, row0: ir.Value, rows: ir.Value, col0: ir.Value, cols: ir.Value
) -> None:
    """The chain over rows [row0, row0+rows) and columns [col0, col0+cols) of the head as a matrix:
    its last axis is the columns, the others (coalesced by the fusion pass) the rows."""
    bld = ctx.builder
    row_strides = [vector[-2] for vector in plan.streams]
    col_strides = [vector[-1] for vector in plan.streams]
    with counted_loop(bld, bld.add(row0, rows), start=row0, name="er") as row:
        row_offsets = [_scaled(ctx, row, s) for s in row_strides]
        with counted_loop(bld, bld.add(col0, cols), start=col0, name="ec") as col:
            offsets = [bld.add(r, _scaled(ctx, col, s))
                       for r, s in zip(row_offsets, col_strides, strict=True)]
            emit_body(ctx, plan, offsets)
    bld.ret_void()


def _scaled(ctx: KernelContext, index: ir.Value, stride: Sym) -> ir.Value:
    return i64(0) if stride.is_zero else ctx.scaled(index, stride)
