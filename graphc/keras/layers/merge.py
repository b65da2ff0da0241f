"""keras.layers.merge (the Keras 2 module path): merge layers are not supported yet."""

from graphc.keras.unsupported import LAYERS, missing

__getattr__ = missing("keras.layers.merge", LAYERS)
