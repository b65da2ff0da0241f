"""The scalar language pointwise ops are written in, so an op states its element formula once.

An op's `scalar(s, node, *args)` rule computes one element of the node from its operands'
elements (`args`) with the methods of `s`. Code generation supplies an `s` that emits LLVM
IR (graphc.codegen.lowering.pointwise.ScalarSite); the values are opaque to the op. Floats are
IEEE float32 without fast-math; integer arithmetic wraps, as numpy's does.
"""

from __future__ import annotations

from typing import Any, Protocol

Value = Any


class Scalar(Protocol):
    """Element-level operations; comparisons give predicates that `where` and `mask` consume."""

    def constant(self, value: float | int, dtype: str) -> Value: ...

    def batch(self) -> Value:
        """The runtime batch size N as a float32."""
        ...

    def index(self, stream: int) -> Value:
        """The int64 offset of the op's index stream `stream` (see OpDef.index_streams)."""
        ...

    def add(self, x: Value, y: Value) -> Value: ...

    def sub(self, x: Value, y: Value) -> Value: ...

    def mul(self, x: Value, y: Value) -> Value: ...

    def div(self, x: Value, y: Value) -> Value: ...

    def neg(self, x: Value) -> Value: ...

    def math(self, fn: str, x: Value) -> Value:
        """exp, log, tanh, sigmoid, sqrt or abs of a float32."""
        ...

    def maximum(self, x: Value, y: Value) -> Value:
        """NaN-propagating, as numpy.maximum."""
        ...

    def minimum(self, x: Value, y: Value) -> Value: ...

    def compare(self, relation: str, x: Value, y: Value) -> Value:
        """`<`, `<=`, `>`, `>=`, `==` or `!=` (ordered: false when either is NaN, except `!=`)."""
        ...

    def in_range(self, index: Value, low: int, high: int) -> Value:
        """low <= index < high for an int64 index (from `index`)."""
        ...

    def both(self, p: Value, q: Value) -> Value:
        """Both predicates hold."""
        ...

    def where(self, predicate: Value, x: Value, y: Value) -> Value: ...

    def mask(self, predicate: Value) -> Value:
        """1.0 where the predicate holds, else 0.0."""
        ...

    def cast(self, x: Value, source: str, target: str) -> Value:
        """Between float32, int32 and int64; float to integer rounds toward zero."""
        ...
