"""What a lowering sees while it emits one kernel function."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from llvmlite import ir

from graphc.codegen.llvm_util import I64, PTR, VOID, element_ptr, i64, intrinsic, sym_value
from graphc.ir.affine import Sym
from graphc.ir.graph import Node


@dataclass
class KernelContext:
    """The builder positioned inside the kernel, the batch size and each node's base pointer."""

    builder: ir.IRBuilder
    batch: ir.Value
    pointers: Mapping[Node, ir.Value]
    scratch: ir.Value | None = None
    parts: Sequence[ir.Value] = ()  # a multi-output node's value buffers, by index


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

    def scaled(self, index: ir.Value, stride: Sym) -> ir.Value:
        """index * stride, without a multiply for a unit stride."""
        return index if stride.is_one else self.builder.mul(index, self.sym(stride))

    def advance(self, offsets: Sequence[ir.Value], strides: Sequence[Sequence[Sym]], level: int,
                index: ir.Value) -> list[ir.Value]:
        """Each stream's offset moved `index` steps along loop `level` of a coalesced nest."""
        return [offset if vector[level].is_zero
                else self.builder.add(offset, self.scaled(index, vector[level]))
                for offset, vector in zip(offsets, strides, strict=True)]

    def intrinsic(self, name: str, ret: ir.Type, args: Sequence[ir.Type]) -> ir.Function:
        return intrinsic(self.module, name, ret, args)


def noalias_function(
    ctx: KernelContext, name: str, index_args: int
) -> tuple[ir.Function, KernelContext, list[ir.Value], list[ir.Value]]:
    """An internal, always-inlined `void name(i64 N, i64 index..., ptr noalias...)`.

    It takes each distinct buffer of `ctx` once (nodes sharing a buffer share its pointer), and
    ctx's scratch last when it has one, so the loops emitted in it need no run-time overlap checks
    between buffers. Returns the function, a context over its parameters to emit the body with,
    its `index_args` index parameters, and ctx's buffer values in parameter order (what a caller
    passes).
    """
    buffers = list(dict.fromkeys(ctx.pointers.values()))
    if ctx.scratch is not None:
        buffers.append(ctx.scratch)
    fnty = ir.FunctionType(VOID, [I64] * (1 + index_args) + [PTR] * len(buffers))
    fn = ir.Function(ctx.module, fnty, name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("alwaysinline")
    batch, *rest = fn.args
    indices, params = rest[:index_args], rest[index_args:]
    for param in params:
        param.add_attribute("noalias")
    param_of = dict(zip(buffers, params, strict=True))
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    scratch = None if ctx.scratch is None else param_of[ctx.scratch]
    pointers = {node: param_of[value] for node, value in ctx.pointers.items()}
    inner = KernelContext(builder, batch, pointers, scratch)
    return fn, inner, indices, buffers


def store_fields(builder: ir.IRBuilder, batch: ir.Value, buffers: Sequence[ir.Value], name: str) -> ir.Value:
    """A block of i64 holding N and the buffers' addresses: the context a task or tile callback reads."""
    with builder.goto_entry_block():
        block = builder.alloca(I64, size=1 + len(buffers), name=name)
    builder.store(batch, element_ptr(builder, block, i64(0), I64))
    for k, value in enumerate(buffers, start=1):
        builder.store(builder.ptrtoint(value, I64), element_ptr(builder, block, i64(k), I64))
    return block


def load_fields(builder: ir.IRBuilder, block: ir.Value, count: int) -> tuple[ir.Value, list[ir.Value]]:
    """N and the `count` buffer pointers stored by store_fields."""
    values = [builder.load(element_ptr(builder, block, i64(k), I64), typ=I64) for k in range(count + 1)]
    return values[0], [builder.inttoptr(value, PTR) for value in values[1:]]
