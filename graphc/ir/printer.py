"""A readable text form of a graph, one node per line."""

from __future__ import annotations

import numpy as np

from graphc.ir.graph import Graph, Node

INDENT = "    "


def _attr_text(node: Node) -> str:
    parts = []
    for key, value in node.attrs.items():
        if key == "type" or isinstance(value, Graph):
            continue
        if isinstance(value, np.ndarray):
            value = value.item() if value.size == 1 else f"array{value.shape}"
        parts.append(f"{key}={value}")
    return "{" + ", ".join(parts) + "}" if parts else ""


def format_graph(graph: Graph, indent: str = "") -> str:
    """One line per node; a node's regions follow it, indented, each as a graph of its own."""
    lines = [f"{indent}graph {graph.name} ({len(graph.nodes)} nodes)"]
    for node in graph.nodes:
        args = ", ".join(f"%{i.id}" for i in node.inputs)
        origin = f"  # {node.layer}" if node.layer else ""
        lines.append(f"{indent}  %{node.id}: {node.type} = {node.op}({args}){_attr_text(node)} "
                     f"[{node.role}]{origin}")
        lines += [format_graph(region, indent + INDENT) for region in node.regions]
    for name, node in graph.outputs.items():
        lines.append(f"{indent}  output {name} = %{node.id}")
    for name, node in graph.updates.items():
        lines.append(f"{indent}  update {name} <- %{node.id}")
    return "\n".join(lines)
