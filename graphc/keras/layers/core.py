"""keras.layers.core (the Keras 2 module path)."""

from graphc.frontend.layers import (
    Activation,
    Dense,
    Dropout,
    Flatten,
    Lambda,
    Permute,
    RepeatVector,
    Reshape,
    SpatialDropout2D,
)

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Lambda", "Permute", "RepeatVector", "Reshape",
           "SpatialDropout2D"]
