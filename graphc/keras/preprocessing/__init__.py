"""keras.preprocessing (Keras 2 paths): image and sequence."""

from graphc.keras.preprocessing import image, sequence

__all__ = ["image", "sequence"]
