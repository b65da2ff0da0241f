"""Shape and dtype inference over a whole graph, with errors naming the layer."""

from __future__ import annotations

import pytest

from graphc.ir import Graph, ShapeError, TensorType
from graphc.ops import builders as b
from graphc.passes.infer_shapes import ShapeInferenceError, infer_shapes, infer_types


def _dense() -> Graph:
    g = Graph("dense")
    x = g.input("x", TensorType((None, 4)))
    with g.scope(layer="dense_1"):
        w = g.state("dense_1/kernel", TensorType((4, 3)))
        y = b.matmul(x, w) + g.state("dense_1/bias", TensorType((3,)))
    with g.scope(layer="head"):
        g.outputs["y"] = b.reduce_sum(b.tanh(y), [1])
    return g


def test_types_follow_from_the_interface_with_the_symbolic_batch() -> None:
    graph = _dense()
    types = infer_types(graph)
    assert [str(types[n]) for n in graph.nodes if n.op in ("matmul", "reduce_sum")] == ["f32[N,3]", "f32[N]"]
    result, counters = infer_shapes.transform(graph)
    assert result is graph
    assert counters == {"checked": len(graph.nodes), "batch_dependent": 5}


def test_a_changed_declaration_is_reported_where_it_disagrees_with_its_layer() -> None:
    graph = _dense()
    graph.states["dense_1/kernel"].attrs["type"] = TensorType((4, 1))
    with pytest.raises(ShapeInferenceError, match=r"layer 'dense_1': state 'dense_1/kernel' \(node %1\): "
                                                   r"recorded type f32\[4,3\] but its rule gives f32\[4,1\]"):
        infer_shapes(graph)


def test_a_rule_failure_names_the_layer_and_the_operands() -> None:
    graph = _dense()
    (matmul,) = [n for n in graph.nodes if n.op == "matmul"]
    matmul.attrs["transpose_b"] = True
    with pytest.raises(ShapeError, match=r"layer 'dense_1': matmul \(node %\d+\): matmul inner dimensions "
                                         r"differ.*operands f32\[N,4\], f32\[4,3\]"):
        infer_shapes(graph)


def test_nodes_without_a_layer_name_their_role_and_updates_are_checked() -> None:
    g = Graph("update")
    w = g.state("w", TensorType((3,)))
    with g.scope(role="update"):
        g.updates["w"] = w - 1.0
    g.nodes[-1].type = TensorType((3, 1))
    with pytest.raises(ShapeInferenceError, match="no layer \\(update role\\): sub"):
        infer_shapes(g)
    g2 = Graph("update2")
    v = g2.state("v", TensorType((2,)))
    g2.updates["v"] = b.reduce_sum(v, keepdims=True)
    with pytest.raises(ShapeInferenceError, match="updates state 'v' of type f32\\[2\\] with a value of type "
                                                  "f32\\[1\\]"):
        infer_shapes(g2)
