"""keras.layers.embeddings (the Keras 2 module path)."""

from graphc.frontend.layers import Embedding

__all__ = ["Embedding"]
