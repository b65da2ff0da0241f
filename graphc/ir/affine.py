"""Sizes and strides that are monomials in the batch size N, and loop-nest coalescing.

Every extent the code generator meets is `coef * N**power`: a static dim, the batch dim,
or a product of them. Keeping them symbolic lets loop nests and workspace offsets be
planned once at compile time for every batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from graphc.ir.types import BatchMultiple, Dim


@dataclass(frozen=True)
class Sym:
    """The value `coef * N**power`."""

    coef: int
    power: int = 0

    @staticmethod
    def dim(d: Dim) -> Sym:
        if d is None:
            return Sym(1, 1)
        return Sym(d.k, 1) if isinstance(d, BatchMultiple) else Sym(d, 0)

    def __mul__(self, other: Sym | int) -> Sym:
        if isinstance(other, int):
            return Sym(self.coef * other, self.power)
        if self.coef == 0 or other.coef == 0:
            return ZERO
        return Sym(self.coef * other.coef, self.power + other.power)

    __rmul__ = __mul__

    @property
    def is_zero(self) -> bool:
        return self.coef == 0

    @property
    def is_one(self) -> bool:
        return self == ONE


ZERO = Sym(0, 0)
ONE = Sym(1, 0)


def numel(shape: Sequence[Dim]) -> Sym:
    total = ONE
    for d in shape:
        total = total * Sym.dim(d)
    return total


def unit_stride(rank: int, axis: int) -> tuple[Sym, ...]:
    """The stride vector that counts the index along `axis` alone."""
    return tuple(ONE if a == axis else ZERO for a in range(rank))


def contiguous_strides(shape: Sequence[Dim]) -> tuple[Sym, ...]:
    """Row-major element strides."""
    strides: list[Sym] = []
    running = ONE
    for d in reversed(shape):
        strides.append(running)
        running = running * Sym.dim(d)
    return tuple(reversed(strides))


@dataclass(frozen=True)
class LoopNest:
    """Loop extents (outermost first) and, per addressed stream, its stride along each loop."""

    sizes: tuple[Sym, ...]
    strides: tuple[tuple[Sym, ...], ...]


def coalesce(sizes: Sequence[Sym], streams: Sequence[Sequence[Sym]]) -> LoopNest:
    """Drop unit loops and merge neighbours that every stream walks as one flat range.

    Merging gives the innermost loop the longest possible unit-stride (or zero-stride) run,
    which is what the vectorizer needs.
    """
    keep = [i for i, s in enumerate(sizes) if not s.is_one]
    out_sizes = [sizes[i] for i in keep]
    out_streams = [[stream[i] for i in keep] for stream in streams]
    i = len(out_sizes) - 2
    while i >= 0:
        inner = out_sizes[i + 1]
        if all(st[i] == st[i + 1] * inner for st in out_streams):
            out_sizes[i] = out_sizes[i] * inner
            del out_sizes[i + 1]
            for st in out_streams:
                del st[i]
        i -= 1
    return LoopNest(tuple(out_sizes), tuple(tuple(st) for st in out_streams))
