"""keras.ops: what a custom layer's call() is written with (graphc.frontend.tensor_ops); given the
Tensors of a custom training loop, the same functions record on its GradientTape."""

from graphc.frontend.layers.operation import OPS
from graphc.frontend.recording import when_tensors
from graphc.frontend.tensor_ops import *  # noqa: F403 - the module is the namespace
from graphc.frontend.tensor_ops import __all__

for _name in __all__:
    globals()[_name] = when_tensors(globals()[_name], OPS[_name])
