"""Build jobs that run beside the main thread: the worker pool's C compile, the GEMM IR.

They mostly wait (on the C compiler, on the LLVM queue of llvm_workers.py) or build IR while
the main thread is inside LLVM, which releases the interpreter.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="graphc-compile")


def submit(job: Callable[..., T], *args: object) -> Future[T]:
    return _executor.submit(job, *args)
