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

A chain may end in a tail (a 2x2 pool, Kernel.epilogue_tail): the convolution then applies the
chain to its register tiles (`vector_chain`, else `lane_chain` for ops with no vector form) and
pools them before storing, so neither the head's nor the chain's values reach memory.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from graphc.codegen.context import KernelContext, noalias_function
from graphc.codegen.llvm_util import F32, I64, PTR, counted_loop, element_ptr, i64, intrinsic
from graphc.codegen.lowering.epilogue_call import Epilogue
from graphc.codegen.lowering.gemm_kernel import EPILOGUE_TYPE
from graphc.codegen.lowering.gemm_vec import V16, VEC, splat, vload, vstore
from graphc.codegen.lowering.pointwise import (
    Immediate,
    Load,
    PointwisePlan,
    emit_body,
    immediate,
    is_immediate,
    load_value,
)
from graphc.codegen.lowering.registry import get_lowering
from graphc.ir.affine import Sym
from graphc.ir.graph import Node
from graphc.passes.kernels import Kernel


def emit_gemm_epilogue(ctx: KernelContext, kernel: Kernel, head: Node) -> None:
    tail = kernel.epilogue_tail
    if tail is not None:
        _emit_with_tail(ctx, kernel, head, tail)
        return
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
    vector = vector_chain(plan, head) if head not in kernel.outputs and len(outputs) == 1 else None
    epilogue = Epilogue(_epilogue_function(tile, len(values)), buffers, c_home, vector)
    get_lowering(head.op).epilogue(ctx, head, epilogue)


def _emit_with_tail(ctx: KernelContext, kernel: Kernel, head: Node, tail: Node) -> None:
    """The head's lowering applies the chain (if any) to its registers and the tail to the results."""
    chain = tuple(n for n in kernel.nodes if n is not head and n is not tail)
    if chain:
        plan = PointwisePlan(Kernel(chain, (chain[-1],)))
        vector = vector_chain(plan, head) or lane_chain(plan, head)
    else:
        vector = _unchanged
    get_lowering(head.op).epilogue(ctx, head, Epilogue(None, (), tail, vector, tail))


def _unchanged(ctx: KernelContext, sums: ir.Value, column: ir.Value, mask: ir.Value | None) -> ir.Value:
    """No chain between the convolution and its pool (no bias, linear activation)."""
    return sums


VECTOR_OPS = frozenset({"add", "sub", "mul", "div", "maximum", "minimum"})


class _VectorSite:
    """The scalar language's float arithmetic on 16-lane vectors (the ops of VECTOR_OPS use no more):
    lane by lane the same IEEE operations as the tile loop's scalar code, so the same bits."""

    def __init__(self, builder: ir.IRBuilder) -> None:
        self.builder = builder

    def add(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.builder.fadd(x, y)

    def sub(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.builder.fsub(x, y)

    def mul(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.builder.fmul(x, y)

    def div(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.builder.fdiv(x, y)

    def maximum(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self._call("llvm.maximum.v16f32", x, y)

    def minimum(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self._call("llvm.minimum.v16f32", x, y)

    def _call(self, name: str, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.builder.call(intrinsic(self.builder.module, name, V16, [V16, V16]), [x, y])


VectorChain = Callable[[KernelContext, ir.Value, ir.Value, "ir.Value | None"], ir.Value]


def vector_chain(plan: PointwisePlan, head: Node) -> VectorChain | None:
    """The chain as arithmetic on a register of 16 of the head's columns, when it is only
    VECTOR_OPS on float32 values whose other operands are per column (a bias, BatchNormalization's
    statistics) or scalars: a convolution then applies it before storing its sums, where the tile
    function would read them back and store them again (a tenth of the tutorial CNN's first layer)."""
    columns: dict[int, int] = {}  # stream -> column stride of an operand read per column

    def usable(expr) -> bool:
        if isinstance(expr, Immediate):
            return expr.node.type.dtype == "float32"
        if isinstance(expr, Load):
            vector = plan.streams[expr.stream]
            if expr.guard or expr.base or expr.node.type.dtype != "float32":
                return False
            if expr.node is head:
                return True
            if any(not stride.is_zero for stride in vector[:-1]) or vector[-1].power != 0:
                return False
            if vector[-1].coef not in (0, 1):
                return False
            columns[expr.stream] = vector[-1].coef
            return True
        return (expr.node.op in VECTOR_OPS and expr.lowering is None and not expr.streams
                and expr.node.type.dtype == "float32" and all(usable(a) for a in expr.args))

    if len(plan.roots) != 1 or not usable(plan.roots[0]):
        return None
    root = plan.roots[0]

    def emit(ctx: KernelContext, sums: ir.Value, column: ir.Value, mask: ir.Value | None) -> ir.Value:
        b = ctx.builder
        site = _VectorSite(b)
        values: dict[int, ir.Value] = {}

        def evaluate(expr) -> ir.Value:
            if id(expr) in values:
                return values[id(expr)]
            if isinstance(expr, Immediate):
                value = splat(b, immediate(ctx, expr.node), F32)
            elif isinstance(expr, Load) and expr.node is head:
                value = sums
            elif isinstance(expr, Load) and columns[expr.stream] == 0:
                value = splat(b, b.load(ctx.ptr(expr.node), typ=F32), F32)
            elif isinstance(expr, Load):
                value = vload(b, element_ptr(b, ctx.ptr(expr.node), column), mask)
            else:
                value = expr.op.emit_scalar(site, expr.node, [evaluate(a) for a in expr.args])
            values[id(expr)] = value
            return value

        return evaluate(root)

    return emit


def lane_chain(plan: PointwisePlan, head: Node) -> VectorChain:
    """The chain on a register of 16 of the head's columns one lane at a time, through the ops'
    scalar rules (tanh, sigmoid, ... have no vector form here): the lanes go through a stack
    buffer. The same scalar code as the tile loop, so the same bits. Only for chains whose other
    operands are per column or scalars and whose ops read no index stream (the fusion pass admits
    no other chain before a tail)."""
    root = plan.roots[0]
    width = head.shape[-1]

    def emit(ctx: KernelContext, sums: ir.Value, column: ir.Value, mask: ir.Value | None) -> ir.Value:
        b = ctx.builder
        with b.goto_entry_block():
            lanes = b.alloca(V16, name="lanes")
            floats = b.bitcast(lanes, F32.as_pointer())
        vstore(b, sums, lanes, None)
        left = b.sub(i64(width), column)
        count = b.select(b.icmp_signed("<", left, i64(VEC)), left, i64(VEC))
        with counted_loop(b, count, name="lane") as lane:
            at = b.add(column, lane)
            values: dict[int, ir.Value] = {}

            def evaluate(expr) -> ir.Value:
                if id(expr) in values:
                    return values[id(expr)]
                if isinstance(expr, Immediate):
                    value = immediate(ctx, expr.node)
                elif isinstance(expr, Load) and expr.node is head:
                    value = b.load(element_ptr(b, floats, lane), typ=F32)
                elif isinstance(expr, Load):
                    assert not expr.guard and not expr.base, expr.node
                    value = load_value(ctx, expr.node, ctx.scaled(at, plan.streams[expr.stream][-1])
                                       if not plan.streams[expr.stream][-1].is_zero else i64(0))
                else:
                    value = expr.emit(ctx, [], [evaluate(a) for a in expr.args])
                values[id(expr)] = value
                return value

            b.store(evaluate(root), element_ptr(b, floats, lane))
        return vload(b, lanes, mask)

    return emit


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
