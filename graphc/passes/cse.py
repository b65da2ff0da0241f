"""Common-subexpression elimination: one node per (op, operands, attributes).

Inputs and states are the program's interface and are never merged. Random numbers are
merged only when op, seed operand, shape and stream all agree: the generator is a pure
hash of (seed, stream, element index), so such nodes hold the same bits, while different
streams are different draws and stay apart. Operands of commutative ops (OpDef.commutative:
add, mul, equal, bit for bit) are compared as a set.
"""

from __future__ import annotations

from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import rebuild
from graphc.ops.registry import get_op
from graphc.passes.common import add_like, freeze, prune
from graphc.passes.manager import Counters, graph_pass


@graph_pass("cse")
def eliminate_common_subexpressions(graph: Graph) -> tuple[Graph, Counters]:
    """Merge nodes computing the same op on the same operands with the same attributes."""
    table: dict[tuple, Node] = {}
    merged = 0

    def rewrite(node: Node, args: list[Node], new: Graph) -> Node | None:
        nonlocal merged
        if node.op == "constant":
            return None  # Graph.constant already keeps one node per value
        operands = tuple(id(a) for a in args)
        if get_op(node.op).commutative:
            operands = tuple(sorted(operands))
        key = (node.op, operands, freeze(node.attrs))
        if key in table:
            merged += 1
            return table[key]
        copy = add_like(node, new, node.op, args, node.attrs)
        copy.name = node.name
        copy.meta = dict(node.meta)
        table[key] = copy
        return copy

    result = prune(rebuild(graph, rewrite=rewrite))
    return result, {"merged": merged}
