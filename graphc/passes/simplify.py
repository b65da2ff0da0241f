"""Algebraic simplification: identities that remove work, and stable forms of unstable patterns.

Rules are declarative patterns (passes/patterns.py) applied bottom-up while the graph is
rebuilt, each replacement matched again until none applies, so chains collapse in one sweep
(neg(neg(neg x)) -> neg x, three transposes -> one). Identities are exact in IEEE
arithmetic except `x + 0 -> x` (which keeps a -0.0 that the sum would turn into +0.0)
and the two rewrites that improve accuracy rather than preserve rounding:
`log(exp(x)) -> x` (exact where exp does not overflow) and log-softmax in log-sum-exp form.
"""

from __future__ import annotations

from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import rebuild
from graphc.ir.types import ShapeError, broadcast_shapes
from graphc.ops.reduction import reduced_shape
from graphc.ops.registry import OpKind, get_op
from graphc.passes.common import add_like, prune
from graphc.passes.manager import Counters, graph_pass
from graphc.passes.patterns import Match, Pat, PatternMatcher, const

Users = dict[Node, list[Node]]
X = Pat(name="x")


def same_type(m: Match) -> Node | None:
    """x*1, 1*x, x+0, 0+x, x-0, x/1 -> x, when no broadcasting was involved."""
    return m["x"] if m["x"].type == m.node.type else None


def double_negation(m: Match) -> Node:
    return m["x"]


def log_of_exp(m: Match) -> Node:
    return m["x"]


def transposes(m: Match) -> Node | None:
    """Identity permutations vanish; transpose(transpose(x, p), q) is one transpose by p[q[j]]."""
    x = m["x"]
    perm = tuple(m.node.attrs["perm"])
    if x.op == "transpose":
        inner = x.attrs["perm"]
        perm = tuple(inner[p] for p in perm)
        x = x.inputs[0]
    if perm == tuple(range(len(perm))):
        return x
    if x is m["x"]:
        return None
    return add_like(m.node, m.new, "transpose", [x], {"perm": perm})


def reshapes(m: Match) -> Node | None:
    """Reshape chains become one reshape (or none); reshape(reduce(x)) to the kept-dims shape
    becomes the reduction with keepdims, which needs no view at all."""
    node, x = m.node, m["x"]
    shape = tuple(node.attrs["shape"])
    while x.op == "reshape":
        x = x.inputs[0]
    if x.shape == shape:
        return x
    source = node.inputs[0]
    users: Users = m.context
    if (x is m["x"] and get_op(x.op).accumulates and source.op == x.op and len(users.get(source, ())) == 1
            and not x.attrs["keepdims"] and reduced_shape(x.inputs[0].shape, x.attrs["axes"], True) == shape):
        return add_like(x, m.new, x.op, list(x.inputs), {"axes": x.attrs["axes"], "keepdims": True})
    if x is m["x"]:
        return None
    return add_like(node, m.new, "reshape", [x], {"shape": shape})


def _elementwise(node: Node) -> bool:
    return get_op(node.op).kind is OpKind.ELEMENTWISE


def broadcast_operands(m: Match) -> Node | None:
    """Elementwise ops broadcast by themselves: drop broadcast_to operands that leave the shape as is."""
    node, args = m.node, m.args
    if not any(a.op == "broadcast_to" for a in args):
        return None
    operands = list(args)
    for i, arg in enumerate(args):
        if arg.op != "broadcast_to":
            continue
        trial = operands[:i] + [arg.inputs[0]] + operands[i + 1:]
        try:
            shape = broadcast_shapes(*(a.shape for a in trial))
        except ShapeError:
            continue
        if shape == node.shape:
            operands = trial
    if operands == args:
        return None
    return add_like(node, m.new, node.op, operands, node.attrs)


def per_channel_before_view(m: Match) -> Node | None:
    """op(reshape(x), c) -> reshape(op(x, c)) when the reshape keeps the last axis (it only splits or
    merges rows: Dense on a sequence is a GEMM over T * N rows, then a view) and the other operands are
    scalars or per-channel vectors: the bias and activation then follow the GEMM into its epilogue
    instead of a second pass over the whole output."""
    node, args = m.node, m.args
    views = [a for a in args if a.op == "reshape"]
    if len(views) != 1 or node.type.rank < 2:
        return None
    source = views[0].inputs[0]
    if source.type.rank < 2 or source.shape[-1] != node.shape[-1] or source.type.dtype != node.type.dtype:
        return None
    if not all(a is views[0] or a.type.rank <= 1 for a in args):
        return None
    inner = add_like(node, m.new, node.op, [source if a is views[0] else a for a in args], node.attrs)
    return add_like(node, m.new, "reshape", [inner], {"shape": node.shape})


def log_softmax(m: Match) -> Node:
    """log(e / sum(e)) with e = exp(z) -> s - log(sum(exp(s))), s = z - max(z): the cross-entropy
    of a softmax no longer takes the log of an underflowed probability. When z is already
    shifted by its max (as the frontend's softmax is), the existing exp and sum are reused."""
    node, new, z, total = m.node, m.new, m["z"], m["total"]
    axes = total.attrs["axes"]
    if _shifted_by_max(z, axes):
        return add_like(node, new, "sub", [z, add_like(node, new, "log", [total], {})], {})
    reduce = {"axes": axes, "keepdims": True}
    shifted = add_like(node, new, "sub", [z, add_like(node, new, "reduce_max", [z], reduce)], {})
    summed = add_like(node, new, "reduce_sum", [add_like(node, new, "exp", [shifted], {})], reduce)
    return add_like(node, new, "sub", [shifted, add_like(node, new, "log", [summed], {})], {})


def _shifted_by_max(z: Node, axes: tuple[int, ...]) -> bool:
    if z.op != "sub":
        return False
    x, m = z.inputs
    same_axes = tuple(m.attrs.get("axes", ())) == axes
    return m.op == "reduce_max" and m.inputs[0] is x and m.attrs["keepdims"] and same_axes


_EXP_Z = Pat("exp", (Pat(name="z"),), name="e")
_SUM_E = Pat("reduce_sum", (Pat(name="e"),), name="total", where=lambda n: n.attrs["keepdims"])

RULES = PatternMatcher([
    (Pat("mul", (X, const(1.0))), same_type),
    (Pat("add", (X, const(0.0))), same_type),
    (Pat("sub", (X, const(0.0))), same_type),
    (Pat("div", (X, const(1.0))), same_type),
    (Pat("neg", (Pat("neg", (X,)),)), double_negation),
    (Pat("transpose", (X,)), transposes),
    (Pat("reshape", (X,)), reshapes),
    (Pat("log", (Pat("exp", (X,)),)), log_of_exp),
    (Pat("log", (Pat("div", (_EXP_Z, _SUM_E)),)), log_softmax),
    (Pat(where=_elementwise), broadcast_operands),
    (Pat(where=_elementwise), per_channel_before_view),
])


@graph_pass("simplify")
def simplify(graph: Graph) -> tuple[Graph, Counters]:
    """Algebraic identities (x*1, x+0, x-0, x/1, neg neg, transpose and reshape chains, log exp,
    broadcasts an elementwise op does itself), per-channel ops moved before a row view, and
    log-softmax in stable log-sum-exp form."""
    users = graph.users()
    counts: dict[str, int] = {}

    def rewrite(node: Node, args: list[Node], new: Graph) -> Node | None:
        return RULES.rewrite(node, args, new, users, counts)

    result = prune(rebuild(graph, rewrite=rewrite))
    return result, {"rewrites": sum(counts.values()), **counts}
