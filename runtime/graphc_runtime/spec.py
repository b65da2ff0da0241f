"""Argument specifications as written in a library manifest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("input", "state", "output")
DTYPES = ("float32", "int32", "int64")


@dataclass(frozen=True)
class ArgSpec:
    """One argument of a program; `None` in `shape` is the batch size N.

    `updated` tells, for a state, whether the program writes it (a training step) or only reads
    it (predict): readers of one state store may run together, writers run alone.
    """

    kind: str
    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    updated: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"argument {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.dtype not in DTYPES:
            raise ValueError(f"argument {self.name!r}: dtype {self.dtype!r} is not one of {DTYPES}")
        for dim in self.shape:
            if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or dim < 0):
                raise ValueError(f"argument {self.name!r}: bad dimension {dim!r} in shape {self.shape}")

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> ArgSpec:
        """From a manifest entry; a state without "updated" (an older manifest) counts as written."""
        shape = tuple(None if d is None else int(d) for d in entry["shape"])
        kind = entry["kind"]
        return cls(kind, entry["name"], shape, entry.get("dtype", "float32"),
                   bool(entry.get("updated", kind == "state")))

    @property
    def batch_axis(self) -> int | None:
        return self.shape.index(None) if None in self.shape else None

    def concrete(self, batch: int) -> tuple[int, ...]:
        return tuple(batch if d is None else d for d in self.shape)

    def __str__(self) -> str:
        return "(" + ", ".join("N" if d is None else str(d) for d in self.shape) + ")"
