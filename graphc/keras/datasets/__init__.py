"""keras.datasets"""

from graphc.keras.datasets import boston_housing, cifar10, fashion_mnist, imdb, mnist

__all__ = ["boston_housing", "cifar10", "fashion_mnist", "imdb", "mnist"]
