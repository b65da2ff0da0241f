"""keras.layers.normalization (the Keras 2 module path)."""

from graphc.frontend.layers import BatchNormalization, LayerNormalization

__all__ = ["BatchNormalization", "LayerNormalization"]
