"""One or more small graphs per primitive op, shared by the op, gradient and codegen tests.

Each case names the op it exercises, its operand shapes (None = batch), a function that
records the op into a graph, and how to draw operand values (positive, away from ties...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from graphc.ir.graph import Graph, Node
from graphc.ir.types import Dim, TensorType
from graphc.ops import builders as b
from graphc.ops.convolution import CONV2D, CONV2D_FILTER_GRAD, CONV2D_INPUT_GRAD, POOL2D, POOL2D_GRAD, Window
from graphc.ops.scan import scan


@dataclass(frozen=True)
class OpCase:
    op: str
    shapes: Sequence[tuple[Dim, ...]]
    record: Callable[..., Node]
    # normal | positive | mask_first | mask_last | classes | seed | ints | counter | indices
    draw: str = "normal"
    differentiable: bool = True
    label: str = ""
    dtypes: Sequence[str] = ()  # per operand; float32 where not given

    @property
    def id(self) -> str:
        return f"{self.op}-{self.label}" if self.label else self.op

    def is_mask(self, i: int) -> bool:
        """Whether operand i is a mask: drawn as 0/1 values and not differentiated."""
        last = len(self.shapes) - 1
        return self.draw == "mask_first" and i == 0 or self.draw == "mask_last" and i == last


CONV_GEOMETRIES = [
    ("same-3x3", (3, 3), {"strides": (1, 1), "dilation": (1, 1), "padding": ((1, 1), (1, 1))}),
    ("valid-strided", (3, 2), {"strides": (2, 3), "dilation": (1, 1), "padding": ((0, 0), (0, 0))}),
    ("dilated-uneven-pad", (2, 3), {"strides": (1, 2), "dilation": (2, 2), "padding": ((0, 1), (2, 1))}),
    ("pointwise", (1, 1), {"strides": (1, 1), "dilation": (1, 1), "padding": ((0, 0), (0, 0))}),
]
POOL_ATTRS = [
    ("max-2x2", {"mode": "max", "pool_size": (2, 2), "strides": (2, 2), "padding": ((0, 0), (0, 0))}),
    ("max-3x3-same", {"mode": "max", "pool_size": (3, 3), "strides": (2, 2), "padding": ((1, 1), (0, 1))}),
    ("avg-2x2", {"mode": "avg", "pool_size": (2, 2), "strides": (2, 2), "padding": ((0, 0), (0, 0))}),
    ("avg-3x2-same", {"mode": "avg", "pool_size": (3, 2), "strides": (1, 2), "padding": ((1, 1), (0, 0))}),
]


def _conv_out(height: int, width: int, kh: int, kw: int, geometry: dict) -> tuple[int, int]:
    window = Window((kh, kw), geometry["strides"], geometry["dilation"], geometry["padding"])
    return window.output(height, width)


def _pool_out(height: int, width: int, attrs: dict) -> tuple[int, int]:
    window = Window(attrs["pool_size"], attrs["strides"], (1, 1), attrs["padding"])
    return window.output(height, width)


def _unary(op: str, draw: str = "normal", differentiable: bool = True) -> OpCase:
    return OpCase(op, [(None, 3)], lambda x: b.unary(op, x), draw, differentiable)


def _binary(op: str, shapes: Sequence[tuple[Dim, ...]], label: str, differentiable: bool = True) -> OpCase:
    return OpCase(op, shapes, lambda x, y: b.binary(op, x, y), "normal", differentiable, label)


CASES: list[OpCase] = [
    _unary("neg"), _unary("exp"), _unary("log", "positive"), _unary("tanh"), _unary("sigmoid"),
    _unary("abs"), _unary("sqrt", "positive"), _unary("sign", differentiable=False),
    *[_binary(op, [(None, 3), (3,)], "row") for op in ("add", "sub", "mul", "maximum", "minimum")],
    *[_binary(op, [(None, 1), (1, 4)], "outer") for op in ("add", "mul")],
    _binary("div", [(None, 3), (None, 3)], "same"),
    *[_binary(op, [(None, 3), (3,)], "row", differentiable=False)
      for op in ("greater", "greater_equal", "equal")],
    OpCase("select", [(None, 3), (None, 3), (3,)], lambda c, x, y: b.select(c, x, y), "mask_first"),
    OpCase("reduce_sum", [(None, 4)], lambda x: b.reduce_sum(x, [1]), label="rows"),
    OpCase("reduce_sum", [(None, 4)], lambda x: b.reduce_sum(x, [0], keepdims=True), label="batch-keep"),
    OpCase("reduce_sum", [(None, 2, 3)], lambda x: b.reduce_sum(x, [0, 2]), label="two-axes"),
    OpCase("reduce_max", [(None, 5)], lambda x: b.reduce_max(x, [1], keepdims=True), label="rows"),
    OpCase("reduce_max", [(None, 5)], lambda x: b.reduce_max(x, [0]), label="batch"),
    OpCase("argmax", [(None, 5)], lambda x: b.argmax(x, -1), differentiable=False),
    *[OpCase("matmul", [sa, sb], lambda x, y, ta=ta, tb=tb: b.matmul(x, y, ta, tb), label=f"{ta:d}{tb:d}")
      for ta, tb, sa, sb in [(False, False, (None, 3), (3, 4)), (True, False, (None, 3), (None, 4)),
                             (False, True, (None, 3), (4, 3)), (True, True, (3, 5), (4, 3))]],
    *[OpCase("batch_matmul", [sa, sb], lambda x, y, ta=ta, tb=tb: b.batch_matmul(x, y, ta, tb),
             label=f"{ta:d}{tb:d}")
      for ta, tb, sa, sb in [(False, False, (None, 2, 3), (None, 3, 4)),
                             (True, False, (None, 3, 2), (None, 3, 4)),
                             (False, True, (2, 2, 3), (2, 4, 3)),
                             (True, True, (None, 3, 2), (None, 4, 3))]],
    OpCase("reshape", [(None, 2, 3)], lambda x: b.reshape(x, (None, 6))),
    OpCase("transpose", [(None, 2, 3)], lambda x: b.transpose(x, (0, 2, 1))),
    OpCase("broadcast_to", [(1, 3)], lambda x: b.broadcast_to(x, (None, 3))),
    OpCase("one_hot", [(None,)], lambda x: b.one_hot(x, 4), "classes", differentiable=False),
    OpCase("random_uniform", [()], lambda s: b.random_uniform(s, (None, 7), stream=3), "seed",
           differentiable=False, dtypes=["int64"]),
    OpCase("cast", [(None, 3)], lambda x: b.cast(x, "int64") + 3, label="to-int64", differentiable=False),
    OpCase("cast", [(None, 3)], lambda x: b.cast(x, "int32"), label="to-int32", differentiable=False),
    OpCase("cast", [(None, 3)], lambda x: b.cast(x, "float32") * 0.5, "ints", label="from-int64",
           differentiable=False, dtypes=["int64"]),
    *[OpCase(op, [(None, 3), (3,)], lambda x, y, op=op: b.binary(op, x, y), "ints", label="int64",
             differentiable=False, dtypes=["int64", "int64"]) for op in ("add", "sub", "mul")],
    OpCase("add", [()], lambda c: c + 1, "counter", label="counter", differentiable=False, dtypes=["int64"]),
    OpCase("batch_size", [(None, 2)], lambda x: x * b.batch_size(x.graph), label="scaled"),
    OpCase("constant", [(None, 2)], lambda x: x + x.graph.constant(np.array([0.5, -2.0]))),
    OpCase("slice", [(None, 3, 5)], lambda x: b.exp(b.slice_(x, (0, 1, 2), (None, 2, 2))), label="fused"),
    OpCase("slice", [(4, None, 6)], lambda x: b.slice_(x, (1, 0, 3), (2, None, 3)) * 2.0,
           label="before-batch"),
    OpCase("slice", [(None, 6)],
           lambda x: b.slice_(b.tanh(x), (0, 1), (None, 4)) + b.slice_(x, (0, 0), (None, 4)),
           label="two-windows"),
    OpCase("slice", [(None, 7, 5)], lambda x: b.slice_(x, (0, 1, 4), (None, 3, 3), (1, 2, -2)) * 1.5,
           label="strided"),
    OpCase("slice", [(None, 6)], lambda x: b.slice_(b.exp(x), (0, 5), (None, 6), (1, -1)) - x,
           label="reversed-fused"),
    OpCase("slice", [(5, None, 8)], lambda x: b.tanh(b.slice_(x, (4, 0, 1), (3, None, 3), (-2, 1, 3))),
           label="strided-before-batch"),
    OpCase("slice", [(None, 9)],  # a reversed strided window under a pad, beside a plain window
           lambda x: b.pad(b.slice_(x, (0, 8), (None, 3), (1, -3)), ((0, 0), (2, 1))) + x[:, 1:7],
           label="strided-in-pad"),
    OpCase("pad", [(None, 2, 3)], lambda x: b.pad(x, ((0, 0), (1, 0), (2, 1))), label="zeros"),
    OpCase("pad", [(None, 3)], lambda x: b.pad(b.exp(x), ((0, 0), (1, 2)), value=-1.5), label="value"),
    OpCase("concatenate", [(None, 2), (None, 3), (None, 1)], lambda x, y, z: b.concatenate([x, y, z], -1),
           label="features"),
    OpCase("concatenate", [(2, None, 3), (1, None, 3)], lambda x, y: b.concatenate([x, y], 0),
           label="before-batch"),
    OpCase("gather", [(5, 3), (None, 4)], lambda p, i: b.gather(p, i, 0), "indices", label="rows",
           dtypes=["float32", "int32"]),
    OpCase("gather", [(None, 6), (2,)], lambda p, i: b.exp(b.gather(p, i, 1)), "indices", label="columns",
           dtypes=["float32", "int64"]),
    OpCase("scatter_add", [(5, 3), (None,), (None, 3)], lambda t, i, u: b.scatter_add(t, i, u, 0), "indices",
           label="rows", dtypes=["float32", "int32", "float32"]),
    *[OpCase("conv2d", [(None, 6, 7, 3), (kh, kw, 3, 4)],
             lambda x, w, geometry=geometry: CONV2D(x, w, **geometry), label=label)
      for label, (kh, kw), geometry in CONV_GEOMETRIES],
    *[OpCase("conv2d_input_grad", [(None, *_conv_out(6, 7, kh, kw, geometry), 4), (kh, kw, 3, 4)],
             lambda g, w, geometry=geometry: CONV2D_INPUT_GRAD(g, w, input_size=(6, 7), **geometry),
             label=label)
      for label, (kh, kw), geometry in CONV_GEOMETRIES],
    *[OpCase("conv2d_filter_grad", [(None, 6, 7, 3), (None, *_conv_out(6, 7, kh, kw, geometry), 4)],
             lambda x, g, size=(kh, kw), geometry=geometry:
                 CONV2D_FILTER_GRAD(x, g, kernel_size=size, **geometry),
             label=label)
      for label, (kh, kw), geometry in CONV_GEOMETRIES],
    *[OpCase("pool2d", [(None, 7, 6, 3)], lambda x, attrs=attrs: POOL2D(x, **attrs), label=label)
      for label, attrs in POOL_ATTRS],
    *[OpCase("pool2d_grad", [(None, 7, 6, 3), (None, *_pool_out(7, 6, attrs), 3)],
             lambda x, g, attrs=attrs: POOL2D_GRAD(x, g, **attrs), label=label,
             differentiable=attrs["mode"] == "avg")
      for label, attrs in POOL_ATTRS],
]


def case_inputs(case: OpCase, graph: Graph, prefix: str = "in") -> list[Node]:
    """The case's operands as inputs <prefix>0, <prefix>1, ... of `graph`, in their dtypes."""
    dtypes = list(case.dtypes) or ["float32"] * len(case.shapes)
    return [graph.input(f"{prefix}{i}", TensorType(shape, dtype))
            for i, (shape, dtype) in enumerate(zip(case.shapes, dtypes, strict=True))]


def build(case: OpCase) -> Graph:
    graph = Graph(case.id)
    graph.outputs["out"] = case.record(*case_inputs(case, graph))
    return graph


def draw(case: OpCase, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    feeds = {}
    for i, shape in enumerate(case.shapes):
        concrete = TensorType(shape).concrete(batch)
        if case.draw == "positive":
            value = rng.uniform(0.5, 2.0, concrete)
        elif case.draw == "mask_first" and i == 0 or case.draw == "mask_last" and i == len(case.shapes) - 1:
            value = (rng.uniform(size=concrete) > 0.5).astype(np.float64)
        elif case.draw == "classes":
            value = rng.integers(0, 4, concrete).astype(np.float64)
        elif case.draw == "seed":
            value = np.array(rng.integers(0, 2**62), dtype=np.int64)
        elif case.draw == "ints":
            value = rng.integers(-2**40, 2**40, concrete, dtype=np.int64)
        elif case.draw == "indices" and case.dtypes[i] != "float32":  # repeats included
            value = rng.integers(0, 5, concrete).astype(case.dtypes[i])
        elif case.draw == "counter":  # past where a float32 counter stops moving
            value = np.array(2**24 + int(rng.integers(0, 1000)), dtype=np.int64)
        else:
            # Spread values so that no two are within finite-difference reach of a tie or a kink.
            value = rng.permutation(np.linspace(-2.0, 2.0, int(np.prod(concrete)) or 1))[
                : int(np.prod(concrete))].reshape(concrete) + rng.uniform(-0.01, 0.01, concrete)
            value[np.abs(value) < 0.05] += 0.1
        feeds[f"in{i}"] = value
    return feeds


SCAN_STEPS = 3


def _rnn_body(units: int, features: int) -> Graph:
    """h' = tanh(x w + h u); ys: h' and h' * x[:, :1] (a second per-step value)."""
    body = Graph("cell")
    h = body.input("h", TensorType((None, units)))
    x = body.input("x", TensorType((None, features)))
    w, u = body.input("w", TensorType((features, units))), body.input("u", TensorType((units, units)))
    new = b.tanh(b.matmul(x, w) + b.matmul(h, u))
    body.outputs.update(h=new, y=new, gated=new * b.slice_(x, (0, 0), (None, 1)))
    return body


def _scan_case(label: str, pick: int, **flags: bool) -> OpCase:
    def record(xs: Node, h0: Node, w: Node, u: Node) -> Node:
        values = scan([h0], [xs], [w, u], _rnn_body(4, 3), **flags)
        return values[pick] if pick == 0 else values[1] + values[2] * 0.5

    return OpCase("tuple_get" if pick == 0 else "scan", [(SCAN_STEPS, None, 3), (None, 4), (3, 4), (4, 4)],
                  record, label=label)


CASES += [_scan_case("rnn", 1), _scan_case("rnn-reverse-history", 1, reverse=True, history=True),
          _scan_case("final-carry", 0)]
