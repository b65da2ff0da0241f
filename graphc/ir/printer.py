"""A readable text form of a graph, one node per line."""

from __future__ import annotations

import numpy as np

from graphc.ir.graph import Graph, Node


def _attr_text(node: Node) -> str:
    parts = []
    for key, value in node.attrs.items():
        if key == "type":
            continue
        if isinstance(value, np.ndarray):
            value = value.item() if value.size == 1 else f"array{value.shape}"
        parts.append(f"{key}={value}")
    return "{" + ", ".join(parts) + "}" if parts else ""


def format_graph(graph: Graph) -> str:
    lines = [f"graph {graph.name} ({len(graph.nodes)} nodes)"]
    for node in graph.nodes:
        args = ", ".join(f"%{i.id}" for i in node.inputs)
        origin = f"  # {node.layer}" if node.layer else ""
        lines.append(f"  %{node.id}: {node.type} = {node.op}({args}){_attr_text(node)} [{node.role}]{origin}")
    for name, node in graph.outputs.items():
        lines.append(f"  output {name} = %{node.id}")
    for name, node in graph.updates.items():
        lines.append(f"  update {name} <- %{node.id}")
    return "\n".join(lines)
