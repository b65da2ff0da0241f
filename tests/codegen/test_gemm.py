"""The packed GEMM against numpy: every transpose case, odd shapes, one and two threads."""

from __future__ import annotations

import numpy as np
import pytest
from graphc_runtime import Library, get_num_threads, set_num_threads

from graphc.codegen import build_library
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b

# (M, N, K): unit dims, vector and tile tails, more than one depth block (KC=256), column
# block (NC=256) and row block (MC=96), skinny outputs, batch-1 products.
SHAPES = [(1, 1, 1), (7, 65, 13), (65, 7, 513), (513, 70, 65), (130, 300, 270), (1, 513, 7), (200, 10, 300),
          (3, 129, 40)]
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
