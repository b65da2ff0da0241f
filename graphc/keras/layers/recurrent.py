"""keras.layers.recurrent (the Keras 2 module path): recurrent layers are not supported yet."""

from graphc.keras.unsupported import LAYERS, missing

__getattr__ = missing("keras.layers.recurrent", LAYERS)
