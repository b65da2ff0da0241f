"""Persistent state buffers (parameters, optimizer slots, counters) shared by programs."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from graphc_runtime.buffers import aligned_zeros_f32
from graphc_runtime.spec import ArgSpec


class StateStore:
    """Owns one float32 C-contiguous buffer per state name.

    Buffers are allocated once and never replaced, so native code bound to them can keep
    their addresses; `assign` copies new values in.
    """

    def __init__(self, specs: Iterable[ArgSpec]) -> None:
        self._buffers: dict[str, np.ndarray] = {}
        for spec in specs:
            if spec.batch_axis is not None:
                raise ValueError(f"state {spec.name!r} has a batch dimension in its shape {spec}")
            shape = spec.concrete(0)
            existing = self._buffers.get(spec.name)
            if existing is None:
                self._buffers[spec.name] = aligned_zeros_f32(shape)
            elif existing.shape != shape:
                raise ValueError(f"state {spec.name!r} declared with shapes {existing.shape} and {shape}")

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._buffers[name]
        except KeyError:
            raise KeyError(f"no state {name!r}; known states: {sorted(self._buffers)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._buffers

    def assign(self, name: str, value: np.ndarray) -> None:
        buffer = self[name]
        array = np.asarray(value, dtype=np.float32)
        if array.shape != buffer.shape:
            raise ValueError(f"state {name!r}: expected shape {buffer.shape}, got {array.shape}")
        np.copyto(buffer, array)

    def names(self) -> list[str]:
        return list(self._buffers)
