"""Compile jobs that run beside the main thread, each waiting on a child process.

LLVM runs in a child Python (target.compile_ir_in_subprocess) and the worker pool in the C
compiler, so a thread here only waits: the pool is wider than the machine and the OS shares
the cores among the children while the main thread goes on emitting IR.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="graphc-compile")


def submit(job: Callable[..., T], *args: object) -> Future[T]:
    return _executor.submit(job, *args)
