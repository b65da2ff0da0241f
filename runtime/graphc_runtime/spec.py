"""Argument specifications as written in a library manifest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("input", "state", "output")


@dataclass(frozen=True)
class ArgSpec:
    """One argument of a program; `None` in `shape` is the batch size N."""

    kind: str
    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"argument {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.dtype != "float32":
            raise ValueError(f"argument {self.name!r}: dtype {self.dtype!r} is not supported (float32 only)")

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> ArgSpec:
        shape = tuple(None if d is None else int(d) for d in entry["shape"])
        return cls(entry["kind"], entry["name"], shape, entry.get("dtype", "float32"))

    @property
    def batch_axis(self) -> int | None:
        return self.shape.index(None) if None in self.shape else None

    def concrete(self, batch: int) -> tuple[int, ...]:
        return tuple(batch if d is None else d for d in self.shape)

    def __str__(self) -> str:
        return "(" + ", ".join("N" if d is None else str(d) for d in self.shape) + ")"
