"""Common-subexpression elimination."""

from __future__ import annotations

import numpy as np

from graphc.interpreter import evaluate
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from graphc.passes.cse import eliminate_common_subexpressions as cse


def test_equal_nodes_merge_commutative_operands_included() -> None:
    g = Graph("cse")
    x = g.input("x", TensorType((None, 3)))
    w = g.state("w", TensorType((3,)))
    g.outputs["a"] = b.tanh(x * w) + b.tanh(w * x)
    g.outputs["b"] = b.reduce_sum(x, [1]) - b.reduce_sum(x, [1], keepdims=False)
    g.outputs["c"] = b.reduce_sum(x, [1], keepdims=True)
    g.outputs["d"] = (x - w) + (w - x)  # sub is not commutative
    result, counters = cse.transform(g)
    assert counters["merged"] == 3
    assert sum(n.op == "reduce_sum" for n in result.nodes) == 2
    assert sum(n.op == "sub" for n in result.nodes) == 3
    feeds, state = {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}, {"w": np.ones(3, np.float32)}
    for name, value in evaluate(g, feeds, state)[0].items():
        np.testing.assert_array_equal(evaluate(result, feeds, state)[0][name], value)


def test_interface_nodes_and_different_random_streams_stay_apart() -> None:
    g = Graph("keep")
    seed = g.state("seed", TensorType((), "int64"))
    g.input("x1", TensorType((2,)))
    g.input("x2", TensorType((2,)))
    g.state("s1", TensorType((2,)))
    g.state("s2", TensorType((2,)))
    first = b.random_uniform(seed, (None, 2), stream=1)
    other_stream = b.random_uniform(seed, (None, 2), stream=2)
    same_stream = b.random_uniform(seed, (None, 2), stream=1)
    g.outputs["r"] = first + other_stream + same_stream
    result, counters = cse.transform(g)
    assert counters["merged"] == 1, "same seed and stream hold the same bits"
    assert [n.attrs["stream"] for n in result.nodes if n.op == "random_uniform"] == [1, 2]
    assert sum(n.op in ("input", "state") for n in result.nodes) == 5
    state = {"seed": np.int64(7), "s1": np.zeros(2), "s2": np.zeros(2)}
    feeds = {"x1": np.zeros(2), "x2": np.zeros(2)}
    np.testing.assert_array_equal(evaluate(result, feeds, state, batch=3)[0]["r"],
                                  evaluate(g, feeds, state, batch=3)[0]["r"])
