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
from graphc.codegen.llvm_util import I64, PTR, counted_loop, element_ptr, i64
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
    nodes = list(pointers)
    bld = ctx.builder
    fields = bld.alloca(I64, size=1 + len(nodes), name="epilogue_ctx")
    bld.store(ctx.batch, element_ptr(bld, fields, i64(0), I64))
    for i, node in enumerate(nodes, start=1):
        bld.store(bld.ptrtoint(pointers[node], I64), element_ptr(bld, fields, i64(i), I64))
    name = f"{bld.function.name}_epilogue"
    epilogue = _epilogue_function(ctx.module, name, plan, nodes)
    call_gemm(ctx, matmul, c_home, epilogue, fields)


def _epilogue_function(module: ir.Module, name: str, plan: PointwisePlan, nodes: list[Node]) -> ir.Function:
    """`void epilogue(ptr fields, i64 row0, i64 rows, i64 col0, i64 cols)` over one tile of C."""
    fn = ir.Function(module, EPILOGUE_TYPE, name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fields, row0, rows, col0, cols = fn.args
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    batch = bld.load(element_ptr(bld, fields, i64(0), I64), typ=I64)
    pointers = {}
    for i, node in enumerate(nodes, start=1):
        pointers[node] = bld.inttoptr(bld.load(element_ptr(bld, fields, i64(i), I64), typ=I64), PTR)
    ctx = KernelContext(bld, batch, pointers)
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
