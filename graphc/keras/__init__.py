"""Keras-compatible namespace: `from graphc.keras.models import Sequential` and so on.

Scripts written for Keras run after changing `keras` to `graphc.keras` in their imports.
"""

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
