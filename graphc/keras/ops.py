"""keras.ops: what a custom layer's call() is written with (graphc.frontend.tensor_ops)."""

from graphc.frontend.tensor_ops import *  # noqa: F403 - the module is the namespace
from graphc.frontend.tensor_ops import __all__  # noqa: F401
