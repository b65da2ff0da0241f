"""keras.layers.advanced_activations (the Keras 2 module path)."""

from graphc.frontend.layers import ELU, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax", "ThresholdedReLU"]
