"""2-D convolution and pooling over channels-last images (N, H, W, C), the layout Keras defaults to.

A window's geometry is explicit in the attributes: `strides` and `dilation` per spatial axis
and `padding` as ((top, bottom), (left, right)) counts, so the layers resolve Keras's "same",
"valid" and "causal" once and the ops never guess. Kernels are (KH, KW, C, F), Keras's layout.
The three convolution ops are each other's adjoints (the input gradient is a transposed
convolution, the filter gradient a correlation of input and output gradient), so every one has
a gradient built from the others. Pooling windows skip padded positions: a max over the
positions inside the image, an average over their count (TensorFlow's rule, which Keras follows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphc.ir.graph import Node
from graphc.ir.types import ShapeError, TensorType
from graphc.ops.registry import EvalContext, Fusion, OpDef, OpKind, every_row, register

Pair = tuple[int, int]


@dataclass(frozen=True)
class Window:
    """A sliding window over (H, W): its size, strides, dilation and the padding around the image."""

    size: Pair
    strides: Pair
    dilation: Pair
    padding: tuple[Pair, Pair]

    def output(self, height: int, width: int) -> Pair:
        """The output's spatial size; below 1 the window does not fit the padded image."""
        return (self._extent(height, 0), self._extent(width, 1))

    def _extent(self, length: int, axis: int) -> int:
        span = (self.size[axis] - 1) * self.dilation[axis] + 1
        padded = length + sum(self.padding[axis])
        return (padded - span) // self.strides[axis] + 1 if padded >= span else 0

    def check(self, what: str, height: int, width: int) -> Pair:
        for name, value in (("strides", self.strides), ("dilation", self.dilation), ("size", self.size)):
            if len(value) != 2 or any(not isinstance(v, int) or v < 1 for v in value):
                raise ShapeError(f"{what}: {name} must be two positive ints, got {value}")
        if any(p < 0 for pair in self.padding for p in pair):
            raise ShapeError(f"{what}: padding must be non-negative, got {self.padding}")
        out = self.output(height, width)
        if min(out) < 1:
            raise ShapeError(f"{what}: a {self.size} window (dilation {self.dilation}) does not fit an "
                             f"input of {height}x{width} with padding {self.padding}")
        return out

    def positions(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Per output row/column and window offset, the input row/column it reads: (OH, KH), (OW, KW)."""
        oh, ow = self.output(height, width)
        rows = (np.arange(oh)[:, None] * self.strides[0] + np.arange(self.size[0])[None, :] * self.dilation[0]
                - self.padding[0][0])
        cols = (np.arange(ow)[:, None] * self.strides[1] + np.arange(self.size[1])[None, :] * self.dilation[1]
                - self.padding[1][0])
        return rows, cols


def _attrs_window(attrs: Mapping[str, Any], size: Pair) -> Window:
    return Window(size, tuple(attrs["strides"]), tuple(attrs.get("dilation", (1, 1))),  # type: ignore[arg-type]
                  tuple(tuple(p) for p in attrs["padding"]))  # type: ignore[arg-type]


def _image(t: TensorType, what: str) -> tuple[Any, int, int, int]:
    if t.rank != 4 or None in t.shape[1:] or not t.is_float:
        raise ShapeError(f"{what}: expected a float32 image batch (N, H, W, C), got {t}")
    return t.shape  # type: ignore[return-value]


def patches(window: Window, x: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Every window of x (N, H, W, C) as (N, OH, OW, KH, KW, C); padded positions read `fill`."""
    rows, cols = window.positions(x.shape[1], x.shape[2])
    inside_rows = (rows >= 0) & (rows < x.shape[1])
    inside_cols = (cols >= 0) & (cols < x.shape[2])
    taken = x[:, np.clip(rows, 0, x.shape[1] - 1)[:, None, :, None],
              np.clip(cols, 0, x.shape[2] - 1)[None, :, None, :], :]
    inside = (inside_rows[:, None, :, None] & inside_cols[None, :, None, :])[None, :, :, :, :, None]
    return np.where(inside, taken, np.asarray(fill, dtype=x.dtype))


def _scatter_windows(window: Window, cols: np.ndarray, height: int, width: int) -> np.ndarray:
    """The adjoint of `patches`: each window element (N, OH, OW, KH, KW, C) added to the input position
    it was read from; padded positions are dropped."""
    rows_at, cols_at = window.positions(height, width)
    n, oh, ow, kh, kw, c = cols.shape
    out = np.zeros((n, height, width, c), dtype=cols.dtype)
    r = np.broadcast_to(rows_at[:, None, :, None], (oh, ow, kh, kw))
    q = np.broadcast_to(cols_at[None, :, None, :], (oh, ow, kh, kw))
    keep = (r >= 0) & (r < height) & (q >= 0) & (q < width)
    for image in range(n):
        np.add.at(out[image], (r[keep], q[keep]), cols[image][keep])
    return out


# -- convolution --------------------------------------------------------------------------------

def _conv_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, w = types
    n, h, wd, c = _image(x, "conv2d input")
    if w.rank != 4 or None in w.shape or w.shape[2] != c:
        raise ShapeError(f"conv2d: kernel must be (KH, KW, {c}, F) for an input of {c} channels, got {w}")
    oh, ow = _attrs_window(attrs, w.shape[:2]).check("conv2d", h, wd)
    return TensorType((n, oh, ow, w.shape[3]))


def _conv_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    cols = patches(_attrs_window(attrs, w.shape[:2]), x)
    n, oh, ow = cols.shape[:3]
    return (cols.reshape(n * oh * ow, -1) @ w.reshape(-1, w.shape[3])).reshape(n, oh, ow, w.shape[3])


def _geometry(node: Node) -> dict[str, Any]:
    return {key: node.attrs[key] for key in ("strides", "dilation", "padding")}


def _conv_gradient(node: Node, g: Node) -> list[Node]:
    x, w = node.inputs
    return [CONV2D_INPUT_GRAD(g, w, input_size=tuple(x.shape[1:3]), **_geometry(node)),
            CONV2D_FILTER_GRAD(x, g, kernel_size=tuple(w.shape[:2]), **_geometry(node))]


CONV2D = register(OpDef(
    "conv2d", OpKind.CONTRACTION, 2, _conv_infer, _conv_reference, _conv_gradient,
    "y[n, i, j, f] = sum over the window (a, b) and channels c of x[n, i*s + a*d - p, j*s + b*d - p, c] "
    "* w[a, b, c, f]; positions in the padding read 0", epilogue=True, takes_tail=True, row_local=every_row))


def _input_grad_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    g, w = types
    n, oh, ow, f = _image(g, "conv2d_input_grad gradient")
    if w.rank != 4 or None in w.shape or w.shape[3] != f:
        raise ShapeError(f"conv2d_input_grad: kernel must be (KH, KW, C, {f}), got {w}")
    h, wd = attrs["input_size"]
    if _attrs_window(attrs, w.shape[:2]).check("conv2d_input_grad", h, wd) != (oh, ow):
        raise ShapeError(f"conv2d_input_grad: a {h}x{wd} input does not give the gradient's {oh}x{ow}")
    return TensorType((n, h, wd, w.shape[2]))


def _input_grad_reference(attrs: Mapping[str, Any], ctx: EvalContext, g: np.ndarray,
                          w: np.ndarray) -> np.ndarray:
    kh, kw, c, f = w.shape
    n, oh, ow = g.shape[:3]
    cols = (g.reshape(-1, f) @ w.reshape(-1, f).T).reshape(n, oh, ow, kh, kw, c)
    return _scatter_windows(_attrs_window(attrs, (kh, kw)), cols, *attrs["input_size"])


def _input_grad_gradient(node: Node, u: Node) -> list[Node]:
    g, w = node.inputs
    return [CONV2D(u, w, **_geometry(node)),
            CONV2D_FILTER_GRAD(u, g, kernel_size=tuple(w.shape[:2]), **_geometry(node))]


CONV2D_INPUT_GRAD = register(OpDef(
    "conv2d_input_grad", OpKind.CONTRACTION, 2, _input_grad_infer, _input_grad_reference,
    _input_grad_gradient, "the gradient of conv2d for its input: g (N, OH, OW, F) spread back through "
    "the kernel w onto an input of input_size (a transposed convolution)", row_local=every_row))


def _filter_grad_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, g = types
    n, h, wd, c = _image(x, "conv2d_filter_grad input")
    if g.rank != 4 or g.shape[0] != n:
        raise ShapeError(f"conv2d_filter_grad: gradient must be (N, OH, OW, F), got {g}")
    kh, kw = attrs["kernel_size"]
    if _attrs_window(attrs, (kh, kw)).check("conv2d_filter_grad", h, wd) != tuple(g.shape[1:3]):
        raise ShapeError(f"conv2d_filter_grad: input {x} and gradient {g} do not fit a {kh}x{kw} window")
    return TensorType((kh, kw, c, g.shape[3]))


def _filter_grad_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray,
                           g: np.ndarray) -> np.ndarray:
    kh, kw = attrs["kernel_size"]
    cols = patches(_attrs_window(attrs, (kh, kw)), x)
    f = g.shape[3]
    return (cols.reshape(-1, kh * kw * x.shape[3]).T @ g.reshape(-1, f)).reshape(kh, kw, x.shape[3], f)


def _filter_grad_gradient(node: Node, v: Node) -> list[Node]:
    x, g = node.inputs
    return [CONV2D_INPUT_GRAD(g, v, input_size=tuple(x.shape[1:3]), **_geometry(node)),
            CONV2D(x, v, **_geometry(node))]


CONV2D_FILTER_GRAD = register(OpDef(
    "conv2d_filter_grad", OpKind.CONTRACTION, 2, _filter_grad_infer, _filter_grad_reference,
    _filter_grad_gradient, "the gradient of conv2d for its kernel: every window of x correlated with "
    "the output gradient g, summed over the batch", row_local=every_row))


# -- pooling ------------------------------------------------------------------------------------

def _pool_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    n, h, w, c = _image(types[0], f"{attrs['mode']}_pool2d input")
    if attrs["mode"] not in ("max", "avg"):
        raise ShapeError(f"pool2d: mode must be 'max' or 'avg', got {attrs['mode']!r}")
    oh, ow = _attrs_window(attrs, tuple(attrs["pool_size"])).check("pool2d", h, w)
    return TensorType((n, oh, ow, c))


def window_counts(window: Window, height: int, width: int) -> np.ndarray:
    """Per output position (OH, OW), how many of its window's positions lie inside the image."""
    rows, cols = window.positions(height, width)
    inside_rows = ((rows >= 0) & (rows < height)).sum(axis=1)
    inside_cols = ((cols >= 0) & (cols < width)).sum(axis=1)
    return np.outer(inside_rows, inside_cols)


def _pool_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray) -> np.ndarray:
    window = _attrs_window(attrs, tuple(attrs["pool_size"]))
    if attrs["mode"] == "max":
        return patches(window, x, -np.inf).max(axis=(3, 4))
    total = patches(window, x).sum(axis=(3, 4))
    return (total / window_counts(window, *x.shape[1:3])[None, :, :, None]).astype(x.dtype)


def _pool_gradient(node: Node, g: Node) -> list[Node]:
    return [POOL2D_GRAD(node.inputs[0], g, **node.attrs)]


def _pool_tiles_its_input(node: Node) -> bool:
    """2x2 windows of stride 2 without padding: the windows tile the input (an odd last row or column
    is dropped), so a convolution can compute a window's four outputs together and store their max
    or mean; the pool's combination after the chain gives the unfused bits."""
    attrs = node.attrs
    return (tuple(attrs["pool_size"]) == (2, 2) and tuple(attrs["strides"]) == (2, 2)
            and all(p == 0 for pair in attrs["padding"] for p in pair))


POOL2D = register(OpDef(
    "pool2d", OpKind.REDUCTION, 1, _pool_infer, _pool_reference, _pool_gradient,
    "the max (mode 'max') or mean (mode 'avg') of each pool_size window; padded positions are skipped",
    epilogue_tail=_pool_tiles_its_input, row_local=every_row))


def _pool_grad_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, g = types
    if _pool_infer([x], attrs).shape != g.shape:
        raise ShapeError(f"pool2d_grad: gradient {g} does not match the pooling of {x}")
    return x


def first_max_offsets(window: Window, x: np.ndarray) -> np.ndarray:
    """Per output element (N, OH, OW, C), the window offset (row-major) of its first maximum."""
    cols = patches(window, x, -np.inf)
    n, oh, ow, kh, kw, c = cols.shape
    return np.moveaxis(cols, 5, 3).reshape(n, oh, ow, c, kh * kw).argmax(axis=-1)


def _pool_grad_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray,
                         g: np.ndarray) -> np.ndarray:
    window = _attrs_window(attrs, tuple(attrs["pool_size"]))
    kh, kw = window.size
    n, oh, ow, c = g.shape
    if attrs["mode"] == "max":
        chosen = first_max_offsets(window, x)
        spread = (np.arange(kh * kw) == chosen[..., None]) * g[..., None]  # (N, OH, OW, C, KH*KW)
        cols = np.moveaxis(spread.reshape(n, oh, ow, c, kh, kw), 3, 5)
    else:
        share = g / window_counts(window, *x.shape[1:3])[None, :, :, None]
        cols = np.broadcast_to(share[:, :, :, None, None, :], (n, oh, ow, kh, kw, c))
    return _scatter_windows(window, np.ascontiguousarray(cols, dtype=x.dtype), *x.shape[1:3])


def _pool_grad_gradient(node: Node, u: Node) -> list[Node | None]:
    if node.attrs["mode"] != "avg":
        return [None, None]  # the max's routing is piecewise constant in x; its g-adjoint is not needed
    return [None, POOL2D(u, **node.attrs)]


POOL2D_GRAD = register(OpDef(
    "pool2d_grad", OpKind.CONTRACTION, 2, _pool_grad_infer, _pool_grad_reference, _pool_grad_gradient,
    "the gradient of pool2d for its input x: each g to the first maximum of its window (row-major), or "
    "shared evenly by the window's positions inside the image", fusion=Fusion.KERNEL, row_local=every_row))

