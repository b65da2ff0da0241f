"""The image layout setting and the window arithmetic every image layer shares.

Keras keeps one process-wide default layout (`image_data_format()`, from ~/.keras/keras.json,
"channels_last" unless changed) that image layers created with `data_format=None` resolve when
they are made. The compiled ops are channels-last; a channels_first layer transposes its input
to (N, H, W, C) and its output back.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

from graphc.ir.graph import Node
from graphc.ops import builders as b

FORMATS = ("channels_last", "channels_first")
KERAS2_ORDERINGS = {"tf": "channels_last", "th": "channels_first"}
_default = {"format": "channels_last"}
_lock = threading.Lock()


def image_data_format() -> str:
    return _default["format"]


def set_image_data_format(data_format: str) -> None:
    if data_format not in FORMATS:
        raise ValueError(
            f"The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. "
            f"Received: data_format={data_format!r}"
        )
    with _lock:
        _default["format"] = data_format


def image_dim_ordering() -> str:
    """Keras 2's name for the setting: 'tf' (channels_last) or 'th' (channels_first)."""
    return "th" if image_data_format() == "channels_first" else "tf"


def set_image_dim_ordering(ordering: str) -> None:
    if ordering not in KERAS2_ORDERINGS:
        raise ValueError(f"set_image_dim_ordering: expected 'tf' or 'th', got {ordering!r}")
    set_image_data_format(KERAS2_ORDERINGS[ordering])


def resolve(data_format: str | None, layer: str) -> str:
    """A layer's data_format: the process default for None; Keras 2's 'tf'/'th'/'default' accepted."""
    if data_format is None or data_format == "default":
        return image_data_format()
    data_format = KERAS2_ORDERINGS.get(data_format, data_format)
    if data_format not in FORMATS:
        raise ValueError(
            f"{layer}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}"
        )
    return data_format


def to_channels_last(x: Node, data_format: str) -> Node:
    """(N, C, *spatial) -> (N, *spatial, C) for channels_first; unchanged otherwise."""
    if data_format == "channels_last":
        return x
    rank = x.type.rank
    return b.transpose(x, (0, *range(2, rank), 1))


def from_channels_last(x: Node, data_format: str) -> Node:
    if data_format == "channels_last":
        return x
    rank = x.type.rank
    return b.transpose(x, (0, rank - 1, *range(1, rank - 1)))


def tuple_of(value: Any, count: int, name: str, layer: str, minimum: int = 1) -> tuple[int, ...]:
    """An int or a sequence of `count` ints, each >= minimum."""
    values = (value,) * count if isinstance(value, int) and not isinstance(value, bool) else tuple(value)
    if len(values) != count or any(
        isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in values
    ):
        raise ValueError(f"{layer}: `{name}` must be an int or {count} ints >= {minimum}, got {value!r}")
    return values


def padding_of(
    mode: str,
    lengths: Sequence[int],
    sizes: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int],
    layer: str,
) -> tuple[tuple[int, int], ...]:
    """Keras's padding per axis: none for 'valid'; for 'same' the total that gives ceil(n/s) outputs,
    the odd one at the end; for 'causal' (1-D) all of it before."""
    pads = []
    for n, k, s, d in zip(lengths, sizes, strides, dilation, strict=True):
        span = d * (k - 1) + 1
        if mode == "valid":
            pads.append((0, 0))
        elif mode == "same":
            total = max((math.ceil(n / s) - 1) * s + span - n, 0)
            pads.append((total // 2, total - total // 2))
        elif mode == "causal":
            pads.append((span - 1, 0))
        else:
            raise ValueError(f"{layer}: padding must be 'valid' or 'same' ('causal' for 1-D), got {mode!r}")
    return tuple(pads)
