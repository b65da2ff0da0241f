"""keras.datasets.cifar10, from Keras's cache folder only (no downloads)."""

from graphc.frontend.image_datasets import load_cifar10

load_data = load_cifar10

__all__ = ["load_data"]
