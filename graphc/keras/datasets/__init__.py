"""keras.datasets"""

from graphc.keras.datasets import fashion_mnist

__all__ = ["fashion_mnist"]
