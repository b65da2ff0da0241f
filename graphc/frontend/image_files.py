"""keras.preprocessing.image's file helpers: load_img, img_to_array, array_to_img, save_img.

Images are read and written with Pillow, an optional extra (`pip install graphc[image]`); only the
functions that touch image files need it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from graphc_runtime import atomic

from graphc.frontend.layers.image_format import image_data_format, resolve

COLOR_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "reading and writing image files needs Pillow: pip install 'graphc[image]' "
            "(or pip install Pillow)"
        ) from None
    return Image


def load_img(
    path: str | os.PathLike[str],
    color_mode: str = "rgb",
    target_size: tuple[int, int] | None = None,
    interpolation: str = "nearest",
    keep_aspect_ratio: bool = False,
    grayscale: bool = False,
) -> Any:
    """A PIL image in `color_mode`, resized to target_size (height, width) when given."""
    image_module = pillow()
    if grayscale:
        color_mode = "grayscale"
    if color_mode not in COLOR_MODES:
        raise ValueError(f"load_img: color_mode must be one of {sorted(COLOR_MODES)}, got {color_mode!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"load_img: interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    with open(path, "rb") as handle:
        image = image_module.open(handle)
        image.load()
    image = image.convert(COLOR_MODES[color_mode])
    if target_size is not None:
        height, width = target_size
        if keep_aspect_ratio:
            image = _centre_crop(image, height / width)
        if image.size != (width, height):
            resample = getattr(image_module.Resampling, interpolation.upper())
            image = image.resize((width, height), resample)
    return image


def _centre_crop(image: Any, ratio: float) -> Any:
    width, height = image.size
    crop_h, crop_w = min(height, int(round(width * ratio))), min(width, int(round(height / ratio)))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return image.crop((left, top, left + crop_w, top + crop_h))


def img_to_array(image: Any, data_format: str | None = None, dtype: str = "float32") -> np.ndarray:
    """(H, W, C) for channels_last, (C, H, W) for channels_first."""
    data_format = resolve(data_format, "img_to_array")
    array = np.asarray(image, dtype=dtype)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"img_to_array: unsupported image shape {array.shape}")
    return np.ascontiguousarray(array.transpose(2, 0, 1)) if data_format == "channels_first" else array


def array_to_img(x: Any, data_format: str | None = None, scale: bool = True, dtype: str = "float32") -> Any:
    """A PIL image from a 3-D array; `scale` maps the array's range onto 0..255 as Keras does."""
    image_module = pillow()
    array = np.asarray(x, dtype=dtype)
    if array.ndim != 3:
        raise ValueError(f"array_to_img: expected an image array of rank 3, got shape {array.shape}")
    if resolve(data_format, "array_to_img") == "channels_first":
        array = array.transpose(1, 2, 0)
    if scale:
        array = array - np.min(array)
        peak = np.max(array)
        if peak:
            array = array / peak
        array = array * 255
    channels = array.shape[2]
    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    if channels not in modes:
        raise ValueError(f"array_to_img: unsupported channel count {channels} (1, 3 or 4)")
    pixels = np.clip(array, 0, 255).astype(np.uint8)
    return image_module.fromarray(pixels[:, :, 0] if channels == 1 else pixels, modes[channels])


def save_img(
    path: str | os.PathLike[str],
    x: Any,
    data_format: str | None = None,
    file_format: str | None = None,
    scale: bool = True,
) -> None:
    """Written atomically (a temporary file renamed into place); the format follows the suffix."""
    image = array_to_img(x, data_format or image_data_format(), scale)
    target = Path(path)
    file_format = file_format or {"jpg": "jpeg"}.get(target.suffix[1:].lower(), target.suffix[1:].lower())
    with atomic.replacing(target) as temporary:
        image.save(temporary, format=file_format or None)
