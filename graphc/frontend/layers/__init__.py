"""Keras layers."""

from graphc.frontend.layers.base import CallContext, KerasTensor, Layer, Weight
from graphc.frontend.layers.core import Activation, Dense, Dropout, Flatten, LeakyReLU
from graphc.frontend.layers.input_layer import Input, InputLayer

LAYER_CLASSES: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Activation, Dense, Dropout, Flatten, InputLayer, LeakyReLU)
}

__all__ = [
    "LAYER_CLASSES", "Activation", "CallContext", "Dense", "Dropout", "Flatten", "Input", "InputLayer",
    "KerasTensor", "Layer", "LeakyReLU", "Weight",
]
