"""exp, log and tanh as straight-line float32 code (Cephes polynomials, ~1-2 ulp).

Calls to libm would stop the loop vectorizer (there is no vector libm to map them to);
straight-line selects and polynomials vectorize into 16-wide code and keep the objects
free of libm. Special values follow IEEE/numpy: NaN propagates, exp overflows to inf and
underflows through subnormals to 0, log(0) = -inf, log(x<0) = NaN, tanh(+-inf) = +-1.
"""

from __future__ import annotations

from collections.abc import Sequence

from llvmlite import ir

from graphc.codegen.llvm_util import F32, I32, f32, intrinsic

LOG2E = 1.44269504088896341
LN2_HI = 0.693359375
LN2_LO = -2.12194440e-4
EXP_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
            5.0000001201e-1)
LOG_POLY = (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
            -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1)
TANH_POLY = (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1)
SQRT_HALF = 0.707106781186547524
FLT_MIN = 1.17549435e-38


def _i32(value: int) -> ir.Constant:
    return ir.Constant(I32, value)


def _poly(b: ir.IRBuilder, x: ir.Value, coefficients: Sequence[float]) -> ir.Value:
    """Horner's rule, highest power first."""
    acc = f32(coefficients[0])
    for c in coefficients[1:]:
        acc = b.fadd(b.fmul(acc, x), f32(c))
    return acc


def _pow2(b: ir.IRBuilder, n: ir.Value) -> ir.Value:
    """2**n as a float for an integer n in [-126, 127], built from its exponent bits."""
    return b.bitcast(b.shl(b.add(n, _i32(127)), _i32(23)), F32)


def _isnan(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return b.fcmp_unordered("uno", x, x)


def exp(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """e**x = 2**n * e**r with |r| <= ln2/2; the scaling is split in two so subnormals come out right."""
    finite = b.select(_isnan(b, x), f32(0.0), x)
    clamped = b.select(b.fcmp_ordered(">", finite, f32(89.0)), f32(89.0), finite)
    clamped = b.select(b.fcmp_ordered("<", clamped, f32(-104.0)), f32(-104.0), clamped)
    rint = intrinsic(b.module, "llvm.rint.f32", F32, [F32])
    n_float = b.call(rint, [b.fmul(clamped, f32(LOG2E))])
    r = b.fsub(b.fsub(clamped, b.fmul(n_float, f32(LN2_HI))), b.fmul(n_float, f32(LN2_LO)))
    y = b.fadd(b.fadd(b.fmul(b.fmul(_poly(b, r, EXP_POLY), r), r), r), f32(1.0))
    n = b.fptosi(n_float, I32)
    half = b.ashr(n, _i32(1))
    scaled = b.fmul(b.fmul(y, _pow2(b, half)), _pow2(b, b.sub(n, half)))
    return b.select(_isnan(b, x), x, scaled)


def log(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """ln x = e*ln2 + ln(m) with m in [sqrt(1/2), sqrt(2)); subnormal inputs are rescaled first."""
    tiny = b.fcmp_ordered("<", x, f32(FLT_MIN))
    scaled = b.select(tiny, b.fmul(x, f32(2.0**23)), x)
    bits = b.bitcast(scaled, I32)
    exponent = b.sub(b.lshr(bits, _i32(23)), _i32(126))
    exponent = b.select(tiny, b.sub(exponent, _i32(23)), exponent)
    m = b.bitcast(b.or_(b.and_(bits, _i32(0x807FFFFF)), _i32(0x3F000000)), F32)
    low = b.fcmp_ordered("<", m, f32(SQRT_HALF))
    e = b.sitofp(b.select(low, b.sub(exponent, _i32(1)), exponent), F32)
    m = b.fsub(b.select(low, b.fadd(m, m), m), f32(1.0))
    z = b.fmul(m, m)
    y = b.fmul(b.fmul(_poly(b, m, LOG_POLY), m), z)
    y = b.fadd(y, b.fmul(e, f32(LN2_LO)))
    y = b.fsub(y, b.fmul(z, f32(0.5)))
    result = b.fadd(b.fadd(m, y), b.fmul(e, f32(LN2_HI)))
    result = b.select(b.fcmp_ordered("==", x, f32(float("inf"))), x, result)
    result = b.select(b.fcmp_ordered("==", x, f32(0.0)), f32(float("-inf")), result)
    return b.select(b.fcmp_unordered("<", x, f32(0.0)), f32(float("nan")), result)


def tanh(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """An odd polynomial for |x| <= 0.625, else sign(x) * (1 - 2 / (e**(2|x|) + 1))."""
    fabs = intrinsic(b.module, "llvm.fabs.f32", F32, [F32])
    z = b.call(fabs, [x])
    x2 = b.fmul(x, x)
    small = b.fadd(b.fmul(b.fmul(_poly(b, x2, TANH_POLY), x2), x), x)
    large = b.fsub(f32(1.0), b.fdiv(f32(2.0), b.fadd(exp(b, b.fadd(z, z)), f32(1.0))))
    copysign = intrinsic(b.module, "llvm.copysign.f32", F32, [F32, F32])
    large = b.call(copysign, [large, x])
    return b.select(b.fcmp_ordered(">", z, f32(0.625)), large, small)


def sigmoid(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """1 / (1 + e**-x), the interpreter's formula (0 once e**-x overflows)."""
    return b.fdiv(f32(1.0), b.fadd(f32(1.0), exp(b, b.fneg(x))))
