"""Functions that append primitive ops to a graph; the vocabulary of gradients and layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphc.ir.graph import Graph, Node
from graphc.ir.types import BatchMultiple, Dim, batch_multiple, is_batch


def unary(op: str, x: Node, **attrs: Any) -> Node:
    return x.graph.add(op, (x,), attrs)


def binary(op: str, a: Node, b: Any) -> Node:
    b = a.graph.operand(b, a.type.dtype)
    return a.graph.add(op, (a, b))


def cast(x: Node, dtype: str) -> Node:
    """x converted to `dtype` (float32, int32, int64); floats to integers round toward zero."""
    return x if x.type.dtype == dtype else x.graph.add("cast", (x,), {"dtype": dtype})


def exp(x: Node) -> Node:
    return unary("exp", x)


def log(x: Node) -> Node:
    return unary("log", x)


def tanh(x: Node) -> Node:
    return unary("tanh", x)


def sigmoid(x: Node) -> Node:
    return unary("sigmoid", x)


def abs_(x: Node) -> Node:
    return unary("abs", x)


def sqrt(x: Node) -> Node:
    return unary("sqrt", x)


def sign(x: Node) -> Node:
    return unary("sign", x)


def square(x: Node) -> Node:
    return x * x


def maximum(a: Node, b: Any) -> Node:
    return binary("maximum", a, b)


def minimum(a: Node, b: Any) -> Node:
    return binary("minimum", a, b)


def greater(a: Node, b: Any) -> Node:
    return binary("greater", a, b)


def greater_equal(a: Node, b: Any) -> Node:
    return binary("greater_equal", a, b)


def equal(a: Node, b: Any) -> Node:
    return binary("equal", a, b)


def select(cond: Node, a: Any, b: Any) -> Node:
    graph = cond.graph
    return graph.add("select", (cond, graph.operand(a), graph.operand(b)))


def clip(x: Node, low: Any, high: Any) -> Node:
    return minimum(maximum(x, low), high)


def reduce_sum(x: Node, axes: Sequence[int] | None = None, keepdims: bool = False) -> Node:
    return x.graph.add("reduce_sum", (x,), {"axes": _axes(x, axes), "keepdims": keepdims})


def reduce_max(x: Node, axes: Sequence[int] | None = None, keepdims: bool = False) -> Node:
    return x.graph.add("reduce_max", (x,), {"axes": _axes(x, axes), "keepdims": keepdims})


def reduce_mean(x: Node, axes: Sequence[int] | None = None, keepdims: bool = False) -> Node:
    """Sum divided by the element count, which involves N when the batch axis is reduced."""
    axes_t = _axes(x, axes)
    total = reduce_sum(x, axes_t, keepdims)
    static = 1
    uses_batch = False
    for axis in axes_t:
        dim = x.shape[axis]
        uses_batch = uses_batch or is_batch(dim)
        static *= batch_multiple(dim)
    result = total / float(static) if static != 1 else total
    return result / batch_size(x.graph) if uses_batch else result


def argmax(x: Node, axis: int = -1) -> Node:
    return x.graph.add("argmax", (x,), {"axis": axis % x.type.rank})


def matmul(a: Node, b: Node, transpose_a: bool = False, transpose_b: bool = False) -> Node:
    return a.graph.add("matmul", (a, b), {"transpose_a": transpose_a, "transpose_b": transpose_b})


def last_axis_matmul(x: Node, kernel: Node) -> Node:
    """x @ kernel along x's last axis for any rank: the other axes, batch included, are one axis of
    k * N rows (BatchMultiple), so it is one GEMM ((N, T, F) and time-major (T, N, F) alike)."""
    if x.type.rank == 2:
        return matmul(x, kernel)
    features = x.shape[-1]
    rows = reshape(x, (BatchMultiple(x.type.static_numel // features), features))
    return reshape(matmul(rows, kernel), (*x.shape[:-1], kernel.shape[1]))


def reshape(x: Node, shape: Sequence[Dim]) -> Node:
    if tuple(shape) == x.shape:
        return x
    return x.graph.add("reshape", (x,), {"shape": tuple(shape)})


def transpose(x: Node, perm: Sequence[int]) -> Node:
    return x.graph.add("transpose", (x,), {"perm": tuple(perm)})


def broadcast_to(x: Node, shape: Sequence[Dim]) -> Node:
    if tuple(shape) == x.shape:
        return x
    return x.graph.add("broadcast_to", (x,), {"shape": tuple(shape)})


def zeros(graph: Graph, shape: Sequence[Dim]) -> Node:
    """A float32 zero of `shape` (the batch axis included), broadcast from one constant."""
    return broadcast_to(graph.constant(0.0), shape)


def one_hot(indices: Node, depth: int) -> Node:
    return indices.graph.add("one_hot", (indices,), {"depth": depth})


def batch_size(graph: Graph) -> Node:
    return graph.add("batch_size")


def random_uniform(seed: Node, shape: Sequence[Dim], stream: int) -> Node:
    """Uniform [0, 1) values from a counter-based hash of (seed, stream, element index)."""
    return seed.graph.add("random_uniform", (seed,), {"shape": tuple(shape), "stream": stream})


def unbroadcast(grad: Node, shape: Sequence[Dim]) -> Node:
    """Sum a gradient over the axes along which an operand of `shape` was broadcast."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    lead = grad.type.rank - len(shape)
    axes = list(range(lead))
    for i, dim in enumerate(shape):
        if dim == 1 and grad.shape[lead + i] != 1:
            axes.append(lead + i)
    summed = reduce_sum(grad, axes, keepdims=False) if axes else grad
    return reshape(summed, shape)


def _axes(x: Node, axes: Sequence[int] | None) -> tuple[int, ...]:
    rank = x.type.rank
    if axes is None:
        return tuple(range(rank))
    if isinstance(axes, int):
        axes = (axes,)
    normalized = sorted({a % rank for a in axes}) if rank else []
    return tuple(normalized)


def slice_(x: Node, begin: Sequence[int], size: Sequence[Dim], strides: Sequence[int] | None = None) -> Node:
    """size[axis] elements of each axis from begin[axis], in steps of strides[axis] (default 1, the
    window [begin, begin+size); -1 reverses); the batch axis is taken whole, its size given as None
    or as the operand's own (N or k * N), so a caller may pass an operand's shape."""
    size = tuple(None if is_batch(d) and s == d else s for d, s in zip(x.shape, size, strict=True))
    whole = tuple(None if is_batch(d) else d for d in x.shape)
    unit = strides is None or all(step == 1 for step in strides)
    if unit and tuple(begin) == (0,) * len(begin) and size == whole:
        return x
    attrs = {"begin": tuple(begin), "size": tuple(size)}
    return x.graph.add("slice", (x,), attrs if unit else {**attrs, "strides": tuple(strides)})


def pad(x: Node, pads: Sequence[tuple[int, int]], value: float = 0.0) -> Node:
    if all(tuple(p) == (0, 0) for p in pads):
        return x
    return x.graph.add("pad", (x,), {"pads": tuple(tuple(p) for p in pads), "value": float(value)})


def concatenate(xs: Sequence[Node], axis: int = -1) -> Node:
    if len(xs) == 1:
        return xs[0]
    return xs[0].graph.add("concatenate", tuple(xs), {"axis": axis % xs[0].type.rank})


def gather(params: Node, indices: Node, axis: int = 0) -> Node:
    return params.graph.add("gather", (params, indices), {"axis": axis % params.type.rank})


def scatter_add(target: Node, indices: Node, updates: Node, axis: int = 0) -> Node:
    return target.graph.add("scatter_add", (target, indices, updates), {"axis": axis % target.type.rank})


def batch_matmul(a: Node, b: Node, transpose_a: bool = False, transpose_b: bool = False) -> Node:
    """One product per index of the leading axis; transposes swap the last two axes."""
    return a.graph.add("batch_matmul", (a, b), {"transpose_a": transpose_a, "transpose_b": transpose_b})
