"""The process's world communicator: made by init(), used by everything else in graphc.distribute."""

from __future__ import annotations

import os
import threading
from typing import Any

from graphc_runtime.threads import ENV as THREADS_ENV
from graphc_runtime.threads import default_num_threads, set_num_threads

from graphc.distribute.communicator import Communicator

_lock = threading.Lock()
_world: Communicator | None = None


def init(comm: Any = None, timeout: float | None = None) -> None:
    """Join the MPI job (every rank calls it first, as hvd.init()). `comm` is an mpi4py communicator
    (COMM_WORLD by default); `timeout` the seconds a collective may wait for the other ranks
    (GRAPHC_DISTRIBUTED_TIMEOUT, else 60). Calling it again keeps the first communicator. Ranks
    sharing a machine share its cores: each runs cores / local_size threads by default."""
    global _world
    with _lock:
        if _world is None:
            _world = Communicator(comm, timeout)
            _share_cores(_world.local_size)


def _share_cores(local_size: int) -> None:
    """Ranks on one machine split its cores between them (unless GRAPHC_NUM_THREADS says otherwise):
    two ranks each running a thread per core would fight over every core."""
    if local_size > 1 and not os.environ.get(THREADS_ENV, "").strip():
        set_num_threads(max(1, default_num_threads() // local_size))


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
