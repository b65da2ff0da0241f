"""gather and scatter_add in native code: repeated indices accumulate, out-of-range indices are
refused by the reference and never read or written by the kernels."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.interpreter import evaluate
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from tests.codegen.compiled import load, run_compiled


def _programs() -> dict[str, Graph]:
    gather = Graph("gather")
    table = gather.input("table", TensorType((4, 3)))
    ids = gather.input("ids", TensorType((None, 2), "int32"))
    gather.outputs["rows"] = b.gather(table, ids)
    scatter = Graph("scatter")
    target = scatter.input("target", TensorType((4, 3)))
    where = scatter.input("ids", TensorType((None,), "int64"))
    updates = scatter.input("updates", TensorType((None, 3)))
    scatter.outputs["sum"] = b.scatter_add(target, where, updates)
    return {"gather": gather, "scatter": scatter}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    programs = _programs()
    return load(programs, tmp_path_factory.mktemp("indexing")), programs


def test_repeated_indices_accumulate(library) -> None:
    lib, programs = library
    target = np.arange(12, dtype=np.float32).reshape(4, 3)
    ids = np.array([2, 2, 0, 2], dtype=np.int64)
    updates = np.ones((4, 3), dtype=np.float32)
    outputs, _ = run_compiled(lib, "scatter", {"target": target, "ids": ids, "updates": updates}, {})
    expected = target.copy()
    expected[2] += 3.0
    expected[0] += 1.0
    np.testing.assert_array_equal(outputs["sum"], expected)
    np.testing.assert_array_equal(
        evaluate(programs["scatter"], {"target": target, "ids": ids, "updates": updates})[0]["sum"], expected)


def test_out_of_range_indices_touch_nothing_natively_and_are_named_by_the_reference(library) -> None:
    lib, programs = library
    table = np.arange(12, dtype=np.float32).reshape(4, 3) + 1.0
    ids = np.array([[1, -1], [4, 3], [2**31 - 1, 0]], dtype=np.int32)
    outputs, _ = run_compiled(lib, "gather", {"table": table, "ids": ids}, {})
    expected = np.zeros((3, 2, 3), np.float32)
    expected[0, 0], expected[1, 1], expected[2, 1] = table[1], table[3], table[0]
    np.testing.assert_array_equal(outputs["rows"], expected)
    with pytest.raises(IndexError, match=r"index -1 at position \(0, 1\) is out of range \[0, 4\)"):
        evaluate(programs["gather"], {"table": table, "ids": ids})
    target = np.zeros((4, 3), np.float32)
    outputs, _ = run_compiled(lib, "scatter", {"target": target, "ids": np.array([7, -3, 1], np.int64),
                                               "updates": np.ones((3, 3), np.float32)}, {})
    expected = target.copy()
    expected[1] = 1.0
    np.testing.assert_array_equal(outputs["sum"], expected)
