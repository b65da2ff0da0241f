"""The process's world communicator: made by init(), used by everything else in graphc.distribute."""

from __future__ import annotations

import threading
from typing import Any

from graphc.distribute.communicator import Communicator

_lock = threading.Lock()
_world: Communicator | None = None


def init(comm: Any = None, timeout: float | None = None) -> None:
    """Join the MPI job (every rank calls it first, as hvd.init()). `comm` is an mpi4py communicator
    (COMM_WORLD by default); `timeout` the seconds a collective may wait for the other ranks
    (GRAPHC_DISTRIBUTED_TIMEOUT, else 60). Calling it again keeps the first communicator."""
    global _world
    with _lock:
        if _world is None:
            _world = Communicator(comm, timeout)


def is_initialized() -> bool:
    return _world is not None


def world() -> Communicator:
    if _world is None:
        raise RuntimeError("graphc.distribute is not initialized: call graphc.distribute.init() first "
                           "(as hvd.init() in Horovod scripts)")
    return _world


def shutdown() -> None:
    """Forget the communicator (MPI itself is finalized when the process exits)."""
    global _world
    with _lock:
        _world = None
