"""keras.layers.merge (the Keras 2 module path): the merge layers and their functional forms."""

from graphc.frontend.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)

__all__ = ["Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract", "add",
           "average", "concatenate", "dot", "maximum", "minimum", "multiply", "subtract"]
