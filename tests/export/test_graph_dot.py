"""graph_to_dot checked by parsing the DOT it writes: nodes, edges, labels, kinds, roles, clusters."""

from __future__ import annotations

import re

import pytest

from graphc.build import stage_graph
from graphc.export import dot_dump, graph_to_dot, has_dot, render
from graphc.export.graph_dot import ROLE_FILL, SOURCE_STYLE, node_kind
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from graphc.passes import DumpEach, run_pipeline
from graphc.passes.kernels import FUSION_GROUP
from tests.export.dotparse import Dot, parse_dot
from tests.export.models import small_cnn, small_mlp


def _graph_nodes(dot: Dot) -> dict[str, dict[str, str]]:
    return {name: attrs for name, attrs in dot.nodes.items() if name.startswith("n")}


def _check_structure(graph: Graph, dot: Dot) -> None:
    """Every node and every operand edge is drawn, once, with its op (or name) and shape."""
    nodes = _graph_nodes(dot)
    assert set(nodes) == {f"n{n.id}" for n in graph.nodes}
    expected = sorted((f"n{src.id}", f"n{n.id}") for n in graph.nodes for src in n.inputs)
    assert sorted((a, c) for a, c, _ in dot.edges if a in nodes and c in nodes) == expected
    for node in graph.nodes:
        lines = dot.label_lines(f"n{node.id}")
        kind = node_kind(node)
        assert dot.classes(f"n{node.id}") == {kind, f"role-{node.role}"}
        if kind == "op":
            assert lines[0] == node.op
        elif kind != "constant":
            assert lines[:2] == [node.attrs["name"], kind]
        if kind != "constant" or node.attrs["value"].size > 1:
            dims = ", ".join("N" if d is None else str(d) for d in node.shape) + ("," if node.type.rank == 1
                                                                                 else "")
            assert lines[-1] == f"({dims}) {node.type.dtype}"


def test_forward_graph_draws_every_node_edge_and_interface() -> None:
    graph = stage_graph(small_mlp(), "forward")
    dot = parse_dot(graph_to_dot(graph, title="forward"))
    _check_structure(graph, dot)
    assert dot.graph_attrs["label"] == "forward" and dot.graph_attrs["rankdir"] == "TB"
    (sink,) = [n for n, attrs in dot.nodes.items() if "output" in attrs.get("class", "")]
    assert dot.nodes[sink]["label"] == "output y_pred"
    assert (f"n{graph.outputs['y_pred'].id}", sink) in {(a, c) for a, c, _ in dot.edges}
    assert "legend_forward" not in dot.nodes  # one role: no legend


@pytest.mark.parametrize("stage", ["forward", "training", "optimized"])
def test_image_model_stages_draw_every_node(stage: str) -> None:
    graph = stage_graph(small_cnn(), stage)
    assert {"conv2d", "pool2d"} <= {n.op for n in graph.nodes}
    _check_structure(graph, parse_dot(graph_to_dot(graph, title=stage)))


def test_training_graph_draws_roles_and_sources_distinctly() -> None:
    graph = stage_graph(small_mlp(), "training")
    dot = parse_dot(graph_to_dot(graph, clusters=None))
    _check_structure(graph, dot)
    roles = {n.role for n in graph.nodes if node_kind(n) == "op"}
    assert roles == {"forward", "loss", "metric", "backward", "update"}
    for node in graph.nodes:
        attrs = dot.nodes[f"n{node.id}"]
        kind = node_kind(node)
        if kind == "op":
            assert attrs["fillcolor"] == ROLE_FILL[node.role]
        else:
            assert (attrs["shape"], attrs["fillcolor"]) == (SOURCE_STYLE[kind]["shape"],
                                                           SOURCE_STYLE[kind]["fillcolor"])
    kinds = {node_kind(n) for n in graph.nodes}
    assert {"input", "parameter", "state", "constant"} <= kinds
    assert len({(s["shape"], s["fillcolor"]) for s in SOURCE_STYLE.values()}) == len(SOURCE_STYLE)
    assert len(set(ROLE_FILL.values())) == len(ROLE_FILL)
    params = [n for n in graph.states.values() if n.attrs["trainable"]]
    assert params and all(dot.classes(f"n{p.id}") >= {"parameter"} for p in params)
    updates = {attrs["label"] for attrs in dot.nodes.values() if attrs.get("class") == "update"}
    assert updates == {f"{name} \u2190" for name in graph.updates}
    (legend,) = [c for c in dot.clusters if c.name == "cluster_legend"]
    assert {dot.nodes[n]["label"] for n in legend.nodes} == roles


def test_fusion_groups_become_clusters_labelled_with_their_ops() -> None:
    g = Graph("fused")
    x = g.input("x", TensorType((None, 4)))
    t = b.tanh(x)
    e = b.exp(t) * 2.0
    s = b.reduce_sum(e, [1])
    for node in (t, e.inputs[0], e):
        node.meta[FUSION_GROUP] = 7
    g.outputs["s"] = s
    dot = parse_dot(graph_to_dot(g))
    (cluster,) = dot.clusters
    assert cluster.name == "cluster_fusion_0"
    assert set(cluster.nodes) == {f"n{n.id}" for n in (t, e.inputs[0], e)}
    assert cluster.attrs["label"] == "fused kernel 0: tanh, exp, mul"
    assert parse_dot(graph_to_dot(g, clusters=None)).clusters == []


def test_optimized_graph_clusters_match_the_fusion_groups() -> None:
    graph = stage_graph(small_mlp(), "optimized", level=2)
    dot = parse_dot(graph_to_dot(graph))
    _check_structure(graph, dot)
    groups: dict[object, set[str]] = {}
    for node in graph.nodes:
        if node.meta.get(FUSION_GROUP) is not None:
            groups.setdefault(node.meta[FUSION_GROUP], set()).add(f"n{node.id}")
    fused = [c for c in dot.clusters if c.name.startswith("cluster_fusion_")]
    assert groups and sorted(map(sorted, groups.values())) == sorted(sorted(c.nodes) for c in fused)


def test_layer_clusters_hold_the_nodes_of_each_layer() -> None:
    model = small_mlp()
    graph = stage_graph(model, "training")
    dot = parse_dot(graph_to_dot(graph, clusters="layer"))
    layers = {c.attrs["label"]: set(c.nodes) for c in dot.clusters if c.name.startswith("cluster_layer_")}
    expected: dict[str, set[str]] = {}
    for node in graph.nodes:
        if node.layer is not None:
            expected.setdefault(node.layer, set()).add(f"n{node.id}")
    assert layers == expected and {layer.name for layer in model.layers} <= set(layers)


def test_labels_without_shapes_and_text_that_needs_escaping() -> None:
    g = Graph('quoted "name" \\ back')
    x = g.input('in "1"', TensorType((None, 3)))
    y = g.outputs['out "2"'] = b.exp(x)
    text = graph_to_dot(g, title='a "title"\\', show_shapes=False, rankdir="LR")
    dot = parse_dot(text)
    assert dot.name == 'quoted "name" \\ back'
    assert dot.graph_attrs["label"] == 'a "title"\\\\' and dot.graph_attrs["rankdir"] == "LR"
    assert dot.label_lines(f"n{x.id}") == ['in "1"', "input"]
    assert dot.label_lines(f"n{y.id}") == ["exp"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"clusters": "kernels"}, "clusters"),
    ({"rankdir": "XY"}, "rankdir"),
])
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    g = Graph("g")
    g.outputs["x"] = g.input("x", TensorType((2,)))
    with pytest.raises(ValueError, match=message):
        graph_to_dot(g, **kwargs)
    with pytest.raises(TypeError, match="graph"):
        graph_to_dot("not a graph")  # type: ignore[arg-type]


@pytest.mark.skipif(not has_dot(), reason="Graphviz `dot` is not installed")
def test_svg_carries_every_node_with_its_kind_and_role_classes(tmp_path) -> None:
    graph = stage_graph(small_mlp(), "training")
    svg = render(graph_to_dot(graph), tmp_path / "training.svg").read_text()
    found = re.findall(r'class="node ([^"]*)">\s*<title>(n\d+)</title>', svg)
    drawn = {title: classes for classes, title in found}
    assert drawn == {f"n{n.id}": f"{node_kind(n)} role&#45;{n.role}" for n in graph.nodes}


def test_dot_dump_draws_the_graph_after_every_pass(tmp_path) -> None:
    graph = stage_graph(small_mlp(), "training")
    result = run_pipeline(graph, 2, instruments=[DumpEach(dot_dump(tmp_path, clusters="fusion"))])
    names = ["00-input"] + [f"{i:02d}-{s.name}" for i, s in enumerate(result.stats, start=1)]
    files = sorted(tmp_path.iterdir())
    assert [f.name.rsplit(".", 2)[1] for f in files] == names
    last = parse_dot(files[-1].read_text())
    assert last.graph_attrs["label"] == f"{graph.name} {names[-1]}"
    assert {n for n in last.nodes if n.startswith("n")} == {f"n{n.id}" for n in result.graph.nodes}


def test_a_scan_is_drawn_as_a_cluster_holding_its_body() -> None:
    from graphc.export.graph_dot import graph_to_dot
    from tests.ops.test_scan import build

    text = graph_to_dot(build())
    assert text.count("subgraph cluster_region_") == 3  # forward, recomputed history, reverse scan
    assert "body cell_history_grad" in text and "tanh" in text and "style=dotted" in text
