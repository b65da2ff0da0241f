"""The geometric and intensity transforms of Keras's ImageDataGenerator, in numpy.

Keras composes rotation, shift, shear and zoom into one matrix about the image centre and resamples
with scipy.ndimage.affine_transform (order 1, a fill mode for pixels pulled from outside). graphc
does the same resampling itself: every output pixel pulls its source position through the matrix
and interpolates bilinearly; outside the image, 'nearest' repeats the edge, 'reflect' mirrors about
the edge (d c b a | a b c d), 'wrap' repeats with SciPy's period of n - 1, and 'constant' gives cval.
"""

from __future__ import annotations

import numpy as np

FILL_MODES = ("nearest", "constant", "reflect", "wrap")


def transform_matrix(
    theta: float = 0, tx: float = 0, ty: float = 0, shear: float = 0, zx: float = 1, zy: float = 1
) -> np.ndarray | None:
    """Rotation . shift . shear . zoom (degrees for the angles), None when it is the identity."""
    matrix = None
    parts = []
    if theta:
        t = np.deg2rad(theta)
        parts.append(np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]]))
    if tx or ty:
        parts.append(np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], dtype=float))
    if shear:
        s = np.deg2rad(shear)
        parts.append(np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]]))
    if zx != 1 or zy != 1:
        parts.append(np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]], dtype=float))
    for part in parts:
        matrix = part if matrix is None else matrix @ part
    return matrix


def apply_affine_transform(
    x: np.ndarray,
    matrix: np.ndarray,
    row_axis: int,
    col_axis: int,
    channel_axis: int,
    fill_mode: str = "nearest",
    cval: float = 0.0,
) -> np.ndarray:
    """Resample one image (3-D) through `matrix` (from transform_matrix) as Keras does."""
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
    h, w = x.shape[row_axis], x.shape[col_axis]
    o_x, o_y = h / 2 - 0.5, w / 2 - 0.5
    centred = (
        np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
        @ matrix
        @ np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    )
    if col_axis > row_axis:  # the matrix is built for (x, y) coordinates; numpy indexes (row, col)
        centred[:, [0, 1]] = centred[:, [1, 0]]
        centred[[0, 1]] = centred[[1, 0]]
    rows, cols = np.meshgrid(np.arange(h, dtype=float), np.arange(w, dtype=float), indexing="ij")
    source_rows = centred[0, 0] * rows + centred[0, 1] * cols + centred[0, 2]
    source_cols = centred[1, 0] * rows + centred[1, 1] * cols + centred[1, 2]
    planes = np.moveaxis(x, channel_axis, 0)
    warped = np.stack([_resample(plane, source_rows, source_cols, fill_mode, cval) for plane in planes])
    return np.moveaxis(warped, 0, channel_axis).astype(x.dtype, copy=False)


def _resample(plane: np.ndarray, rows: np.ndarray, cols: np.ndarray, mode: str, cval: float) -> np.ndarray:
    """Bilinear samples of a 2-D plane at (rows, cols)."""
    h, w = plane.shape
    r0, c0 = np.floor(rows), np.floor(cols)
    fr, fc = rows - r0, cols - c0
    r0, c0 = r0.astype(np.int64), c0.astype(np.int64)
    out = np.zeros(rows.shape, dtype=np.float64)
    for dr, wr in ((0, 1 - fr), (1, fr)):
        for dc, wc in ((0, 1 - fc), (1, fc)):
            ri, ci = _index(r0 + dr, h, mode), _index(c0 + dc, w, mode)
            out += wr * wc * plane[ri, ci]
    if mode == "constant":
        eps = 1e-9
        outside = (rows < -eps) | (rows > h - 1 + eps) | (cols < -eps) | (cols > w - 1 + eps)
        out[outside] = cval
    return out


def _index(index: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Indices outside [0, n) brought back by the fill mode ('constant' clamps; its outside is cval)."""
    if n == 1:
        return np.zeros_like(index)
    if mode == "reflect":
        period = 2 * n
        folded = np.mod(index, period)
        return np.where(folded < n, folded, period - 1 - folded)
    if mode == "wrap":
        inside = (index >= 0) & (index < n)
        return np.where(inside, index, np.mod(index, n - 1))
    return np.clip(index, 0, n - 1)


def apply_channel_shift(x: np.ndarray, intensity: float, channel_axis: int) -> np.ndarray:
    """Every channel shifted by `intensity`, clipped to the image's own range."""
    low, high = np.min(x), np.max(x)
    return np.clip(x + intensity, low, high).astype(x.dtype, copy=False)


def apply_brightness_shift(x: np.ndarray, brightness: float) -> np.ndarray:
    """Keras's path through PIL: the image scaled to 0..255 bytes, multiplied by `brightness`,
    clipped; the result is on the 0..255 scale whatever the input's was."""
    low, high = float(np.min(x)), float(np.max(x))
    scaled = (x - low) / (high - low) * 255 if high > low else np.zeros_like(x, dtype=np.float64)
    as_bytes = np.clip(scaled, 0, 255).astype(np.uint8)
    return np.clip(np.round(as_bytes * float(brightness)), 0, 255).astype(np.float32)


def flip(x: np.ndarray, axis: int) -> np.ndarray:
    return np.flip(x, axis).copy()
