"""Value types: tensors (static shapes except one symbolic batch dimension) and the tuples of them
that multi-output nodes produce.

The batch dimension is None (N rows) or a BatchMultiple (k * N rows: a sequence's T steps or an
image batch's frames folded into the batch, so one GEMM or kernel covers them all).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod


@dataclass(frozen=True)
class BatchMultiple:
    """k * N: a batch dimension holding k rows per sample (reshape (N, T, F) -> (T*N, F))."""

    k: int

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise ShapeError(f"a batch multiple is a whole number >= 1, got {self.k!r}")

    def __str__(self) -> str:
        return f"{self.k}N"


Dim = int | None | BatchMultiple


def is_batch(dim: Dim) -> bool:
    """N or a multiple of it."""
    return dim is None or isinstance(dim, BatchMultiple)


def batch_multiple(dim: Dim) -> int:
    """The k of k * N for a batch dimension, the size of a static one."""
    if dim is None:
        return 1
    return dim.k if isinstance(dim, BatchMultiple) else dim
SUPPORTED_DTYPES = ("float32", "int32", "int64")  # values; indices; counters that never freeze
_SHORT = {"float32": "f32", "int32": "i32", "int64": "i64"}
ITEMSIZE = {"float32": 4, "int32": 4, "int64": 8}


class ShapeError(ValueError):
    """A shape or dtype rule was violated while building or checking a graph."""


@dataclass(frozen=True)
class TensorType:
    """The type of a value; `None` in `shape` stands for the runtime batch size N."""

    shape: tuple[Dim, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.dtype not in SUPPORTED_DTYPES:
            raise ShapeError(f"unsupported dtype {self.dtype!r}; expected one of {SUPPORTED_DTYPES}")
        for dim in self.shape:
            if not is_batch(dim) and (not isinstance(dim, int) or dim < 0):
                raise ShapeError(f"bad dimension {dim!r} in shape {self.shape}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def has_batch(self) -> bool:
        return any(is_batch(d) for d in self.shape)

    @property
    def static_numel(self) -> int:
        """Number of elements per unit of batch (the static dims and the batch multiple)."""
        return prod(batch_multiple(d) for d in self.shape)

    def concrete(self, batch: int) -> tuple[int, ...]:
        return tuple(batch * batch_multiple(d) if is_batch(d) else d for d in self.shape)

    def numel(self, batch: int) -> int:
        return prod(self.concrete(batch))

    @property
    def is_float(self) -> bool:
        return self.dtype == "float32"

    @property
    def itemsize(self) -> int:
        return ITEMSIZE[self.dtype]

    def __str__(self) -> str:
        dims = ",".join("N" if d is None else str(d) for d in self.shape)
        return f"{_SHORT[self.dtype]}[{dims}]"


@dataclass(frozen=True)
class TupleType:
    """The type of a multi-output node (a scan's final carries and stacked per-step outputs).

    Such a node is never read directly: each of its values is taken by a `tuple_get` node, so
    passes and code generation that look at `.shape` only ever meet tensors. `static_numel`
    (the sum over parts) lets size heuristics treat it like any value.
    """

    parts: tuple[TensorType, ...]

    def __post_init__(self) -> None:
        if not self.parts or not all(isinstance(p, TensorType) for p in self.parts):
            raise ShapeError(f"a tuple type holds one or more tensor types, got {self.parts!r}")

    @property
    def shape(self) -> tuple[Dim, ...]:
        raise ShapeError(f"{self} has several values: take one with tuple_get")

    @property
    def dtype(self) -> str:
        raise ShapeError(f"{self} has several values: take one with tuple_get")

    @property
    def has_batch(self) -> bool:
        return any(p.has_batch for p in self.parts)

    @property
    def static_numel(self) -> int:
        return sum(p.static_numel for p in self.parts)

    @property
    def is_float(self) -> bool:
        return False

    def __len__(self) -> int:
        return len(self.parts)

    def __str__(self) -> str:
        return "(" + ", ".join(str(p) for p in self.parts) + ")"


ValueType = TensorType | TupleType


def scalar() -> TensorType:
    return TensorType(())


def broadcast_shapes(*shapes: tuple[Dim, ...]) -> tuple[Dim, ...]:
    """Numpy broadcasting where the batch dim N broadcasts only against N or 1."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    result: list[Dim] = []
    for axis_dims in zip(*padded, strict=True):
        out: Dim = 1
        for dim in axis_dims:
            if dim == 1:
                continue
            if out == 1:
                out = dim
            elif out != dim:
                raise ShapeError(f"shapes {[_fmt(s) for s in shapes]} do not broadcast")
        result.append(out)
    return tuple(result)


def _fmt(shape: tuple[Dim, ...]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def format_shape(shape: tuple[Dim, ...]) -> str:
    """Keras style: (None, 12)."""
    if len(shape) == 1:
        return "(" + ("None" if shape[0] is None else str(shape[0])) + ",)"
    return _fmt(shape)
