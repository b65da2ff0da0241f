"""keras.preprocessing (Keras 2 paths): image, sequence and text."""

from graphc.keras.preprocessing import image, sequence, text

__all__ = ["image", "sequence", "text"]
