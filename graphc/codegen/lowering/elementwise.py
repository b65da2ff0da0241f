"""Scalar lowerings of the elementwise ops (IEEE float32, no fast-math, numpy semantics)."""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from graphc.codegen.llvm_util import F32, f32, intrinsic
from graphc.codegen.lowering.pointwise import ScalarSite
from graphc.codegen.lowering.registry import scalar_lowering
from graphc.ir.graph import Node

Args = list[ir.Value]


def _call(site: ScalarSite, name: str, *args: ir.Value) -> ir.Value:
    fn = intrinsic(site.module, name, F32, [F32] * len(args))
    return site.builder.call(fn, list(args))


def _libm(name: str) -> Callable[[ScalarSite, Node, Args], ir.Value]:
    def emit(site: ScalarSite, node: Node, args: Args) -> ir.Value:
        return _call(site, name, *args)

    return emit


def _mask(site: ScalarSite, flag: ir.Value) -> ir.Value:
    return site.builder.uitofp(flag, F32)


scalar_lowering("exp")(_libm("llvm.exp.f32"))
scalar_lowering("log")(_libm("llvm.log.f32"))
scalar_lowering("tanh")(_libm("llvm.tanh.f32"))
scalar_lowering("abs")(_libm("llvm.fabs.f32"))
scalar_lowering("sqrt")(_libm("llvm.sqrt.f32"))
scalar_lowering("maximum")(_libm("llvm.maximum.f32"))
scalar_lowering("minimum")(_libm("llvm.minimum.f32"))


@scalar_lowering("neg")
def _neg(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    return site.builder.fneg(args[0])


@scalar_lowering("sigmoid")
def _sigmoid(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    b = site.builder
    e = _call(site, "llvm.exp.f32", b.fneg(args[0]))
    return b.fdiv(f32(1.0), b.fadd(f32(1.0), e))


@scalar_lowering("sign")
def _sign(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    b = site.builder
    (x,) = args
    negative = b.select(b.fcmp_ordered("<", x, f32(0.0)), f32(-1.0), x)
    return b.select(b.fcmp_ordered(">", x, f32(0.0)), f32(1.0), negative)


@scalar_lowering("add")
def _add(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    return site.builder.fadd(*args)


@scalar_lowering("sub")
def _sub(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    return site.builder.fsub(*args)


@scalar_lowering("mul")
def _mul(site: ScalarSite, node: Node, args: Args) -> ir.Value:
    return site.builder.fmul(*args)


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
