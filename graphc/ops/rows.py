"""Whether a graph treats the batch's rows independently.

A recurrent body usually does (a matmul of the rows by weights, gates elementwise): then a scan
can hand each group of rows its whole time loop on one thread, with no barrier between steps,
instead of running every step's kernels in parallel over the batch. The types show most row
mixing (a value without the batch axis computed from one with it: a sum over the batch; the
batch axis moved or multiplied: a transpose, a reshape to T * N rows); each op's `row_local`
fact covers the rest (a gather indexing rows, a random draw numbered by its flat position, the
batch size as a value).
"""

from __future__ import annotations

from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import live_nodes
from graphc.ir.types import TensorType, TupleType, is_batch
from graphc.ops.registry import get_op


def batch_leading(t: TensorType) -> bool | None:
    """True for a plain batch axis in front and nowhere else, None without a batch axis, False
    for any other place (or multiple) of the batch."""
    batch = [is_batch(d) for d in t.shape]
    if not any(batch):
        return None
    return t.shape[0] is None and not any(batch[1:])


def rows_independent(graph: Graph) -> bool:
    """True when every value with a batch axis holds it in front and each of its rows depends only
    on the same row of the batched values it is computed from (dead nodes aside)."""
    batched: set[Node] = set()
    live = live_nodes(graph)
    for node in (n for n in graph.nodes if n in live):
        if not get_op(node.op).row_local(node):
            return False
        fed = any(x in batched for x in node.inputs)
        if isinstance(node.type, TupleType):
            if fed:
                batched.add(node)
            continue
        leading = batch_leading(node.type)
        if leading is False or (fed and leading is None):
            return False
        if leading:
            batched.add(node)
    return True
