"""Data movement with offsets: slice (a window read at an offset) and pad (a guarded read around
the operand) fuse into their consumers; concatenate, gather and scatter_add are kernels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc.ir.affine import Sym, unit_stride
from graphc.ir.graph import Node
from graphc.ir.types import ShapeError, TensorType, is_batch
from graphc.ops import builders as b
from graphc.ops.registry import EvalContext, Fusion, OpDef, OpKind, every_row, register
from graphc.ops.scalar import Scalar, Value


def slice_strides(attrs: Mapping[str, Any]) -> tuple[int, ...]:
    """A slice's step along each axis (all 1 unless the slice says `strides`)."""
    return tuple(attrs.get("strides") or (1,) * len(attrs["begin"]))


def _slice_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    begin, size, strides = tuple(attrs["begin"]), tuple(attrs["size"]), slice_strides(attrs)
    if len(begin) != t.rank or len(size) != t.rank or len(strides) != t.rank:
        raise ShapeError(f"slice of {t}: begin {begin}, size {size} and strides {strides} need one entry per "
                         f"axis ({t.rank})")
    for axis, (dim, start, length, step) in enumerate(zip(t.shape, begin, size, strides, strict=True)):
        if is_batch(dim):
            if start != 0 or length is not None or step != 1:
                raise ShapeError(f"slice of {t}: the batch axis {axis} is taken whole (begin 0, size None, "
                                 f"stride 1), got begin {start}, size {length}, stride {step}")
            continue
        last = None if length is None else start + step * (length - 1)
        if (not isinstance(step, int) or step == 0 or length is None or length < 0
                or (length == 0 and not 0 <= start <= dim)
                or (length > 0 and not (0 <= start < dim and 0 <= last < dim))):
            raise ShapeError(f"slice of {t}: axis {axis} of size {dim} cannot give {length} elements from "
                             f"{start} in steps of {step}")
    return TensorType(tuple(d if is_batch(d) else s for d, s in zip(t.shape, size, strict=True)), t.dtype)


def _slice_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray) -> np.ndarray:
    for axis, (start, length, step) in enumerate(zip(attrs["begin"], attrs["size"], slice_strides(attrs),
                                                     strict=True)):
        if length is not None:
            x = np.take(x, start + step * np.arange(length, dtype=np.int64), axis=axis)
    return np.ascontiguousarray(x)


def _slice_grad(n: Node, g: Node) -> list[Node]:
    """The gradient in place of the read elements, zeros elsewhere: a pad for unit steps; along a
    strided axis, each element followed by k - 1 zeros (pad and reshape), reversed first for k < 0."""
    x = n.inputs[0]
    begin = list(n.attrs["begin"])
    for axis, step in enumerate(slice_strides(n.attrs)):
        if step != 1:
            g = _spread(g, axis, begin[axis], step, x.shape[axis])
            begin[axis] = 0
    pads = tuple((0, 0) if is_batch(d) else (start, d - start - s)
                 for d, start, s in zip(x.shape, begin, g.shape, strict=True))
    return [b.pad(g, pads)]


def _spread(g: Node, axis: int, start: int, step: int, extent: int) -> Node:
    """g's elements j at start + step * j along `axis` of a zero axis of `extent` elements."""
    count = g.shape[axis]
    if step < 0:  # the same elements read upwards from the last one, in reverse order
        flip = [-1 if a == axis else 1 for a in range(g.type.rank)]
        g = b.slice_(g, [count - 1 if a == axis else 0 for a in range(g.type.rank)], g.shape, flip)
        start, step = start + step * (count - 1), -step
    if step > 1:
        shape = list(g.shape)
        g = b.reshape(g, (*shape[:axis + 1], 1, *shape[axis + 1:]))
        g = b.pad(g, [(0, step - 1) if a == axis + 1 else (0, 0) for a in range(g.type.rank)])
        g = b.reshape(g, (*shape[:axis], count * step, *shape[axis + 1:]))
        kept = min(count * step, extent - start)
        g = b.slice_(g, [0] * g.type.rank, [kept if a == axis else d for a, d in enumerate(g.shape)])
    return b.pad(g, [(start, extent - start - g.shape[axis]) if a == axis else (0, 0)
                     for a in range(g.type.rank)])


SLICE = register(
    OpDef("slice", OpKind.LAYOUT, 1, _slice_infer, _slice_reference, _slice_grad,
          "size[axis] elements of each axis from begin[axis] in steps of strides[axis] (default 1; -1 "
          "reverses); the batch axis whole",
          scalar=lambda s, node, x: x, offsets=lambda node, operand: tuple(node.attrs["begin"]),
          scales=lambda node, operand: slice_strides(node.attrs))
)


def _pad_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    pads = tuple(tuple(p) for p in attrs["pads"])
    if len(pads) != t.rank or any(len(p) != 2 or min(p) < 0 for p in pads):
        raise ShapeError(f"pad of {t}: pads {pads} need one (before, after) pair of counts >= 0 per axis")
    for axis, (dim, p) in enumerate(zip(t.shape, pads, strict=True)):
        if is_batch(dim) and p != (0, 0):
            raise ShapeError(f"pad of {t}: the batch axis {axis} cannot be padded, got {p}")
    shape = tuple(d if is_batch(d) else d + lo + hi for d, (lo, hi) in zip(t.shape, pads, strict=True))
    return TensorType(shape, t.dtype)


def _pad_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray) -> np.ndarray:
    return np.pad(x, tuple(tuple(p) for p in attrs["pads"]), constant_values=attrs["value"])


def _pad_grad(n: Node, g: Node) -> list[Node]:
    x = n.inputs[0]
    begin = tuple(lo for lo, _ in n.attrs["pads"])
    return [b.slice_(g, begin, x.shape)]


def _padded_axes(node: Node) -> list[int]:
    return [axis for axis, pad in enumerate(node.attrs["pads"]) if tuple(pad) != (0, 0)]


def _axis_counters(node: Node) -> list[tuple[Sym, ...]]:
    """One counter per padded axis: the element's index along it."""
    return [unit_stride(node.type.rank, axis) for axis in _padded_axes(node)]


def _pad_scalar(s: Scalar, node: Node, x: Value) -> Value:
    """x where every padded index falls inside the operand, else the pad value (the operand's
    load there is kept inside its buffer by the loop's guard and its value discarded)."""
    inside = None
    for k, axis in enumerate(_padded_axes(node)):
        low = node.attrs["pads"][axis][0]
        ok = s.in_range(s.index(k), low, low + node.inputs[0].shape[axis])
        inside = ok if inside is None else s.both(inside, ok)
    return x if inside is None else s.where(inside, x, s.constant(node.attrs["value"], node.type.dtype))


PAD = register(
    OpDef("pad", OpKind.LAYOUT, 1, _pad_infer, _pad_reference, _pad_grad,
          "`value` around the operand: pads[axis] = (before, after) elements; fuses with its consumers",
          scalar=_pad_scalar, offsets=lambda node, operand: tuple(-lo for lo, _ in node.attrs["pads"]),
          index_streams=_axis_counters, row_local=every_row)  # the batch axis is never padded
)


def _concat_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    if not types:
        raise ShapeError("concatenate needs at least one operand")
    first = types[0]
    axis = attrs["axis"]
    if not 0 <= axis < first.rank or is_batch(first.shape[axis]):
        raise ShapeError(f"concatenate along axis {axis} of {first}: the axis must exist and not be "
                         "the batch axis")
    def off_axis(t: TensorType) -> list[int | None]:
        return [d for i, d in enumerate(t.shape) if i != axis]

    for t in types[1:]:
        if t.rank != first.rank or t.dtype != first.dtype or off_axis(t) != off_axis(first):
            raise ShapeError(f"concatenate along axis {axis}: {t} does not match {first} off that axis")
    total = sum(t.shape[axis] for t in types)
    return TensorType(first.shape[:axis] + (total,) + first.shape[axis + 1:], first.dtype)


def _concat_reference(attrs: Mapping[str, Any], ctx: EvalContext, *xs: np.ndarray) -> np.ndarray:
    return np.concatenate(xs, axis=attrs["axis"])


def _concat_grad(n: Node, g: Node) -> list[Node]:
    axis = n.attrs["axis"]
    grads, start = [], 0
    for x in n.inputs:
        begin = tuple(start if i == axis else 0 for i in range(x.type.rank))
        grads.append(b.slice_(g, begin, x.shape))
        start += x.shape[axis]
    return grads


CONCATENATE = register(
    OpDef("concatenate", OpKind.LAYOUT, None, _concat_infer, _concat_reference, _concat_grad,
          "the operands one after the other along `axis` (not the batch axis)", fusion=Fusion.KERNEL,
          row_local=every_row)
)


def _indexed_shape(data: TensorType, indices: TensorType, axis: int, op: str) -> tuple[int | None, ...]:
    if indices.dtype not in ("int32", "int64"):
        raise ShapeError(f"{op}: indices must be int32 or int64, got {indices}")
    if not 0 <= axis < data.rank or is_batch(data.shape[axis]):
        raise ShapeError(f"{op} along axis {axis} of {data}: the axis must exist and not be the batch axis")
    shape = data.shape[:axis] + indices.shape + data.shape[axis + 1:]
    if shape.count(None) > 1:
        raise ShapeError(f"{op}: {data} indexed by {indices} would have two batch axes")
    return shape


def _gather_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    params, indices = types
    return TensorType(_indexed_shape(params, indices, attrs["axis"], "gather"), params.dtype)


def check_indices(indices: np.ndarray, size: int, op: str) -> None:
    """Every index in [0, size), else an IndexError naming the first bad one and its position."""
    bad = np.flatnonzero((indices < 0) | (indices >= size))
    if bad.size:
        position = np.unravel_index(bad[0], indices.shape)
        raise IndexError(f"{op}: index {int(indices[position])} at position {tuple(map(int, position))} "
                         f"is out of range [0, {size})")


def _gather_reference(attrs: Mapping[str, Any], ctx: EvalContext, params: np.ndarray,
                      indices: np.ndarray) -> np.ndarray:
    check_indices(indices, params.shape[attrs["axis"]], "gather")
    return np.take(params, indices, axis=attrs["axis"])


def _gather_grad(n: Node, g: Node) -> list[Node | None]:
    params, indices = n.inputs
    zeros = b.broadcast_to(params.graph.constant(np.zeros((1,) * params.type.rank, np.float32)), params.shape)
    return [b.scatter_add(zeros, indices, g, n.attrs["axis"]), None]


GATHER = register(
    OpDef("gather", OpKind.INDEXING, 2, _gather_infer, _gather_reference, _gather_grad,
          "numpy.take(params, indices, axis): rows picked by int indices; out-of-range indices read "
          "nothing (the kernel gives 0) and the reference raises", fusion=Fusion.KERNEL,
          row_local=every_row)  # the indexed axis is never the batch
)


def _scatter_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    target, indices, updates = types
    shape = _indexed_shape(target, indices, attrs["axis"], "scatter_add")
    if updates.shape != shape or updates.dtype != target.dtype:
        raise ShapeError(f"scatter_add: updates must be {TensorType(shape, target.dtype)} for {target} "
                         f"indexed by {indices}, got {updates}")
    return target


def _scatter_reference(attrs: Mapping[str, Any], ctx: EvalContext, target: np.ndarray, indices: np.ndarray,
                       updates: np.ndarray) -> np.ndarray:
    axis = attrs["axis"]
    check_indices(indices, target.shape[axis], "scatter_add")
    out = np.array(target, copy=True)
    outer = target.shape[:axis]
    for position in np.ndindex(*outer):
        np.add.at(out[position], indices, updates[position])
    return out


def _scatter_grad(n: Node, g: Node) -> list[Node | None]:
    _, indices, _ = n.inputs
    return [g, None, b.gather(g, indices, n.attrs["axis"])]


SCATTER_ADD = register(
    OpDef("scatter_add", OpKind.INDEXING, 3, _scatter_infer, _scatter_reference, _scatter_grad,
          "target with updates added at indices along axis; repeated indices accumulate "
          "(numpy.add.at); out-of-range indices add nothing", fusion=Fusion.KERNEL,
          row_local=every_row)  # the indexed axis is never the batch
)
