"""keras.datasets"""

from graphc.keras.datasets import cifar10, fashion_mnist, imdb, mnist

__all__ = ["cifar10", "fashion_mnist", "imdb", "mnist"]
