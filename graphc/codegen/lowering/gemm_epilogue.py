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

from graphc.codegen.affine import Sym
from graphc.codegen.context import KernelContext
from graphc.codegen.kernels import Kernel
from graphc.codegen.llvm_util import I64, PTR, VOID, counted_loop, element_ptr, i64
from graphc.codegen.lowering.gemm import call_gemm
from graphc.codegen.lowering.gemm_kernel import EPILOGUE_TYPE
from graphc.codegen.lowering.pointwise import PointwisePlan, emit_body, is_immediate
from graphc.ir.graph import Node


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
    buffers = list(dict.fromkeys(pointers.values()))  # nodes in one buffer share its pointer
    bld = ctx.builder
    fields = bld.alloca(I64, size=1 + len(buffers), name="epilogue_ctx")
    bld.store(ctx.batch, element_ptr(bld, fields, i64(0), I64))
    for i, value in enumerate(buffers, start=1):
        bld.store(bld.ptrtoint(value, I64), element_ptr(bld, fields, i64(i), I64))
    name = f"{bld.function.name}_epilogue"
    slots = {node: buffers.index(value) for node, value in pointers.items()}
    epilogue = _epilogue_function(ctx.module, name, plan, slots, len(buffers))
    call_gemm(ctx, matmul, c_home, epilogue, fields)


def _epilogue_function(
    module: ir.Module, name: str, plan: PointwisePlan, slots: dict[Node, int], count: int
) -> ir.Function:
    """`void epilogue(ptr fields, i64 row0, i64 rows, i64 col0, i64 cols)` over one tile of C.

    It reads N and the buffers from `fields` and calls the tile loop, which takes each distinct
    buffer as a `noalias` argument and is inlined: without that LLVM checks the buffers for
    overlap at run time on every tile, which made the fused chain slower than a separate pass.
    """
    tile = _tile_function(module, f"{name}_tile", plan, slots, count)
    fn = ir.Function(module, EPILOGUE_TYPE, name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fields, row0, rows, col0, cols = fn.args
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    values = [bld.load(element_ptr(bld, fields, i64(i), I64), typ=I64) for i in range(count + 1)]
    bld.call(tile, [values[0], row0, rows, col0, cols, *(bld.inttoptr(v, PTR) for v in values[1:])])
    bld.ret_void()
    return fn


def _tile_function(
    module: ir.Module, name: str, plan: PointwisePlan, slots: dict[Node, int], count: int
) -> ir.Function:
    fn = ir.Function(module, ir.FunctionType(VOID, [I64] * 5 + [PTR] * count), name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("alwaysinline")
    batch, row0, rows, col0, cols, *params = fn.args
    for param in params:
        param.add_attribute("noalias")
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    ctx = KernelContext(bld, batch, {node: params[slot] for node, slot in slots.items()})
    row_strides = [vector[0] for vector in plan.streams]
    col_strides = [vector[1] for vector in plan.streams]
    with counted_loop(bld, bld.add(row0, rows), start=row0, name="er") as row:
        row_offsets = [_scaled(ctx, row, s) for s in row_strides]
        with counted_loop(bld, bld.add(col0, cols), start=col0, name="ec") as col:
            offsets = [bld.add(r, _scaled(ctx, col, s))
                       for r, s in zip(row_offsets, col_strides, strict=True)]
            emit_body(ctx, plan, offsets)
    bld.ret_void()
    return fn


def _scaled(ctx: KernelContext, index: ir.Value, stride: Sym) -> ir.Value:
    if stride.is_zero:
        return i64(0)
    return index if stride.is_one else ctx.builder.mul(index, ctx.sym(stride))
