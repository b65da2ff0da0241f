"""Build jobs that run beside the main thread: the worker pool's C compile, the GEMM IR.

They mostly wait (on the C compiler, on the LLVM queue of llvm_workers.py) or build IR while
the main thread is inside LLVM, which releases the interpreter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="graphc-compile")
_pending: set[Future[Any]] = set()
_lock = threading.Lock()


def submit(job: Callable[..., T], *args: object) -> Future[T]:
    """Run job(*args) on a background thread. The job's arguments are let go before its Future is
    done, so that whoever waits for it finds what they held released (a model's folder, drain)."""
    future: Future[T] = Future()
    held = [job, args]

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = held[0](*held[1])
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the job
            held.clear()
            future.set_exception(error)
        else:
            held.clear()
            future.set_result(result)

    with _lock:
        _pending.add(future)
    future.add_done_callback(_finished)
    _executor.submit(run)
    return future


def _finished(future: Future[Any]) -> None:
    with _lock:
        _pending.discard(future)


def drain() -> None:
    """Wait for every job submitted so far (and those they submit meanwhile), whatever their outcome."""
    while True:
        with _lock:
            pending = set(_pending)
        if not pending:
            return
        wait(pending)
