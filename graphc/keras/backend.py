"""keras.backend: the session-level helpers tutorials call, and Keras 2's tensor functions that
custom layers are written with (`K.dot`, `K.sum`, ...; the same functions as keras.ops)."""

import gc
from typing import Any

from graphc.codegen import background
from graphc.frontend.layers.image_format import (
    image_data_format,
    image_dim_ordering,
    set_image_data_format,
    set_image_dim_ordering,
)
from graphc.frontend.layers.naming import reset_names
from graphc.frontend.tensor_ops import (
    abs,
    cast,
    clip,
    exp,
    expand_dims,
    log,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    relu,
    reshape,
    sigmoid,
    softmax,
    softplus,
    sqrt,
    square,
    squeeze,
    sum,
    tanh,
    transpose,
)
from graphc.frontend.tensor_ops import concatenate as _concatenate

dot = matmul

__all__ = ["abs", "cast", "clear_session", "clip", "concatenate", "dot", "epsilon", "exp", "expand_dims",
           "floatx", "image_data_format", "image_dim_ordering", "log", "max", "maximum", "mean", "min",
           "minimum", "relu", "reshape", "set_image_data_format", "set_image_dim_ordering", "sigmoid",
           "softmax", "softplus", "sqrt", "square", "squeeze", "sum", "tanh", "transpose"]


def concatenate(tensors: Any, axis: int = -1) -> Any:
    """Keras 2's default axis is the last one (keras.ops's is 0)."""
    return _concatenate(tensors, axis)


def clear_session() -> None:
    """Restart automatic layer and model names from dense, sequential, ..., and free what dropped
    models still hold: a model referenced only from cycles (its History refers back to it) keeps its
    compiled libraries loaded until the cycle collector runs, so run it now; a background build (a
    tiered build's optimized library) keeps the model's folder until it is linked, so wait for them."""
    reset_names()
    gc.collect()
    background.drain()


def epsilon() -> float:
    return 1e-7


def floatx() -> str:
    return "float32"
