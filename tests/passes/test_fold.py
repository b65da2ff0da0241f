"""Constant folding through the reference semantics."""

from __future__ import annotations

import numpy as np

from graphc.interpreter import evaluate
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from graphc.passes.fold import MAX_ELEMENTS, fold_constants


def test_constant_subexpressions_become_one_constant_with_the_interpreter_value() -> None:
    g = Graph("fold")
    x = g.input("x", TensorType((None, 2)))
    a = g.constant(np.array([0.5, -2.0], dtype=np.float32))
    scale = b.sqrt(b.exp(a) + 1.0) / b.reduce_sum(b.abs_(a))
    g.outputs["y"] = x * scale
    result, counters = fold_constants.transform(g)
    assert counters["folded"] == 6
    assert [n.op for n in result.nodes] == ["input", "constant", "mul"]
    (constant,) = [n for n in result.nodes if n.op == "constant"]
    feeds = {"x": np.ones((1, 2), np.float32)}
    np.testing.assert_array_equal(constant.attrs["value"], evaluate(g, feeds)[0]["y"][0])


def test_runtime_values_random_numbers_and_large_results_are_not_folded() -> None:
    g = Graph("keep")
    seed = g.state("seed", TensorType(()))
    g.outputs["n"] = g.constant(2.0) * b.batch_size(g)
    g.outputs["r"] = b.random_uniform(g.constant(3, "int64"), (4,), stream=1) + seed
    g.outputs["batch"] = b.broadcast_to(g.constant(1.0), (None, 3))
    g.outputs["big"] = b.broadcast_to(g.constant(0.0), (MAX_ELEMENTS + 1,))
    g.outputs["small"] = b.broadcast_to(g.constant(0.0), (MAX_ELEMENTS,))
    result, counters = fold_constants.transform(g)
    assert counters["folded"] == 1
    assert {n.op for n in result.nodes} >= {"batch_size", "random_uniform", "broadcast_to"}
    assert result.outputs["small"].op == "constant" and result.outputs["big"].op == "broadcast_to"
