"""Data-parallel training on MPI with Horovod's Keras conventions: a Horovod script ports by
changing `import horovod.keras as hvd` to `import graphc.distribute as hvd`.

    hvd.init()
    model.compile(optimizer=hvd.DistributedOptimizer(keras.optimizers.Adam(0.001 * hvd.size())), ...)
    model.fit(x, y, batch_size=64, callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0)])

started with `mpirun -n 4 python train.py`. Each rank trains on the batches it is given (shard the
data by rank, or give every rank all of it as Horovod's examples do); the compiled training step
is split where the gradients are averaged across ranks by one MPI allreduce.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from graphc.distribute import callbacks
from graphc.distribute.communicator import DistributedTimeout
from graphc.distribute.optimizer import Average, Compression, DistributedOptimizer, Sum
from graphc.distribute.state import init, is_initialized, shutdown, world
from graphc.frontend.saving import load_model as _load_model

__all__ = [
    "Average", "Compression", "DistributedOptimizer", "DistributedTimeout", "Sum", "allgather",
    "allreduce", "broadcast", "broadcast_variables", "callbacks", "cross_rank", "cross_size", "init",
    "is_initialized", "load_model", "local_rank", "local_size", "rank", "shutdown", "size", "world",
]


def rank() -> int:
    return world().rank


def size() -> int:
    return world().size


def local_rank() -> int:
    """The index of this process on its machine (Horovod's: for pinning one device per process)."""
    return world().local_rank


def local_size() -> int:
    return world().local_size


def cross_rank() -> int:
    """The index of this process's machine among the machines."""
    return world().cross_rank


def cross_size() -> int:
    return world().cross_size


def allreduce(value: Any, average: bool | None = None, name: str | None = None, op: Any = None) -> Any:
    """The element-wise mean over the ranks (the sum with op=Sum or average=False), as float64 for
    numbers and in the input's float dtype for arrays."""
    del name  # Horovod names tensors for its timeline; nothing to name here
    summing = op is Sum or average is False
    array = np.array(value, dtype=np.result_type(np.asarray(value).dtype, np.float32), order="C")
    world().allreduce_sum(array)
    if not summing:
        array /= world().size
    return array[()] if array.ndim == 0 else array


def broadcast(value: Any, root_rank: int, name: str | None = None) -> Any:
    """root_rank's value on every rank (same shape and dtype on every rank)."""
    del name
    array = np.array(value, order="C")
    world().broadcast(array, root_rank)
    return array[()] if array.ndim == 0 else array


def allgather(value: Any, name: str | None = None) -> np.ndarray:
    """Every rank's array concatenated along the first axis, in rank order."""
    del name
    parts = world().allgather(np.asarray(value))
    return np.concatenate([np.atleast_1d(part) for part in parts])


def broadcast_variables(model: Any, root_rank: int = 0) -> None:
    """Give every rank root_rank's weights (for loops of train_on_batch, where fit's own broadcast
    at its first step does not run)."""
    weights = model.get_weights()
    for array in weights:
        world().broadcast(array, root_rank)
    model.set_weights(weights)


def load_model(filepath: str | os.PathLike[str], custom_objects: dict[str, Any] | None = None,
               compression: Any = None) -> Any:
    """A saved model whose optimizer is wrapped in DistributedOptimizer again (Horovod's load_model)."""
    model = _load_model(filepath, custom_objects=custom_objects)
    if model.compiled:
        DistributedOptimizer(model.optimizer, compression=compression or Compression.none)
    return model
