"""graphc.data: a small tf.data-like Dataset (graphc.frontend.dataset). This folder also holds the
small data sets shipped with graphc (ATTRIBUTION.md)."""

from graphc.frontend.dataset import AUTOTUNE, Dataset

__all__ = ["AUTOTUNE", "Dataset"]
