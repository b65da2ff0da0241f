"""Graphviz export of graphs and models, and inspection of what the compiler does with a model.

Drawing needs only the IR; `inspect_model`, `stage_graph` and `model_programs` run the
frontend and the pass pipeline, so they are imported on first use (PEP 562) and
`keras.utils.plot_model` stays light.
"""

from typing import Any

from graphc.export.dump import dot_dump
from graphc.export.graph_dot import graph_to_dot
from graphc.export.loader import load_model
from graphc.export.model_dot import model_to_dot, plot_model
from graphc.export.render import GraphvizNotFoundError, has_dot, render

_LAZY = {
    "InspectReport": "graphc.export.inspect",
    "inspect_model": "graphc.export.inspect",
    "STAGES": "graphc.export.stages",
    "model_programs": "graphc.export.stages",
    "stage_graph": "graphc.export.stages",
}

__all__ = [
    "STAGES",
    "GraphvizNotFoundError",
    "InspectReport",
    "dot_dump",
    "graph_to_dot",
    "has_dot",
    "inspect_model",
    "load_model",
    "model_programs",
    "model_to_dot",
    "plot_model",
    "render",
    "stage_graph",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'graphc.export' has no attribute {name!r}")
