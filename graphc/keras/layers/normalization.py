"""keras.layers.normalization (the Keras 2 module path)."""

from graphc.frontend.layers import BatchNormalization

__all__ = ["BatchNormalization"]
