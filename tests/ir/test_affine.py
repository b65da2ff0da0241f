"""Symbolic extents and loop-nest coalescing."""

from __future__ import annotations

from graphc.ir.affine import ONE, ZERO, Sym, coalesce, contiguous_strides, numel

N = Sym(1, 1)


def test_strides_and_sizes_are_monomials_in_n() -> None:
    assert contiguous_strides((2, None, 3)) == (Sym(3, 1), Sym(3), ONE)
    assert numel((2, None, 3)) == Sym(6, 1)
    assert Sym(0) * N == ZERO and (N * 4) * Sym(2) == Sym(8, 1)


def test_contiguous_streams_collapse_to_one_loop() -> None:
    shape = (2, None, 3)
    nest = coalesce([Sym.dim(d) for d in shape], [contiguous_strides(shape), contiguous_strides(shape)])
    assert nest.sizes == (Sym(6, 1),) and nest.strides == ((ONE,), (ONE,))


def test_broadcast_boundaries_and_unit_loops() -> None:
    # out (N, 1, 4, 5) + row (5,): the unit loop goes, N and 4 merge (the row repeats), 5 stays apart.
    sizes = [N, ONE, Sym(4), Sym(5)]
    out = contiguous_strides((None, 1, 4, 5))
    row = (ZERO, ZERO, ZERO, ONE)
    nest = coalesce(sizes, [out, row])
    assert nest.sizes == (Sym(4, 1), Sym(5))
    assert nest.strides == ((Sym(5), ONE), (ZERO, ONE))
    column = (ONE, ZERO, ZERO, ZERO)
    merged = coalesce(sizes, [out, column])
    assert merged.sizes == (N, Sym(20)) and merged.strides == ((Sym(20), ONE), (ONE, ZERO))
