"""Every op: shape rules, reference semantics, gradients against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.interpreter import evaluate
from graphc.ir import ShapeError, TensorType
from graphc.ir.graph import Graph
from graphc.ops import Fusion, all_ops
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients
from graphc.ops.random import uniform_bits
from tests.ops.op_cases import CASES, build, draw


def test_every_op_has_a_case() -> None:
    assert {c.op for c in CASES} >= set(all_ops()) - {"input", "state"}


def test_every_differentiable_case_has_a_gradient_rule() -> None:
    for case in CASES:
        opdef = all_ops()[case.op]
        has_rule = opdef.gradient is not None
        # a tuple_get's gradient goes to its multi-output node, which autodiff hands every value's
        exempt = case.op in ("batch_size", "constant") or opdef.fusion is Fusion.PART
        if case.differentiable and not exempt:
            assert has_rule, case.op


@pytest.mark.parametrize("case", [c for c in CASES if c.differentiable], ids=lambda c: c.id)
def test_gradient_matches_finite_differences(case) -> None:
    rng = np.random.default_rng(7)
    graph = build(case)
    weights = graph.input("weights", TensorType(graph.outputs["out"].shape))
    loss = b.reduce_sum(graph.outputs["out"] * weights)
    graph.outputs["loss"] = loss
    inputs = list(graph.inputs.values())[: len(case.shapes)]
    for i, grad in enumerate(gradients(loss, inputs)):
        graph.outputs[f"grad{i}"] = grad
    feeds = draw(case, batch=3, rng=rng)
    feeds["weights"] = rng.normal(size=graph.outputs["out"].type.concrete(3))
    outputs, _ = evaluate(graph, feeds, dtype=np.float64)
    eps = 1e-6
    for i in range(len(case.shapes)):
        if case.is_mask(i) or (case.dtypes and case.dtypes[i] != "float32"):
            continue
        numeric = np.zeros_like(feeds[f"in{i}"])
        for index in np.ndindex(numeric.shape):
            for sign in (1.0, -1.0):
                shifted = dict(feeds)
                shifted[f"in{i}"] = feeds[f"in{i}"].copy()
                shifted[f"in{i}"][index] += sign * eps
                numeric[index] += sign * evaluate(graph, shifted, dtype=np.float64)[0]["loss"] / (2 * eps)
        np.testing.assert_allclose(outputs[f"grad{i}"], numeric, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{case.id}: gradient of operand {i}")


def test_reference_semantics_of_selected_ops() -> None:
    graph = Graph()
    x = graph.input("x", TensorType((None, 3)))
    graph.outputs["max"] = b.reduce_max(x, [1])
    graph.outputs["argmax"] = b.argmax(x)
    graph.outputs["mean"] = b.reduce_mean(x)
    graph.outputs["hot"] = b.one_hot(b.argmax(x), 3)
    value = np.array([[1.0, 5.0, 5.0], [-1.0, -3.0, -2.0]])
    out, _ = evaluate(graph, {"x": value})
    np.testing.assert_array_equal(out["max"], [5.0, -1.0])
    np.testing.assert_array_equal(out["argmax"], [1.0, 0.0])  # first maximum wins
    np.testing.assert_allclose(out["mean"], value.mean())
    np.testing.assert_array_equal(out["hot"], [[0, 1, 0], [1, 0, 0]])


def test_random_uniform_is_deterministic_and_uniform() -> None:
    graph = Graph()
    seed = graph.input("seed", TensorType((), "int64"))
    graph.outputs["u"] = b.random_uniform(seed, (None, 1000), stream=1)
    graph.outputs["v"] = b.random_uniform(seed, (None, 1000), stream=2)
    first, _ = evaluate(graph, {"seed": np.array(5)}, batch=10)
    again, _ = evaluate(graph, {"seed": np.array(5)}, batch=10)
    other, _ = evaluate(graph, {"seed": np.array(6)}, batch=10)
    high, _ = evaluate(graph, {"seed": np.array(5 + 2**32)}, batch=10)  # the high half counts too
    np.testing.assert_array_equal(first["u"], again["u"])
    assert not np.array_equal(first["u"], other["u"])
    assert not np.array_equal(first["u"], high["u"])
    assert not np.array_equal(first["u"], first["v"])
    u = first["u"]
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    bits = uniform_bits(5, 1, 4)
    assert bits.dtype == np.uint32 and len(set(bits.tolist())) == 4


@pytest.mark.parametrize("build_bad, message", [
    (lambda g: b.matmul(g.input("a", TensorType((None, 3))), g.input("b", TensorType((4, 2)))), "inner"),
    (lambda g: g.input("a", TensorType((None, 3))) + g.input("b", TensorType((4,))), "broadcast"),
    (lambda g: b.reshape(g.input("a", TensorType((None, 3))), (None, 4)), "element count"),
    (lambda g: b.transpose(g.input("a", TensorType((None, 3))), (0, 0)), "permutation"),
    (lambda g: b.reduce_sum(g.input("a", TensorType((None, 3))), [0]).graph.add(
        "reduce_sum", [g.inputs["a"]], {"axes": (5,), "keepdims": False}), "out of range"),
    (lambda g: b.slice_(g.input("a", TensorType((None, 3))), (1, 0), (None, 3)), "axis 0 is taken whole"),
    (lambda g: b.slice_(g.input("a", TensorType((None, 3))), (0, 2), (None, 2)),
     "axis 1 of size 3 cannot give 2 elements from 2 in steps of 1"),
    (lambda g: b.slice_(g.input("a", TensorType((None, 7))), (0, 1), (None, 3), (1, -2)),
     "cannot give 3 elements from 1 in steps of -2"),
    (lambda g: b.slice_(g.input("a", TensorType((None, 7))), (0, 1), (None, 3), (1, 0)), "in steps of 0"),
    (lambda g: b.slice_(g.input("a", TensorType((None, 7))), (0, 0), (None, 7), (2, 1)),
     "axis 0 is taken whole"),
    (lambda g: b.pad(g.input("a", TensorType((None, 3))), ((1, 0), (0, 0))), "batch axis 0 cannot be padded"),
    (lambda g: b.pad(g.input("a", TensorType((None, 3))), ((0, 0), (-1, 0))), "counts >= 0"),
    (lambda g: b.concatenate([g.input("a", TensorType((None, 3))), g.input("b", TensorType((None, 2, 1)))]),
     "does not match"),
    (lambda g: b.concatenate([g.input("a", TensorType((None, 3))), g.input("b", TensorType((None, 3)))], 0),
     "not be the batch axis"),
    (lambda g: b.gather(g.input("a", TensorType((5, 3))), g.input("i", TensorType((None,)))),
     "int32 or int64"),
    (lambda g: b.gather(g.input("a", TensorType((None, 3))), g.input("i", TensorType((2,), "int32"))),
     "not be the batch axis"),
    (lambda g: b.scatter_add(g.input("t", TensorType((5, 3))), g.input("i", TensorType((None,), "int32")),
                             g.input("u", TensorType((None, 4)))), "updates must be"),
])
def test_shape_rules_reject_bad_graphs(build_bad, message) -> None:
    with pytest.raises(ShapeError, match=message):
        build_bad(Graph())


@pytest.mark.parametrize("build_bad, message", [
    (lambda g: g.input("a", TensorType((3,), "int64")) + g.input("b", TensorType((3,))), "dtype mismatch"),
    (lambda g: b.exp(g.input("a", TensorType((3,), "int64"))), "exp takes float32"),
    (lambda g: b.random_uniform(g.input("s", TensorType(())), (3,), stream=0), "int64 scalar"),
    (lambda g: g.input("a", TensorType((3,), "int64")) + 0.5, "dtype mismatch"),
])
def test_dtype_rules_reject_mixed_and_float_only_uses(build_bad, message) -> None:
    with pytest.raises(ShapeError, match=message):
        build_bad(Graph())


def test_integer_counters_keep_counting_past_float32_precision() -> None:
    graph = Graph()
    counter = graph.state("c", TensorType((), "int64"))
    graph.updates["c"] = counter + 1
    graph.outputs["t"] = b.cast(counter + 1, "float32")
    value = np.array(2**24, dtype=np.int64)
    for _ in range(3):
        _, updates = evaluate(graph, {}, state={"c": value})
        assert updates["c"].dtype == np.int64 and updates["c"] == value + 1
        value = updates["c"]
    assert value == 2**24 + 3  # float32(2**24) + 1 == 2**24: a float counter would stay put


def test_an_op_definition_is_its_builder() -> None:
    from graphc.ops.elementwise import ADD, EXP
    from graphc.ops.sources import BATCH_SIZE

    g = Graph()
    x = g.input("x", TensorType((None, 3)))
    y = ADD(EXP(x), x)
    assert (y.op, y.inputs[1], y.inputs[0].op) == ("add", x, "exp")
    assert BATCH_SIZE(graph=g).op == "batch_size"
    with pytest.raises(ValueError, match="no operands"):
        BATCH_SIZE()
