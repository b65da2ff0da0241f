"""keras.preprocessing.sequence"""

from graphc.frontend.utils import pad_sequences

__all__ = ["pad_sequences"]
