"""keras.backend: the few session-level helpers tutorials call."""

import gc

from graphc.frontend.layers.image_format import (
    image_data_format,
    image_dim_ordering,
    set_image_data_format,
    set_image_dim_ordering,
)
from graphc.frontend.layers.naming import reset_names

__all__ = ["clear_session", "epsilon", "floatx", "image_data_format", "image_dim_ordering",
           "set_image_data_format", "set_image_dim_ordering"]


def clear_session() -> None:
    """Restart automatic layer and model names from dense, sequential, ..., and free what dropped
    models still hold: a model referenced only from cycles (its History refers back to it) keeps its
    compiled libraries loaded until the cycle collector runs, so run it now."""
    reset_names()
    gc.collect()


def epsilon() -> float:
    return 1e-7


def floatx() -> str:
    return "float32"
