"""The polynomial exp/log/tanh/sigmoid: accuracy over the float range and IEEE special values."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from graphc.codegen import build_library
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from tests.codegen.compiled import load

SPECIAL = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, 1.17549435e-38, 3.4e38, -3.4e38],
    dtype=np.float32,
)
FUNCTIONS = ("exp", "log", "tanh", "sigmoid")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory):
    graphs = {}
    for op in FUNCTIONS:
        g = Graph(op)
        g.outputs["y"] = b.unary(op, g.input("x", TensorType((None,))))
        graphs[op] = g
    return load(graphs, tmp_path_factory.mktemp("math"))


def _reference(op: str, x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if op == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x64))
        return getattr(np, op)(x64)


def _grid(op: str) -> np.ndarray:
    rng = np.random.default_rng(1)
    if op == "log":
        values = np.concatenate([np.geomspace(1e-44, 3e38, 20001), rng.uniform(0.5, 2.0, 5000)])
        return values.astype(np.float32)
    if op == "exp":
        return np.linspace(-103.0, 88.7, 40001, dtype=np.float32)
    return np.concatenate([np.linspace(-20.0, 20.0, 40001), rng.normal(0, 0.3, 5000)]).astype(np.float32)


@pytest.mark.parametrize("op", FUNCTIONS)
def test_within_a_few_ulp_of_float64(library, op: str) -> None:
    x = _grid(op)
    got = library.programs[op](x=x)["y"].astype(np.float64)
    want = _reference(op, x)
    normal = np.abs(want) >= np.finfo(np.float32).tiny
    ulp = np.spacing(want[normal].astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got[normal] - want[normal]) / np.abs(ulp)) <= 3.0
    # Subnormal results are only as exact as their absolute spacing allows.
    assert np.all(np.abs(got[~normal] - want[~normal]) <= 2 * 1.4e-45)


@pytest.mark.parametrize("op", FUNCTIONS)
def test_special_values_match_numpy(library, op: str) -> None:
    got = library.programs[op](x=SPECIAL)["y"]
    with np.errstate(all="ignore"):
        want = _reference(op, SPECIAL).astype(np.float32)
    np.testing.assert_allclose(got, want, rtol=3e-7, atol=1.5e-45, equal_nan=True)


USEFUL_RANGE = {"exp": (-87.0, 88.0), "log": (1e-37, 3e38), "tanh": (-10.0, 10.0), "sigmoid": (-87.0, 20.0)}


@pytest.mark.parametrize("op", FUNCTIONS)
def test_relative_error_within_2e_7_of_float32_reference(library, op: str) -> None:
    low, high = USEFUL_RANGE[op]
    rng = np.random.default_rng(2)
    if op == "log":
        x = np.concatenate([np.geomspace(low, high, 100001), rng.uniform(0.5, 2.0, 50000)])
    else:
        x = np.concatenate([np.linspace(low, high, 200001), rng.uniform(-1.0, 1.0, 50000)])
    x = x.astype(np.float32)
    want = _reference(op, x).astype(np.float32).astype(np.float64)
    got = library.programs[op](x=x)["y"].astype(np.float64)
    zero = want == 0.0
    assert np.all(got[zero] == 0.0)
    assert np.max(np.abs(got[~zero] - want[~zero]) / np.abs(want[~zero])) <= 2e-7


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs binutils nm")
def test_objects_call_no_libm(tmp_path) -> None:
    graphs = {}
    for op in FUNCTIONS:
        g = Graph(op)
        g.outputs["y"] = b.unary(op, g.input("x", TensorType((None, 40))))
        graphs[op] = g
    build_library(graphs, tmp_path, name="math")
    objects = [str(tmp_path / f"math_{op}.o") for op in FUNCTIONS]
    undefined = subprocess.run(["nm", "-u", *objects], capture_output=True, text=True,
                               check=True).stdout.split()
    names = {u for u in undefined if u != "U" and not u.endswith(":")}  # nm heads each file with "<path>:"
    assert names <= {"graphc_parallel_for", "graphc_scratch", "memcpy", "memset"}
