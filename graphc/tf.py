"""graphc.tf: the part of TensorFlow's namespace that custom training loops written for Keras call,
`from graphc import tf` in place of `import tensorflow as tf` (GradientTape, function, the tensor
helpers, tf.keras and tf.data). The rest of TensorFlow is not there."""

from graphc import data, keras
from graphc.frontend.recording import Tensor
from graphc.frontend.tape import GradientTape
from graphc.frontend.tf_functions import (
    Variable,
    abs,
    add_n,
    argmax,
    cast,
    constant,
    convert_to_tensor,
    equal,
    exp,
    function,
    log,
    matmul,
    maximum,
    minimum,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_sum,
    reshape,
    sqrt,
    square,
)

float32, int32, int64, bool = "float32", "int32", "int64", "bool"  # noqa: A001 - TensorFlow's dtype names

__all__ = [
    "GradientTape", "Tensor", "Variable", "abs", "add_n", "argmax", "bool", "cast", "constant",
    "convert_to_tensor", "data", "equal", "exp", "float32", "function", "int32", "int64", "keras", "log",
    "matmul", "maximum", "minimum", "reduce_max", "reduce_mean", "reduce_min", "reduce_sum", "reshape",
    "sqrt", "square",
]
