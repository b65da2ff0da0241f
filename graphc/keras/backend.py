"""keras.backend: the few session-level helpers tutorials call."""

from graphc.frontend.layers.naming import reset_names


def clear_session() -> None:
    """Restart automatic layer and model names from dense, sequential, ..."""
    reset_names()


def epsilon() -> float:
    return 1e-7


def floatx() -> str:
    return "float32"


def image_data_format() -> str:
    return "channels_last"
