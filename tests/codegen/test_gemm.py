"""The GEMM against numpy: every transpose case and path, odd shapes, epilogues, one and two threads."""

from __future__ import annotations

import numpy as np
import pytest
from graphc_runtime import Library, get_num_threads, set_num_threads

from graphc.codegen import build_library
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from tests.codegen.guard_pages import guarded

# (M, N, K): unit dims, vector and tile tails, more than one depth block (KC=256) and column
# block (NC=256); more than one row block (MC=768) with a tail of <= 4 rows; skinny outputs
# (N <= 16, K >= 32: groups of 8, 2 and 1 columns, K and row tails, more than one task of 128
# rows); few rows (M <= 4: the stream through B, more than one 512-column task, the depth split
# into 2, 4 and 8 parts with uneven ranges and a column tail); K below the skinny threshold; a last
# partial panel of 2 vectors (12 x 32 tiles, the last vector masked), of 3 and 4 (12 x 16 tiles
# vector by vector), with row tails; few tasks cut into column blocks of whole panels (N = 200: 64,
# 64, 64, 8) and, B read in place, row blocks (the tutorial CNN's Dense at batch 64, 64 x 128: rows
# 36 + 28 x columns 64 + 64, whose 28 rows leave a 4-row tile).
SHAPES = [(1, 1, 1), (7, 65, 13), (65, 7, 513), (513, 70, 65), (130, 300, 270), (1, 513, 7), (200, 10, 300),
          (3, 129, 40), (771, 33, 17), (17, 16, 65), (300, 11, 33), (10, 1, 100), (1, 10, 784), (4, 1030, 65),
          (2, 17, 7), (16, 10, 31), (2, 37, 4001), (3, 700, 517), (1, 64, 9001), (37, 32, 300), (29, 45, 70),
          (23, 60, 50), (9, 200, 300), (64, 128, 600)]
CASES = [(False, False), (False, True), (True, False), (True, True)]


def _name(shape: tuple[int, int, int], ta: bool, tb: bool) -> str:
    return f"mm_{'t' if ta else 'n'}{'t' if tb else 'n'}_{'x'.join(map(str, shape))}"


def _operands(shape: tuple[int, int, int], ta: bool, tb: bool) -> tuple[np.ndarray, np.ndarray]:
    m, n, k = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    w = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    return a, w


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    programs = {}
    for shape in SHAPES:
        m, n, k = shape
        for ta, tb in CASES:
            g = Graph(_name(shape, ta, tb))
            a = g.input("a", TensorType((k, m) if ta else (m, k)))
            w = g.input("w", TensorType((n, k) if tb else (k, n)))
            g.outputs["c"] = b.matmul(a, w, transpose_a=ta, transpose_b=tb)
            programs[g.name] = g
    return Library.load(build_library(programs, tmp_path_factory.mktemp("gemm")))


@pytest.fixture
def threads():
    before = get_num_threads()
    yield set_num_threads
    set_num_threads(before)


@pytest.mark.parametrize("ta,tb", CASES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_numpy_with_one_and_two_threads(library: Library, threads, shape, ta: bool, tb: bool) -> None:
    a, w = _operands(shape, ta, tb)
    want = (a.T if ta else a).astype(np.float64) @ (w.T if tb else w).astype(np.float64)
    results = []
    for n in (1, 2):
        threads(n)
        results.append(library.programs[_name(shape, ta, tb)](a=a, w=w)["c"])
    scale = np.sqrt(shape[2]) * 1e-6 + 1e-6
    np.testing.assert_allclose(results[0], want, rtol=0, atol=scale * max(1.0, np.abs(want).max()))
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("ta,tb", CASES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_operands_are_never_read_outside_their_bounds(library: Library, shape, ta: bool, tb: bool) -> None:
    """A and B against an inaccessible page after their last element, then before their first: every
    path (B read in place with its last vector masked, packed, skinny, few rows) stays inside."""
    a, w = _operands(shape, ta, tb)
    program = library.programs[_name(shape, ta, tb)]
    want = program(a=a, w=w)["c"]
    for at_end in (True, False):
        got = program(a=guarded(a, at_end), w=guarded(w, at_end))["c"]
        np.testing.assert_array_equal(got, want)


def test_batch_dimension_is_a_runtime_extent(tmp_path) -> None:
    g = Graph("dense")
    x = g.input("x", TensorType((None, 37)))
    w = g.input("w", TensorType((37, 300)))
    g.outputs["y"] = b.matmul(x, w)
    program = Library.load(build_library({"dense": g}, tmp_path)).programs["dense"]
    rng = np.random.default_rng(3)
    w_value = rng.standard_normal((37, 300)).astype(np.float32)
    for batch in (1, 5, 97, 200):
        x_value = rng.standard_normal((batch, 37)).astype(np.float32)
        got = program(x=x_value, w=w_value)["y"]
        np.testing.assert_allclose(got, x_value @ w_value, rtol=1e-5, atol=1e-4)


def _dense_relu(name: str, m: int, n: int, k: int, ta: bool, tb: bool) -> Graph:
    """relu(op(A) @ op(W) + bias) as one GEMM with an epilogue, with a fixed batch."""
    from graphc.passes.kernels import EPILOGUE_GROUP

    g = Graph(name)
    a = g.input("a", TensorType((k, m) if ta else (m, k)))
    w = g.input("w", TensorType((n, k) if tb else (k, n)))
    bias = g.input("bias", TensorType((n,)))
    z = b.matmul(a, w, transpose_a=ta, transpose_b=tb)
    pre = z + bias
    out = b.maximum(pre, 0.0)
    for node in (z, pre, out):
        node.meta[EPILOGUE_GROUP] = "e"
    g.outputs["y"] = out
    return g


# One shape per path: skinny over K (nn, nt), skinny over rows (tn, tt), few rows (one depth
# part, then 2 parts: the epilogue runs after the partial sums), general.
EPILOGUE_SHAPES = [(130, 10, 65, False, False), (33, 3, 40, False, True), (70, 10, 33, True, False),
                   (17, 9, 40, True, True), (3, 600, 70, False, False), (2, 600, 300, False, False),
                   (100, 70, 300, False, True)]


@pytest.mark.parametrize("m,n,k,ta,tb", EPILOGUE_SHAPES)
def test_epilogue_on_every_path(tmp_path, threads, m: int, n: int, k: int, ta: bool, tb: bool) -> None:
    program = Library.load(build_library({"d": _dense_relu("d", m, n, k, ta, tb)}, tmp_path)).programs["d"]
    rng = np.random.default_rng(m + n + k)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    w = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    want = np.maximum((a.T if ta else a).astype(np.float64) @ (w.T if tb else w) + bias, 0.0)
    results = []
    for n_threads in (1, 2):
        threads(n_threads)
        results.append(program(a=a, w=w, bias=bias)["y"])
    np.testing.assert_allclose(results[0], want, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(results[0], results[1])
