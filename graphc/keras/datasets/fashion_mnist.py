"""keras.datasets.fashion_mnist, read from a local data folder (no downloads)."""

from graphc.frontend.datasets import fashion_mnist

load_data = fashion_mnist.load_data

__all__ = ["load_data"]
