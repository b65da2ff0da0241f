"""Graph construction, verification, printing and rebuilding."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.interpreter import evaluate
from graphc.ir import Graph, GraphError, ShapeError, TensorType, broadcast_shapes, format_graph, verify
from graphc.ir.rewrite import rebuild
from graphc.ops import builders as b


def _mlp() -> Graph:
    graph = Graph("mlp")
    x = graph.input("x", TensorType((None, 4)))
    w = graph.state("w", TensorType((4, 2)), trainable=True)
    with graph.scope(layer="dense"):
        y = b.tanh(b.matmul(x, w) + 1.0)
    graph.outputs["y"] = y
    graph.updates["w"] = w * 0.5
    return graph


def test_types_and_broadcasting() -> None:
    t = TensorType((None, 3))
    assert t.has_batch and t.static_numel == 3 and t.numel(5) == 15 and str(t) == "f32[N,3]"
    assert broadcast_shapes((None, 1), (1, 4)) == (None, 4)
    assert broadcast_shapes((None, 3), ()) == (None, 3)
    with pytest.raises(ShapeError):
        broadcast_shapes((None, 3), (5, 3))
    with pytest.raises(ShapeError):
        TensorType((3,), "int8")


def test_verify_accepts_built_graphs_and_rejects_broken_ones() -> None:
    graph = _mlp()
    verify(graph)
    graph.updates["w"] = graph.outputs["y"]
    with pytest.raises(GraphError, match="update of 'w'"):
        verify(graph)
    other = _mlp()
    other.nodes.reverse()
    with pytest.raises(GraphError, match="before it is defined"):
        verify(other)


def test_printer_names_ops_types_and_layers() -> None:
    text = format_graph(_mlp())
    assert "matmul(%0, %1)" in text and "f32[N,2]" in text and "# dense" in text
    assert "update w <- " in text


def test_rebuild_preserves_semantics_and_interface() -> None:
    graph = _mlp()
    copy = rebuild(graph)
    verify(copy)
    assert list(copy.inputs) == ["x"] and list(copy.states) == ["w"]
    feeds = {"x": np.arange(8.0).reshape(2, 4) / 8}
    state = {"w": np.ones((4, 2))}
    assert all(np.allclose(a, b_) for a, b_ in zip(evaluate(graph, feeds, state)[0].values(),
                                                  evaluate(copy, feeds, state)[0].values(), strict=True))
    assert copy.outputs["y"].layer == "dense"


def test_nodes_from_another_graph_are_rejected() -> None:
    one, two = Graph(), Graph()
    x = one.input("x", TensorType((2,)))
    with pytest.raises(ValueError, match="another graph"):
        two.add("neg", [x])


def test_to_networkx_holds_every_node_operand_and_interface_name() -> None:
    import networkx as nx

    from graphc.ir import Graph, TensorType

    g = Graph("net")
    x = g.input("x", TensorType((None, 3)))
    w = g.state("w", TensorType((3,)))
    squared = x * x  # the same operand twice: two edges
    g.outputs["y"] = squared + w
    g.updates["w"] = w + 1.0
    net = g.to_networkx()
    assert net.number_of_nodes() == len(g.nodes)
    assert net.number_of_edges() == sum(len(n.inputs) for n in g.nodes)
    assert nx.is_directed_acyclic_graph(net)
    order = {node_id: i for i, node_id in enumerate(nx.topological_sort(net))}
    assert all(order[src.id] < order[n.id] for n in g.nodes for src in n.inputs)
    assert net.nodes[x.id]["interface"] == ["input:x"] and net.nodes[w.id]["interface"] == ["state:w"]
    assert sorted(d["operand"] for _, _, d in net.in_edges(squared.id, data=True)) == [0, 1]
    assert net.nodes[g.outputs["y"].id]["shape"] == (None, 3) and net.nodes[w.id]["dtype"] == "float32"


def test_basic_indexing_of_traced_tensors_is_slice_and_reshape() -> None:
    g = Graph("index")
    x = g.input("x", TensorType((None, 4, 6)))
    g.outputs.update(a=x[:, 1:3], b=x[:, -1], c=x[..., 2:], d=x[:, 2, 5], e=x[:, ::-2, 1::2], f=x[:, 3, ::-1])
    value = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    out, _ = evaluate(g, {"x": value})
    expected = {"a": value[:, 1:3], "b": value[:, -1], "c": value[..., 2:], "d": value[:, 2, 5],
                "e": value[:, ::-2, 1::2], "f": value[:, 3, ::-1]}
    for name, want in expected.items():
        np.testing.assert_array_equal(out[name], want)
    for bad, message in ((lambda: x[0], "batch axis"), (lambda: x[:, 9], "out of range"),
                         (lambda: x[:, None], "ints or slices")):
        with pytest.raises(IndexError, match=message):
            bad()


def test_regions_change_the_recorded_fingerprint() -> None:
    from graphc.codegen.recorded import fingerprint
    from tests.ops.test_scan import build

    first, second = build(), build()
    assert fingerprint(first) == fingerprint(second)
    body = next(n for n in second.nodes if n.op == "scan").attrs["body"]
    body.outputs["y2"] = body.outputs["y"]
    assert fingerprint(first) != fingerprint(second)
