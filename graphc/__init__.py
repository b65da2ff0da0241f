"""graphc: a compiler for Keras-style neural networks."""

__version__ = "0.1.0"
