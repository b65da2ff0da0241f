"""Elementwise ops with numpy broadcasting (the batch dim broadcasts against 1 only)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from graphc.ir.graph import Node
from graphc.ir.types import ShapeError, TensorType, broadcast_shapes
from graphc.ops import builders as b
from graphc.ops.registry import EvalContext, OpDef, OpKind, ScalarRule, register
from graphc.ops.scalar import Scalar, Value


def _float_only(types: Sequence[TensorType], name: str) -> None:
    for t in types:
        if not t.is_float:
            raise ShapeError(f"{name} takes float32 values, got {t}; cast integers first")


def _same_float_type(name: str) -> Callable[[Sequence[TensorType], Mapping[str, Any]], TensorType]:
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
        _float_only(types, name)
        return types[0]

    return infer


def _broadcast_type(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    for t in types[1:]:
        if t.dtype != types[0].dtype:
            raise ShapeError(f"dtype mismatch: {types[0].dtype} vs {t.dtype}")
    return TensorType(broadcast_shapes(*(t.shape for t in types)), types[0].dtype)


def _unary(name: str, fn: Callable[[np.ndarray], np.ndarray], grad: Any, doc: str,
           scalar: ScalarRule) -> OpDef:
    return register(
        OpDef(name, OpKind.ELEMENTWISE, 1, _same_float_type(name), lambda attrs, ctx, x: fn(x), grad, doc,
              scalar=scalar)
    )


def _math(fn: str) -> ScalarRule:
    return lambda s, node, x: s.math(fn, x)


def _binary(name: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], grad: Any, doc: str,
            scalar: ScalarRule, integers: bool = False, commutative: bool = False) -> OpDef:
    """`integers`: the op is also defined on int32/int64 operands (wrapping, as numpy's)."""

    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
        if not integers:
            _float_only(types, name)
        return _broadcast_type(types, attrs)

    return register(
        OpDef(name, OpKind.ELEMENTWISE, 2, infer, lambda attrs, ctx, x, y: fn(x, y), grad, doc,
              scalar=scalar, commutative=commutative)
    )


def _compare(relation: str) -> ScalarRule:
    return lambda s, node, x, y: s.mask(s.compare(relation, x, y))


def _sign(s: Scalar, node: Node, x: Value) -> Value:
    zero = s.constant(0.0, "float32")
    negative = s.where(s.compare("<", x, zero), s.constant(-1.0, "float32"), x)
    return s.where(s.compare(">", x, zero), s.constant(1.0, "float32"), negative)


BinaryFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _mask(fn: BinaryFn) -> BinaryFn:
    return lambda x, y: fn(x, y).astype(np.result_type(x, y))


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype)


def _both(node: Node, grad: Node, ga: Node, gb: Node) -> list[Node]:
    a, c = node.inputs
    return [b.unbroadcast(ga, a.shape), b.unbroadcast(gb, c.shape)]


NEG = _unary("neg", np.negative, lambda n, g: [-g], "-x", lambda s, node, x: s.neg(x))
EXP = _unary("exp", np.exp, lambda n, g: [g * n], "e**x", _math("exp"))
LOG = _unary("log", np.log, lambda n, g: [g / n.inputs[0]], "natural log", _math("log"))
TANH = _unary("tanh", np.tanh, lambda n, g: [g * (1.0 - n * n)], "hyperbolic tangent", _math("tanh"))
SIGMOID = _unary("sigmoid", _stable_sigmoid, lambda n, g: [g * n * (1.0 - n)], "1/(1+e**-x)",
                 _math("sigmoid"))
ABS = _unary("abs", np.abs, lambda n, g: [g * b.sign(n.inputs[0])], "|x|", _math("abs"))
SQRT = _unary("sqrt", np.sqrt, lambda n, g: [g / (n * 2.0)], "square root", _math("sqrt"))
SIGN = _unary("sign", np.sign, None, "-1, 0 or 1; no gradient", _sign)

ADD = _binary("add", np.add, lambda n, g: _both(n, g, g, g), "a+b",
              lambda s, node, x, y: s.add(x, y), integers=True, commutative=True)
SUB = _binary("sub", np.subtract, lambda n, g: _both(n, g, g, -g), "a-b",
              lambda s, node, x, y: s.sub(x, y), integers=True)
MUL = _binary("mul", np.multiply, lambda n, g: _both(n, g, g * n.inputs[1], g * n.inputs[0]), "a*b",
              lambda s, node, x, y: s.mul(x, y), integers=True, commutative=True)
DIV = _binary(
    "div", np.divide, lambda n, g: _both(n, g, g / n.inputs[1], -(g * n) / n.inputs[1]), "a/b",
    lambda s, node, x, y: s.div(x, y)
)


def _max_grad(n: Node, g: Node) -> list[Node]:
    a_wins = b.greater_equal(n.inputs[0], n.inputs[1])
    return _both(n, g, b.select(a_wins, g, 0.0), b.select(a_wins, 0.0, g))


def _min_grad(n: Node, g: Node) -> list[Node]:
    b_wins = b.greater(n.inputs[0], n.inputs[1])
    return _both(n, g, b.select(b_wins, 0.0, g), b.select(b_wins, g, 0.0))


MAXIMUM = _binary("maximum", np.maximum, _max_grad, "larger of a and b; ties send the gradient to a",
                  lambda s, node, x, y: s.maximum(x, y))
MINIMUM = _binary("minimum", np.minimum, _min_grad, "smaller of a and b; ties send the gradient to a",
                  lambda s, node, x, y: s.minimum(x, y))
GREATER = _binary("greater", _mask(np.greater), None, "1.0 where a>b else 0.0", _compare(">"))
GREATER_EQUAL = _binary("greater_equal", _mask(np.greater_equal), None, "1.0 where a>=b else 0.0",
                        _compare(">="))
EQUAL = _binary("equal", _mask(np.equal), None, "1.0 where a==b else 0.0", _compare("=="),
                 commutative=True)


def _select_reference(
    attrs: Mapping[str, Any], ctx: EvalContext, c: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    return np.where(c != 0, x, y).astype(np.result_type(x, y))


def _select_grad(n: Node, g: Node) -> list[Node | None]:
    cond, x, y = n.inputs
    return [
        None,
        b.unbroadcast(b.select(cond, g, 0.0), x.shape),
        b.unbroadcast(b.select(cond, 0.0, g), y.shape),
    ]


SELECT = register(
    OpDef("select", OpKind.ELEMENTWISE, 3, _broadcast_type, _select_reference, _select_grad,
          "x where cond != 0 else y",
          scalar=lambda s, node, c, x, y: s.where(s.compare("!=", c, s.constant(0.0, "float32")), x, y))
)


def _cast_type(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (x,) = types
    return TensorType(x.shape, attrs["dtype"])


def _cast_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray) -> np.ndarray:
    dtype = ctx.dtype if attrs["dtype"] == "float32" else np.dtype(attrs["dtype"])
    return x.astype(dtype)


def _cast_grad(n: Node, g: Node) -> list[Node | None]:
    """Gradients flow between floats only: an integer (a counter, an index) has none."""
    return [g] if n.type.is_float and n.inputs[0].type.is_float else [None]


CAST = register(
    OpDef("cast", OpKind.ELEMENTWISE, 1, _cast_type, _cast_reference, _cast_grad,
          "x converted to attrs['dtype']; float to integer rounds toward zero",
          scalar=lambda s, node, x: s.cast(x, node.inputs[0].type.dtype, node.type.dtype))
)
