"""Constant folding through the ops' numpy reference semantics.

A node whose operands are all constants is evaluated at compile time, in its own dtype
(float32, or the exact integers) as the compiled code would, and becomes a constant. Never
folded: ops that say they are not foldable (OpDef.foldable: sources, whose values only exist
at run time, and random numbers, whose seed is a state: folding them would freeze one draw)
and any value with the batch dimension.

Only results of at most MAX_ELEMENTS elements are folded. Folded values become read-only
arrays in the object file: a scalar is emitted as an immediate inside fused loops, but
folding, say, `broadcast_to(0.0, (784, 512))` would embed 1.6 MB in the library and replace
a loop that costs nothing with one that streams those bytes from memory on every step.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import rebuild
from graphc.ops.registry import EvalContext, get_op
from graphc.passes.common import prune
from graphc.passes.manager import Counters, graph_pass

MAX_ELEMENTS = 64


def foldable(node: Node, inputs: list[Node]) -> bool:
    if not get_op(node.op).foldable or not inputs:
        return False
    if node.type.has_batch or node.type.static_numel > MAX_ELEMENTS:
        return False
    return all(i.op == "constant" for i in inputs)


@graph_pass("fold-constants")
def fold_constants(graph: Graph) -> tuple[Graph, Counters]:
    """Evaluate small batch-independent nodes whose operands are all constants."""
    folded = 0
    ctx = EvalContext(batch=1, dtype=np.float32)

    def rewrite(node: Node, inputs: list[Node], new: Graph) -> Node | None:
        nonlocal folded
        if not foldable(node, inputs):
            return None
        args = [i.attrs["value"] for i in inputs]
        with np.errstate(all="ignore"):
            value = np.asarray(get_op(node.op).reference(node.attrs, ctx, *args), dtype=node.type.dtype)
        if value.shape != node.type.shape:
            raise AssertionError(f"{node!r}: reference gave shape {value.shape}, rule gives {node.type}")
        folded += 1
        with new.scope(layer=node.layer, role=node.role):
            return new.constant(value)

    result = prune(rebuild(graph, rewrite=rewrite))
    return result, {"folded": folded}
