"""Persistent state buffers (parameters, optimizer slots, counters) shared by programs."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from graphc_runtime.buffers import aligned_zeros
from graphc_runtime.locks import ReadWriteLock
from graphc_runtime.spec import ArgSpec


class StateStore:
    """Owns one C-contiguous buffer per state name, in the state's dtype.

    Buffers are allocated once and never replaced, so native code bound to them can keep
    their addresses; `assign` copies new values in. `lock` orders everything that touches the
    buffers: programs that update states and `assign` write, the rest read.
    """

    def __init__(self, specs: Iterable[ArgSpec]) -> None:
        self._buffers: dict[str, np.ndarray] = {}
        self.lock = ReadWriteLock()
        for spec in specs:
            if spec.batch_axis is not None:
                raise ValueError(f"state {spec.name!r} has a batch dimension in its shape {spec}")
            shape = spec.concrete(0)
            existing = self._buffers.get(spec.name)
            if existing is None:
                self._buffers[spec.name] = aligned_zeros(shape, spec.dtype)
            elif existing.shape != shape or existing.dtype != np.dtype(spec.dtype):
                raise ValueError(f"state {spec.name!r} declared as {existing.dtype}{existing.shape} and "
                                 f"{spec.dtype}{shape}")

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._buffers[name]
        except KeyError:
            raise KeyError(f"no state {name!r}; known states: {sorted(self._buffers)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._buffers

    def share(self, name: str, buffer: np.ndarray) -> None:
        """Use `buffer` (another store's live buffer of the same state) as this store's, so two
        programs' stores hold one value: models that share layers share their weights (give the
        stores one lock too: `share_lock`). Only before any library binds this store, which is when
        the compiler calls it."""
        own = self[name]
        aligned = buffer.ctypes.data % 64 == 0
        if (buffer.shape != own.shape or buffer.dtype != own.dtype or not buffer.flags.c_contiguous
                or not aligned):
            raise ValueError(f"state {name!r}: cannot share a {buffer.dtype}{buffer.shape} buffer for "
                             f"{own.dtype}{own.shape} (C-contiguous, 64-byte aligned)")
        self._buffers[name] = buffer

    def share_lock(self, lock: ReadWriteLock) -> None:
        """Order this store's readers and writers with another store's (one that shares buffers
        with it); before any weight or library takes this store's lock."""
        self.lock = lock

    def assign(self, name: str, value: np.ndarray) -> None:
        buffer = self[name]
        array = np.asarray(value)
        if array.shape != buffer.shape:
            raise ValueError(f"state {name!r}: expected shape {buffer.shape}, got {array.shape}")
        if buffer.dtype.kind == "i" and array.dtype.kind not in "iub":
            if not np.array_equal(array, np.trunc(array)):
                raise ValueError(f"state {name!r} holds integers ({buffer.dtype}); got non-integer values")
        with self.lock.writing():
            np.copyto(buffer, array, casting="unsafe")

    def read(self, name: str) -> np.ndarray:
        """A copy taken while no program writes the states."""
        buffer = self[name]
        with self.lock.reading():
            return buffer.copy()

    def names(self) -> list[str]:
        return list(self._buffers)
