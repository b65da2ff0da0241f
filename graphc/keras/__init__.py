"""Keras-compatible namespace: `from graphc.keras.models import Sequential` and so on.

Scripts written for Keras run after changing `keras` to `graphc.keras` in their imports.
"""

import gc

from graphc.frontend.layers import Input
from graphc.frontend.models import Model, Sequential
from graphc.frontend.tape import GradientTape
from graphc.keras import (
    activations,
    backend,
    callbacks,
    constraints,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    preprocessing,
    regularizers,
    utils,
)

__all__ = [
    "GradientTape", "Input", "Model", "Sequential", "activations", "backend", "callbacks", "constraints",
    "datasets", "initializers", "layers", "losses", "metrics", "models", "ops",
    "optimizers", "preprocessing", "regularizers",
    "utils",
]

# What is imported by now (graphc, numpy, llvmlite, h5py: ~40,000 objects) lives as long as the process.
# Out of the collector's generations it is not traversed by every full collection again: the first
# one fell inside a model's first build and took ~11 ms of a tiny model's ~77 ms first training step.
gc.freeze()
