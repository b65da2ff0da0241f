"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot, and their
functional forms (`add([a, b])`, `concatenate([a, b], axis=1)`, ...).

A merge layer is called on a list of tensors. Elementwise merges broadcast as Keras 3's do (sizes
equal, or 1, per axis); the batch axis never broadcasts. Each is built from primitive ops, so
its gradient comes from theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Any

from graphc.frontend.layers.base import CallContext, KerasTensor, Layer
from graphc.ir.graph import Graph, Node
from graphc.ir.types import Dim, ShapeError, TensorType, format_shape
from graphc.ops import builders as b


class Merge(Layer):
    """The base of the merge layers: a list of inputs in, one tensor out."""

    takes_list = True
    supports_masking = True
    arity: int | None = None  # an exact number of inputs, where the layer needs one

    def __call__(self, inputs: Any, training: Any = None, **kwargs: Any) -> KerasTensor:  # type: ignore[override]
        if (not isinstance(inputs, (list, tuple)) or not inputs
                or not all(isinstance(t, KerasTensor) for t in inputs)):
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}): a merge layer should be called "
                             f"on a list of symbolic tensors, got {type(inputs).__name__}")
        shape = self.output_shape_for([t.shape for t in inputs])
        self.output_shape = shape
        return KerasTensor(shape, self, list(inputs))

    def output_shape_for(self, input_shape: Any) -> tuple[Dim, ...]:  # type: ignore[override]
        shapes = [tuple(s) for s in input_shape]
        if self.arity is not None and len(shapes) != self.arity:
            raise ValueError(f"layer {self.name!r}: a `{type(self).__name__}` layer should be called on "
                             f"exactly {self.arity} inputs, got {len(shapes)}")
        if not self.built:
            self.built = True
            self.input_shape = tuple(shapes)  # type: ignore[assignment]
        graph = Graph(f"shape-of-{self.name}")
        xs = [graph.input(f"x{i}", TensorType(shape)) for i, shape in enumerate(shapes)]
        try:
            return self.record(xs, CallContext(graph, training=False)).shape
        except ShapeError as err:
            given = ", ".join(format_shape(s) for s in shapes)
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) cannot merge inputs of shapes "
                             f"[{given}]: {err}") from None

    def record(self, x: Any, ctx: CallContext) -> Node:
        with ctx.graph.scope(layer=self.name):
            return self.merge(list(x))

    def merge(self, xs: list[Node]) -> Node:
        raise NotImplementedError

    def call(self, x: Any, ctx: CallContext) -> Node:
        return self.merge(list(x))


def _elementwise(xs: Sequence[Node], combine: Any) -> Node:
    for x in xs[1:]:
        if x.shape[0] != xs[0].shape[0]:
            raise ShapeError(f"the batch axes differ: {format_shape(xs[0].shape)} and "
                             f"{format_shape(x.shape)}")
    return reduce(combine, xs)


class Add(Merge):
    def merge(self, xs: list[Node]) -> Node:
        return _elementwise(xs, lambda a, c: a + c)


class Subtract(Merge):
    arity = 2

    def merge(self, xs: list[Node]) -> Node:
        return _elementwise(xs, lambda a, c: a - c)


class Multiply(Merge):
    def merge(self, xs: list[Node]) -> Node:
        return _elementwise(xs, lambda a, c: a * c)


class Average(Merge):
    def merge(self, xs: list[Node]) -> Node:
        return _elementwise(xs, lambda a, c: a + c) * (1.0 / len(xs))


class Maximum(Merge):
    def merge(self, xs: list[Node]) -> Node:
        return _elementwise(xs, b.maximum)


class Minimum(Merge):
    def merge(self, xs: list[Node]) -> Node:
        return _elementwise(xs, b.minimum)


class Concatenate(Merge):
    """Joined along `axis` (not the batch axis); every other axis must agree."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Concatenate: `axis` must be an int, got {axis!r}")
        self.axis = axis

    def merge(self, xs: list[Node]) -> Node:
        rank = xs[0].type.rank
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 0 < axis < rank:
            raise ShapeError(f"axis {self.axis} is not a sample axis of rank-{rank} inputs")
        return xs[0] if len(xs) == 1 else b.concatenate(xs, axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """The dot product of two (batch, d) inputs per sample: (batch, 1); `normalize` makes it the
    cosine similarity (each input L2-normalized first, as Keras does with epsilon 1e-12)."""

    arity = 2

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pair = (axes, axes) if isinstance(axes, int) else tuple(axes)
        if len(pair) != 2 or not all(isinstance(a, int) and not isinstance(a, bool) for a in pair):
            raise ValueError(f"Dot: `axes` must be an int or a pair of ints, got {axes!r}")
        self.axes = axes if isinstance(axes, int) else list(pair)
        self._pair = pair
        self.normalize = bool(normalize)

    def merge(self, xs: list[Node]) -> Node:
        a, c = xs
        if a.type.rank != 2 or c.type.rank != 2:
            raise ShapeError("graphc's Dot takes (batch, features) inputs; inputs of rank "
                             f"{a.type.rank} and {c.type.rank} are not supported yet")
        if any(axis % 2 != 1 for axis in self._pair):
            raise ShapeError(f"axes {self.axes} would reduce the batch axis")
        if a.shape[1] != c.shape[1]:
            raise ShapeError(f"the reduced axes differ: {a.shape[1]} and {c.shape[1]}")
        if self.normalize:
            a, c = _l2_normalize(a), _l2_normalize(c)
        return b.reduce_sum(a * c, (1,), keepdims=True)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _l2_normalize(x: Node) -> Node:
    squares = b.reduce_sum(x * x, (1,), keepdims=True)
    return x / b.sqrt(b.maximum(squares, 1e-12))


def _functional(cls: type[Merge]) -> Any:
    def merge(inputs: Sequence[KerasTensor], *args: Any, **kwargs: Any) -> KerasTensor:
        return cls(*args, **kwargs)(inputs)

    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"`{cls.__name__}(**kwargs)(inputs)`, Keras's functional form."
    return merge


add, subtract, multiply, average = _functional(Add), _functional(Subtract), _functional(Multiply), \
    _functional(Average)
maximum, minimum, concatenate, dot = _functional(Maximum), _functional(Minimum), _functional(Concatenate), \
    _functional(Dot)
MERGE_LAYERS = (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot)
