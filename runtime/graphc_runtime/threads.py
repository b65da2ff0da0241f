"""The thread count of compiled programs, for every library loaded in this process.

Each library carries its own native worker pool (started lazily, on its first parallel loop);
this module keeps them all at one setting. The default is $GRAPHC_NUM_THREADS, else the CPUs
this process may run on. Results do not depend on the setting, only the speed does.
"""

from __future__ import annotations

import ctypes
import os
import weakref
from collections.abc import Mapping

ENV = "GRAPHC_NUM_THREADS"

_pools: weakref.WeakSet = weakref.WeakSet()
_chosen: int | None = None


class _Pool:
    """The exported pool functions of one library, by the names its manifest gives."""

    def __init__(self, cdll: ctypes.CDLL, symbols: Mapping[str, str]) -> None:
        self._set = cdll[symbols["set_num_threads"]]
        self._set.argtypes = (ctypes.c_int,)
        self._set.restype = None
        self._get = cdll[symbols["get_num_threads"]]
        self._get.argtypes = ()
        self._get.restype = ctypes.c_int

    def set(self, n: int) -> None:
        self._set(n)

    def get(self) -> int:
        return int(self._get())


def attach(cdll: ctypes.CDLL, symbols: Mapping[str, str]) -> _Pool:
    """Register a newly loaded library's pool and give it the current setting."""
    pool = _Pool(cdll, symbols)
    pool.set(_chosen if _chosen is not None else 0)
    _pools.add(pool)
    return pool


def default_num_threads() -> int:
    configured = os.environ.get(ENV, "").strip()
    if configured:
        try:
            value = int(configured)
        except ValueError:
            raise ValueError(f"{ENV} must be a positive integer, got {configured!r}") from None
        if value >= 1:
            return value
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_num_threads(n: int | None) -> None:
    """Use `n` threads (>= 1) in every loaded and future library; None restores the default."""
    global _chosen
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"set_num_threads: n must be an int >= 1 or None, got {n!r}")
    _chosen = n
    for pool in list(_pools):
        pool.set(n if n is not None else 0)


def get_num_threads() -> int:
    """The thread count programs use now."""
    return _chosen if _chosen is not None else default_num_threads()
