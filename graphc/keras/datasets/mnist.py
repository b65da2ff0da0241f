"""keras.datasets.mnist, from local files only (no downloads)."""

from graphc.frontend.image_datasets import load_mnist

load_data = load_mnist

__all__ = ["load_data"]
