"""keras.datasets.boston_housing: the 506 rows shipped with graphc, split as Keras splits them."""

from graphc.frontend.datasets import load_boston_housing

load_data = load_boston_housing

__all__ = ["load_data"]
