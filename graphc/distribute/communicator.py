"""MPI collectives with a deadline: graphc.frontend.data_parallel's Collective on mpi4py.

Every collective is started non-blocking and polled, so a rank that died or hangs makes the
others raise `DistributedTimeout` after `timeout` seconds instead of waiting forever. After such a
failure the process aborts the whole MPI job when it exits (MPI cannot finish cleanly with a
collective left pending), which also ends a rank that hangs.
"""

from __future__ import annotations

import atexit
import os
import pickle
import sys
import threading
import time
from typing import Any

import numpy as np

DEFAULT_TIMEOUT = 60.0
TIMEOUT_VARIABLE = "GRAPHC_DISTRIBUTED_TIMEOUT"


class DistributedTimeout(RuntimeError):
    """A collective did not complete in time: another rank died, hangs, or runs different steps."""


def _mpi() -> Any:
    try:
        import mpi4py
    except ImportError:
        raise ImportError("graphc.distribute needs mpi4py and an MPI library: pip install 'graphc[mpi]' "
                          "(mpi4py and mpich), or mpi4py with your system's Open MPI") from None
    mpi4py.rc.finalize = False  # finalized at exit by this module: cleanly, or by aborting after a failure
    from mpi4py import MPI
    return MPI


class Communicator:
    """One process's view of the group: rank, size, and collectives that give up after `timeout`.

    Collectives of one process run one at a time (a lock), so threads of a process cannot
    interleave the messages of two collectives.
    """

    def __init__(self, comm: Any = None, timeout: float | None = None) -> None:
        self._MPI = _mpi()
        self.comm = comm if comm is not None else self._MPI.COMM_WORLD
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()
        local = self.comm.Split_type(self._MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank: int = local.Get_rank()
        self.local_size: int = local.Get_size()
        cross = self.comm.Split(color=self.local_rank, key=self.rank)
        self.cross_rank: int = cross.Get_rank()
        self.cross_size: int = cross.Get_size()
        self.timeout = _timeout(timeout)
        self.failed = False
        self._error = ""
        self._lock = threading.Lock()
        atexit.register(self._finish)
        self._excepthook = sys.excepthook
        sys.excepthook = self._uncaught

    # -- the Collective protocol ------------------------------------------------------------
    def allreduce_sum(self, buffer: np.ndarray) -> None:
        with self._lock:
            self._wait(self.comm.Iallreduce(self._MPI.IN_PLACE, _contiguous(buffer), op=self._MPI.SUM),
                       f"allreduce of {buffer.size:,} values")

    def broadcast(self, buffer: np.ndarray, root: int) -> None:
        self._check_root(root)
        with self._lock:
            self._wait(self.comm.Ibcast(_contiguous(buffer), root=root), f"broadcast from rank {root}")

    def allgather(self, value: Any) -> list[Any]:
        payload = np.frombuffer(pickle.dumps(value), dtype=np.uint8)
        with self._lock:
            sizes = np.zeros(self.size, dtype=np.int64)
            self._wait(self.comm.Iallgather(np.array([payload.size], dtype=np.int64), sizes), "allgather")
            gathered = np.empty(int(sizes.sum()), dtype=np.uint8)
            self._wait(self.comm.Iallgatherv(payload, [gathered, sizes.tolist()]), "allgather")
        values, offset = [], 0
        for size in sizes.tolist():
            # Every rank runs the same program under the same launcher: these bytes are our own.
            values.append(pickle.loads(gathered[offset:offset + size].tobytes()))
            offset += size
        return values

    def barrier(self) -> None:
        with self._lock:
            self._wait(self.comm.Ibarrier(), "barrier")

    # -- failure handling ---------------------------------------------------------------------
    def _wait(self, request: Any, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        pause = 0.0
        while not request.Test():
            if time.monotonic() > deadline:
                self.failed = True
                self._error = f"a {what} that did not complete within {self.timeout:g} s"
                raise DistributedTimeout(
                    f"rank {self.rank} of {self.size}: {what} did not complete within {self.timeout:g} s; "
                    "another rank died, hangs, or is not running the same training steps (set "
                    f"{TIMEOUT_VARIABLE} or init(timeout=...) for slower steps). The MPI job is aborted "
                    "when this process exits.")
            time.sleep(pause)
            pause = min(pause * 2 or 1e-5, 1e-3)  # spin briefly, then yield the core to the other ranks

    def _check_root(self, root: int) -> None:
        if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < self.size:
            raise ValueError(f"root_rank must be a rank in [0, {self.size}), got {root!r}")

    def _uncaught(self, kind: type[BaseException], error: BaseException, traceback: Any) -> None:
        """An uncaught error ends this rank: the others must not wait for it until their timeout."""
        self.failed = True
        self._error = f"{kind.__name__}: {error}"
        self._excepthook(kind, error, traceback)

    def _finish(self) -> None:
        if self.failed:
            sys.stderr.write(f"graphc.distribute: rank {self.rank} aborts the MPI job after {self._error}\n")
            sys.stderr.flush()
            time.sleep(0.5)  # mpirun forwards the output before it tears the job down
            self.comm.Abort(1)
        elif self._MPI.Is_initialized() and not self._MPI.Is_finalized():
            self._MPI.Finalize()


def _contiguous(buffer: np.ndarray) -> np.ndarray:
    if not (isinstance(buffer, np.ndarray) and buffer.flags.c_contiguous and buffer.flags.writeable):
        raise ValueError("collectives work in place on a writeable C-contiguous numpy array")
    return buffer


def _timeout(timeout: float | None) -> float:
    if timeout is None:
        text = os.environ.get(TIMEOUT_VARIABLE)
        if text is None:
            return DEFAULT_TIMEOUT
        try:
            timeout = float(text)
        except ValueError:
            raise ValueError(f"{TIMEOUT_VARIABLE} must be a number of seconds, got {text!r}") from None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)
