"""Graphviz diagrams of graphs and models.

Drawing needs only the IR and the model's layers; recording a model's programs and
inspecting them is the driver's job (graphc.build).
"""

from graphc.export.dump import dot_dump
from graphc.export.graph_dot import graph_diagram, graph_to_dot
from graphc.export.model_dot import model_to_dot, plot_model
from graphc.export.render import GraphvizNotFoundError, has_dot, render

__all__ = [
    "GraphvizNotFoundError", "dot_dump", "graph_diagram", "graph_to_dot", "has_dot", "model_to_dot",
    "plot_model", "render",
]
