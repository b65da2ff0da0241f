"""Diagrams of a Graph at any stage: forward, training (by role) and optimized (fused kernels).

Each node is drawn by what it is: inputs, parameters (trainable states), other states and
constants as distinct shapes, computing nodes as boxes filled by role (forward, loss, metric,
backward, update). Outputs and state updates end in sink nodes named after them. Clusters
group fused kernels (`node.meta["fusion_group"]`) or the layers nodes came from; a node holding
a region (a scan) is drawn in a cluster of its own together with the region's graph, whose
inputs its node feeds (dotted edges) and whose outputs end in sinks. Every node
carries a `class` attribute ("op role-backward", "parameter role-forward", ...), which
Graphviz copies into SVG output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from graphc.export.dot import attrs, check_rankdir, digraph, escape_label, plain
from graphc.ir.graph import ROLES, Graph, Node
from graphc.ir.types import TupleType
from graphc.passes.kernels import FUSION_GROUP

if TYPE_CHECKING:
    import graphviz

CLUSTERS = ("fusion", "layer", None)
FONT = "Helvetica"

ROLE_FILL = {
    "forward": "#dbe8f7",
    "loss": "#fde0c5",
    "metric": "#e6dcf2",
    "backward": "#f6cfcf",
    "update": "#d3efdb",
}
SOURCE_STYLE = {
    "input": {"shape": "invhouse", "style": "filled", "fillcolor": "#ffffff"},
    "parameter": {"shape": "cylinder", "style": "filled", "fillcolor": "#ffd966"},
    "state": {"shape": "cylinder", "style": "filled", "fillcolor": "#d9d9d9"},
    "constant": {"shape": "note", "style": "filled", "fillcolor": "#f3f3f3", "fontcolor": "#555555"},
}
SINK_STYLE = {
    "output": {"shape": "oval", "style": "filled,bold", "fillcolor": "#ffffff"},
    "update": {"shape": "cylinder", "style": "dashed", "fillcolor": "#ffffff"},
}


def node_kind(node: Node) -> str:
    """input, parameter, state, constant or op."""
    if node.op == "input":
        return "input"
    if node.op == "state":
        return "parameter" if node.attrs.get("trainable") else "state"
    if node.op == "constant":
        return "constant"
    return "op"


def node_id(node: Node) -> str:
    return f"n{node.id}"


def shape_text(node: Node) -> str:
    if isinstance(node.type, TupleType):
        return f"{len(node.type)} values"
    dims = ", ".join("N" if d is None else str(d) for d in node.shape)
    if len(node.shape) == 1:
        dims += ","
    return f"({dims}) {node.type.dtype}"


def node_label(node: Node, show_shapes: bool) -> str:
    kind = node_kind(node)
    if kind in ("input", "parameter", "state"):
        lines = [node.attrs["name"], kind]
    elif kind == "constant":
        value = node.attrs["value"]
        lines = ["constant", f"{float(value.reshape(-1)[0]):g}"] if value.size == 1 else ["constant"]
    else:
        lines = [node.op]
    if show_shapes and not (kind == "constant" and node.attrs["value"].size == 1):
        lines.append(shape_text(node))
    return "\\n".join(escape_label(line) for line in lines)


def _node_attrs(node: Node, show_shapes: bool) -> dict[str, object]:
    kind = node_kind(node)
    attrs: dict[str, object] = {"label": node_label(node, show_shapes)}
    if kind == "op":
        attrs.update({"fillcolor": ROLE_FILL.get(node.role, "#ffffff")})
    else:
        attrs.update(SOURCE_STYLE[kind])
    attrs["class"] = f"{kind} role-{node.role}"
    origin = f" in {node.layer}" if node.layer else ""
    attrs["tooltip"] = f"%{node.id} {node.op}{origin} ({node.role})"
    return attrs


@dataclass(frozen=True)
class _Cluster:
    name: str
    label: str
    members: tuple[Node, ...]


def _clusters(graph: Graph, mode: str | None) -> list[_Cluster]:
    groups: dict[object, list[Node]] = {}
    for node in graph.nodes:
        if mode == "fusion":
            key = node.meta.get(FUSION_GROUP)
        elif mode == "layer":
            key = node.layer
        else:
            key = None
        if key is not None:
            groups.setdefault(key, []).append(node)
    result = []
    for index, (key, members) in enumerate(groups.items()):
        if mode == "fusion":
            ops = ", ".join(dict.fromkeys(n.op for n in members))
            label = f"fused kernel {index}: {ops}"
        else:
            label = str(key)
        result.append(_Cluster(f"{mode}_{index}", label, tuple(members)))
    return result


def graph_to_dot(graph: Graph, *, title: str | None = None, show_shapes: bool = True,
                 clusters: str | None = "fusion", rankdir: str = "TB") -> str:
    """DOT text for `graph`; needs no Graphviz installation."""
    diagram = graph_diagram(graph, title=title, show_shapes=show_shapes, clusters=clusters, rankdir=rankdir)
    return diagram.source


def graph_diagram(graph: Graph, *, title: str | None = None, show_shapes: bool = True,
                  clusters: str | None = "fusion", rankdir: str = "TB") -> graphviz.Digraph:
    """`graph` as a graphviz.Digraph (`.source` is the DOT text, `.render()` writes images, and a
    notebook displays it inline)."""
    if not isinstance(graph, Graph):
        raise TypeError(f"graph_to_dot: `graph` must be a graphc Graph, got {type(graph).__name__}")
    if clusters not in CLUSTERS:
        raise ValueError(f"graph_to_dot: `clusters` must be one of {CLUSTERS}, got {clusters!r}")
    check_rankdir(rankdir)
    dot = digraph(graph.name,
                  {"rankdir": rankdir, "label": escape_label(title or graph.name), "labelloc": "t",
                   "fontname": FONT, "fontsize": 14},
                  {"shape": "box", "style": "rounded,filled", "fontname": FONT, "fontsize": 10},
                  {"color": "#555555", "arrowsize": 0.6})
    clustered: set[Node] = set()
    for node in graph.nodes:
        if node.regions:
            _region_cluster(dot, node, show_shapes)
            clustered.add(node)
    for cluster in _clusters(graph, clusters):
        with dot.subgraph(name=plain(f"cluster_{cluster.name}")) as sub:
            sub.attr("graph", **attrs({"label": escape_label(cluster.label), "style": "rounded,dashed",
                                       "color": "#7f7f7f", "fontsize": 10}))
            for node in cluster.members:
                if node not in clustered:
                    sub.node(node_id(node), **attrs(_node_attrs(node, show_shapes)))
        clustered.update(cluster.members)
    for node in graph.nodes:
        if node not in clustered:
            dot.node(node_id(node), **attrs(_node_attrs(node, show_shapes)))
    for node in graph.nodes:
        for src in node.inputs:
            dot.edge(node_id(src), node_id(node))
    _sinks(dot, graph)
    roles = [r for r in ROLES if any(n.role == r and node_kind(n) == "op" for n in graph.nodes)]
    if len(roles) > 1:
        _legend(dot, roles)
    return dot


def _region_cluster(dot: graphviz.Digraph, owner: Node, show_shapes: bool, prefix: str = "") -> None:
    """`owner` and the graphs it runs, in one cluster; region node names are prefixed by the owner's."""
    own_id = prefix + node_id(owner)
    with dot.subgraph(name=plain(f"cluster_region_{own_id}")) as sub:
        sub.attr("graph", **attrs({"label": escape_label(f"{owner.op} %{owner.id}"), "style": "rounded",
                                   "color": "#3c78d8", "fontsize": 10}))
        sub.node(own_id, **attrs(_node_attrs(owner, show_shapes)))
        for number, region in enumerate(owner.regions):
            inner = f"{own_id}r{number}_"
            with sub.subgraph(name=plain(f"cluster_{inner}body")) as body:
                body.attr("graph", **attrs({"label": escape_label(f"body {region.name}"),
                                            "style": "rounded,dashed", "color": "#7f7f7f", "fontsize": 10}))
                for node in region.nodes:
                    if node.regions:
                        _region_cluster(body, node, show_shapes, inner)
                    else:
                        body.node(inner + node_id(node), **attrs(_node_attrs(node, show_shapes)))
                for node in region.nodes:
                    for src in node.inputs:
                        body.edge(inner + node_id(src), inner + node_id(node))
                for index, (name, node) in enumerate(region.outputs.items()):
                    sink = f"{inner}output_{index}"
                    body.node(sink, **attrs({"label": escape_label(f"\u2192 {name}"), **SINK_STYLE["output"],
                                             "class": "output"}))
                    body.edge(inner + node_id(node), sink)
            for node in region.inputs.values():
                sub.edge(own_id, inner + node_id(node), style="dotted")


def _sinks(dot: graphviz.Digraph, graph: Graph) -> None:
    for index, (name, node) in enumerate(graph.outputs.items()):
        sink = f"output_{index}"
        dot.node(sink, **attrs({"label": escape_label(f"output {name}"), **SINK_STYLE["output"],
                                "class": "output"}))
        dot.edge(node_id(node), sink)
    for index, (name, node) in enumerate(graph.updates.items()):
        sink = f"update_{index}"
        dot.node(sink, **attrs({"label": escape_label(f"{name} \u2190"), **SINK_STYLE["update"],
                                "class": "update"}))
        dot.edge(node_id(node), sink, style="dashed")


def _legend(dot: graphviz.Digraph, roles: list[str]) -> None:
    with dot.subgraph(name="cluster_legend") as sub:
        sub.attr("graph", label="roles", style="rounded", color="#bfbfbf", fontsize="10")
        for role in reversed(roles):  # dot lays out unconnected nodes of a rank right to left
            legend = {"label": role, "fillcolor": ROLE_FILL[role], "class": "legend"}
            sub.node(f"legend_{role}", **attrs(legend))
