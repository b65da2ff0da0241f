"""The intermediate representation: graphs of single-output nodes with static types."""

from graphc.ir.graph import Graph, Node
from graphc.ir.printer import format_graph
from graphc.ir.types import ShapeError, TensorType, broadcast_shapes, format_shape
from graphc.ir.verify import GraphError, verify

__all__ = [
    "Graph", "GraphError", "Node", "ShapeError", "TensorType", "broadcast_shapes",
    "format_graph", "format_shape", "verify",
]
