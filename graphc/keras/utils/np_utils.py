"""keras.utils.np_utils (the Keras 2 module path)."""

from graphc.frontend.utils import normalize, to_categorical

__all__ = ["normalize", "to_categorical"]
