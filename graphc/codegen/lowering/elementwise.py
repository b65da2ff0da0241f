"""Scalar lowerings of the elementwise ops (IEEE float32, no fast-math, numpy semantics).

exp/log/tanh/sigmoid are inline polynomials (mathfns.py) so their loops vectorize.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from graphc.codegen.llvm_util import F32, f32, intrinsic, llvm_type
from graphc.codegen.lowering import mathfns
from graphc.codegen.lowering.pointwise import ScalarSite
from graphc.codegen.lowering.registry import scalar_lowering
from graphc.ir.graph import Node

Args = list[ir.Value]


def _call(site: ScalarSite, name: str, *args: ir.Value) -> ir.Value:
    fn = intrinsic(site.module, name, F32, [F32] * len(args))
    return site.builder.call(fn, list(args))


def _intrinsic(name: str) -> Callable[[ScalarSite, Node, Args], ir.Value]:
    def emit(site: ScalarSite, node: Node, args: Args) -> ir.Value:
        return _call(site, name, *args)

    return emit


def _mask(site: ScalarSite, flag: ir.Value) -> ir.Value:
    return site.builder.uitofp(flag, F32)


scalar_lowering("abs")(_intrinsic("llvm.fabs.f32"))
scalar_lowering("sqrt")(_intrinsic("llvm.sqrt.f32"))
scalar_lowering("maximum")(_intrinsic("llvm.maximum.f32"))
scalar_lowering("minimum")(_intrinsic("llvm.minimum.f32"))


@scalar_lowering("neg")
def _neg(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    return site.builder.fneg(args[0])


def _math(fn: Callable[[ir.IRBuilder, ir.Value], ir.Value]) -> Callable[[ScalarSite, Node, Args], ir.Value]:
    def emit(site: ScalarSite, node: Node, args: Args) -> ir.Value:
        return fn(site.builder, args[0])

    return emit


scalar_lowering("exp")(_math(mathfns.exp))
scalar_lowering("log")(_math(mathfns.log))
scalar_lowering("tanh")(_math(mathfns.tanh))
scalar_lowering("sigmoid")(_math(mathfns.sigmoid))


@scalar_lowering("sign")
def _sign(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    b = site.builder
    (x,) = args
    negative = b.select(b.fcmp_ordered("<", x, f32(0.0)), f32(-1.0), x)
    return b.select(b.fcmp_ordered(">", x, f32(0.0)), f32(1.0), negative)


@scalar_lowering("add")
def _add(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    b = site.builder
    return b.fadd(*args) if node.type.is_float else b.add(*args)


@scalar_lowering("sub")
def _sub(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    b = site.builder
    return b.fsub(*args) if node.type.is_float else b.sub(*args)


@scalar_lowering("mul")
def _mul(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    b = site.builder
    return b.fmul(*args) if node.type.is_float else b.mul(*args)


@scalar_lowering("cast")
def _cast(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    b = site.builder
    (x,) = args
    source, target = node.inputs[0].type, node.type
    if source.dtype == target.dtype:
        return x
    to = llvm_type(target.dtype)
    if source.is_float:
        return b.fptosi(x, to)
    if target.is_float:
        return b.sitofp(x, to)
    return b.trunc(x, to) if source.itemsize > target.itemsize else b.sext(x, to)


@scalar_lowering("div")
def _div(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    return site.builder.fdiv(*args)


@scalar_lowering("greater")
def _greater(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    return _mask(site, site.builder.fcmp_ordered(">", *args))


@scalar_lowering("greater_equal")
def _greater_equal(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    return _mask(site, site.builder.fcmp_ordered(">=", *args))


@scalar_lowering("equal")
def _equal(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    return _mask(site, site.builder.fcmp_ordered("==", *args))


@scalar_lowering("select")
def _select(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    cond, x, y = args
    b = site.builder
    return b.select(b.fcmp_unordered("!=", cond, f32(0.0)), x, y)
