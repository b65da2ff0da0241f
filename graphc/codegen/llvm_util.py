"""Small llvmlite helpers: types, counted loops, intrinsics, symbolic extents."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

from llvmlite import ir

from graphc.ir.affine import Sym

F32 = ir.FloatType()
I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
VOID = ir.VoidType()

# Held while building or printing llvmlite IR: modules share type and constant objects whose
# printed forms llvmlite caches, and its printer was seen to misbehave in two threads at once.
# LLVM itself (target.compile_ir) does not need it, so IR is built beside a running compile.
IR_LOCK = threading.Lock()


LLVM_TYPES = {"float32": F32, "int32": I32, "int64": I64}


def llvm_type(dtype: str) -> ir.Type:
    return LLVM_TYPES[dtype]


def f32(value: float) -> ir.Constant:
    return ir.Constant(F32, float(value))


def i64(value: int) -> ir.Constant:
    return ir.Constant(I64, int(value))


def constant(value: float | int, dtype: str) -> ir.Constant:
    """A float32, int32 or int64 immediate."""
    return f32(value) if dtype == "float32" else ir.Constant(llvm_type(dtype), int(value))


def within(builder: ir.IRBuilder, index: ir.Value, low: ir.Value, high: ir.Value) -> ir.Value:
    """low <= index < high for i64 values (an i1)."""
    return builder.and_(builder.icmp_signed(">=", index, low), builder.icmp_signed("<", index, high))


def intrinsic(module: ir.Module, name: str, ret: ir.Type, args: Sequence[ir.Type]) -> ir.Function:
    """Declare (once) and return an LLVM intrinsic or external function."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return ir.Function(module, ir.FunctionType(ret, list(args)), name=name)


def sym_value(builder: ir.IRBuilder, sym: Sym, batch: ir.Value) -> ir.Value:
    """`coef * N**power` as an i64."""
    if sym.power == 0 or sym.coef == 0:
        return i64(sym.coef)
    value = batch
    for _ in range(sym.power - 1):
        value = builder.mul(value, batch)
    return value if sym.coef == 1 else builder.mul(value, i64(sym.coef))


def element_ptr(builder: ir.IRBuilder, base: ir.Value, index: ir.Value, etype: ir.Type = F32) -> ir.Value:
    return builder.gep(base, [index], inbounds=True, source_etype=etype)


def load_f32(builder: ir.IRBuilder, base: ir.Value, index: ir.Value) -> ir.Value:
    return builder.load(element_ptr(builder, base, index), typ=F32)


def store_f32(builder: ir.IRBuilder, value: ir.Value, base: ir.Value, index: ir.Value) -> None:
    builder.store(value, element_ptr(builder, base, index))


@contextlib.contextmanager
def counted_loop(
    builder: ir.IRBuilder, count: ir.Value, start: ir.Value | None = None, step: int = 1, name: str = "i"
) -> Iterator[ir.Value]:
    """`for (i = start; i < count; i += step)`; the body is emitted inside the `with`."""
    start = i64(0) if start is None else start
    pre = builder.block
    header = builder.append_basic_block(f"{name}.header")
    body = builder.append_basic_block(f"{name}.body")
    exit_ = builder.append_basic_block(f"{name}.exit")
    builder.branch(header)
    builder.position_at_end(header)
    index = builder.phi(I64, name=name)
    index.add_incoming(start, pre)
    builder.cbranch(builder.icmp_signed("<", index, count), body, exit_)
    builder.position_at_end(body)
    yield index
    nxt = builder.add(index, i64(step), name=f"{name}.next", flags=("nsw",))
    index.add_incoming(nxt, builder.block)
    builder.branch(header)
    builder.position_at_end(exit_)


@contextlib.contextmanager
def loop_with_carry(
    builder: ir.IRBuilder, count: ir.Value, init: Sequence[ir.Value], start: ir.Value | None = None,
    name: str = "r",
) -> Iterator[tuple[ir.Value, list[ir.Value], list[ir.Value], list[ir.Value]]]:
    """A counted loop carrying values: yields (index, carried, updates, result).

    The body appends one next value per carried value to `updates`; after the `with`,
    `result` holds the carried values at loop exit.
    """
    start = i64(0) if start is None else start
    pre = builder.block
    header = builder.append_basic_block(f"{name}.header")
    body = builder.append_basic_block(f"{name}.body")
    exit_ = builder.append_basic_block(f"{name}.exit")
    builder.branch(header)
    builder.position_at_end(header)
    index = builder.phi(I64, name=name)
    index.add_incoming(start, pre)
    carried = []
    for value in init:
        phi = builder.phi(value.type)
        phi.add_incoming(value, pre)
        carried.append(phi)
    builder.cbranch(builder.icmp_signed("<", index, count), body, exit_)
    builder.position_at_end(body)
    updates: list[ir.Value] = []
    result: list[ir.Value] = []
    yield index, carried, updates, result
    if len(updates) != len(carried):
        raise AssertionError("loop body must give one next value per carried value")
    latch = builder.block
    index.add_incoming(builder.add(index, i64(1), flags=("nsw",)), latch)
    for phi, nxt in zip(carried, updates, strict=True):
        phi.add_incoming(nxt, latch)
    builder.branch(header)
    builder.position_at_end(exit_)
    result.extend(carried)


class IndirectCallee:
    """A function pointer as llvmlite's call() wants it: with opaque pointers it cannot know the type."""

    def __init__(self, pointer: ir.Value, function_type: ir.FunctionType) -> None:
        self.pointer = pointer
        self.type = pointer.type
        self.function_type = function_type

    def get_reference(self) -> str:
        return self.pointer.get_reference()
