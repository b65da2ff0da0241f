"""Shape and dtype inference: every op's rule re-run over the whole graph.

Graph.add already checks each node as it is recorded, but attributes, declared input and
state types can change afterwards (a pass, a deserialised graph, a model rebuilt for other
input shapes). Re-running the rules from the interface types finds the first node whose
recorded type no longer follows, and names the layer it came from.
"""

from __future__ import annotations

from graphc.ir.graph import Graph, Node
from graphc.ir.types import ShapeError, TensorType
from graphc.ops.registry import get_op
from graphc.passes.manager import Counters, graph_pass


class ShapeInferenceError(ShapeError):
    """A node's type does not follow from its inputs; the message names its layer."""

    def __init__(self, node: Node, detail: str) -> None:
        origin = f"layer {node.layer!r}" if node.layer else f"no layer ({node.role} role)"
        name = f" {node.name!r}" if node.name else ""
        super().__init__(f"{origin}: {node.op}{name} (node %{node.id}): {detail}")
        self.node = node


def infer_types(graph: Graph) -> dict[Node, TensorType]:
    """The type of every node as its op's rule gives it from the inputs' inferred types."""
    types: dict[Node, TensorType] = {}
    for node in graph.nodes:
        operands = [types[i] for i in node.inputs]
        try:
            types[node] = get_op(node.op).infer(operands, node.attrs)
        except (ShapeError, KeyError, TypeError, ValueError) as error:
            shown = ", ".join(str(t) for t in operands) or "no operands"
            raise ShapeInferenceError(node, f"{error} (operands {shown})") from error
    return types


@graph_pass("infer-shapes")
def infer_shapes(graph: Graph) -> tuple[Graph, Counters]:
    """Re-run every op's shape and dtype rule (the batch dim N symbolic) and check the recorded types."""
    types = infer_types(graph)
    for node in graph.nodes:
        if types[node] != node.type:
            raise ShapeInferenceError(node, f"recorded type {node.type} but its rule gives {types[node]}")
    for name, node in graph.updates.items():
        state = graph.states.get(name)
        if state is not None and types[node] != types[state]:
            raise ShapeInferenceError(node, f"updates state {name!r} of type {types[state]} "
                                            f"with a value of type {types[node]}")
    batched = sum(t.has_batch for t in types.values())
    return graph, {"checked": len(types), "batch_dependent": batched}
