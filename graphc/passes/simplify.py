"""Algebraic simplification: identities that remove work, and stable forms of unstable patterns.

Rules apply bottom-up while the graph is rebuilt, so chains collapse in one sweep
(neg(neg(neg x)) -> neg x, three transposes -> one). Identities are exact in IEEE
arithmetic except `x + 0 -> x` (which keeps a -0.0 that the sum would turn into +0.0)
and the two rewrites that improve accuracy rather than preserve rounding:
`log(exp(x)) -> x` (exact where exp does not overflow) and log-softmax in log-sum-exp form.
"""

from __future__ import annotations

from collections.abc import Callable

from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import rebuild
from graphc.ir.types import ShapeError, broadcast_shapes
from graphc.ops.reduction import reduced_shape
from graphc.ops.registry import OpKind, get_op
from graphc.passes.common import add_like, is_constant, prune
from graphc.passes.manager import Counters, graph_pass

Users = dict[Node, list[Node]]
Rule = Callable[[Node, list[Node], Graph, Users], Node | None]


def _same_type(candidate: Node, node: Node) -> Node | None:
    """`candidate` stands for `node` only when no broadcasting was involved."""
    return candidate if candidate.type == node.type else None


def identity_operand(node: Node, args: list[Node], new: Graph, users: Users) -> Node | None:
    """x*1, 1*x, x+0, 0+x, x-0, x/1 -> x."""
    if node.op in ("mul", "add"):
        unit = 1.0 if node.op == "mul" else 0.0
        a, c = args
        if is_constant(c, unit):
            return _same_type(a, node)
        if is_constant(a, unit):
            return _same_type(c, node)
    if node.op in ("sub", "div"):
        a, c = args
        if is_constant(c, 0.0 if node.op == "sub" else 1.0):
            return _same_type(a, node)
    return None


def double_negation(node: Node, args: list[Node], new: Graph, users: Users) -> Node | None:
    if node.op == "neg" and args[0].op == "neg":
        return args[0].inputs[0]
    return None


def transposes(node: Node, args: list[Node], new: Graph, users: Users) -> Node | None:
    """Identity permutations vanish; transpose(transpose(x, p), q) is one transpose by p[q[j]]."""
    if node.op != "transpose":
        return None
    (x,) = args
    perm = tuple(node.attrs["perm"])
    if x.op == "transpose":
        inner = x.attrs["perm"]
        perm = tuple(inner[p] for p in perm)
        x = x.inputs[0]
    if perm == tuple(range(len(perm))):
        return x
    if x is args[0]:
        return None
    return add_like(node, new, "transpose", [x], {"perm": perm})


def reshapes(node: Node, args: list[Node], new: Graph, users: Users) -> Node | None:
    """Reshape chains become one reshape (or none); reshape(reduce(x)) to the kept-dims shape
    becomes the reduction with keepdims, which needs no view at all."""
    if node.op != "reshape":
        return None
    (x,) = args
    shape = tuple(node.attrs["shape"])
    while x.op == "reshape":
        x = x.inputs[0]
    if x.shape == shape:
        return x
    source = node.inputs[0]
    if (x is args[0] and get_op(x.op).accumulates and source.op == x.op and len(users[source]) == 1
            and not x.attrs["keepdims"] and reduced_shape(x.inputs[0].shape, x.attrs["axes"], True) == shape):
        return add_like(x, new, x.op, list(x.inputs), {"axes": x.attrs["axes"], "keepdims": True})
    if x is args[0]:
        return None
    return add_like(node, new, "reshape", [x], {"shape": shape})


def log_of_exp(node: Node, args: list[Node], new: Graph, users: Users) -> Node | None:
    if node.op == "log" and args[0].op == "exp":
        return args[0].inputs[0]
    return None


def broadcast_operands(node: Node, args: list[Node], new: Graph, users: Users) -> Node | None:
    """Elementwise ops broadcast by themselves: drop broadcast_to operands that leave the shape as is."""
    if get_op(node.op).kind is not OpKind.ELEMENTWISE or not any(a.op == "broadcast_to" for a in args):
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
    return add_like(node, new, node.op, operands, node.attrs)


def log_softmax(node: Node, args: list[Node], new: Graph, users: Users) -> Node | None:
    """log(e / sum(e)) with e = exp(z) -> s - log(sum(exp(s))), s = z - max(z): the cross-entropy
    of a softmax no longer takes the log of an underflowed probability. When z is already
    shifted by its max (as the frontend's softmax is), the existing exp and sum are reused."""
    if node.op != "log" or args[0].op != "div":
        return None
    e, total = args[0].inputs
    if e.op != "exp" or total.op != "reduce_sum" or total.inputs[0] is not e or not total.attrs["keepdims"]:
        return None
    axes = total.attrs["axes"]
    (z,) = e.inputs
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


RULES: tuple[Rule, ...] = (
    identity_operand, double_negation, transposes, reshapes, log_of_exp, log_softmax, broadcast_operands,
)


@graph_pass("simplify")
def simplify(graph: Graph) -> tuple[Graph, Counters]:
    """Algebraic identities (x*1, x+0, x-0, x/1, neg neg, transpose and reshape chains, log exp,
    broadcasts an elementwise op does itself) and log-softmax in stable log-sum-exp form."""
    users = graph.users()
    counts: dict[str, int] = {}

    def rewrite(node: Node, args: list[Node], new: Graph) -> Node | None:
        for rule in RULES:
            result = rule(node, args, new, users)
            if result is not None:
                counts[rule.__name__] = counts.get(rule.__name__, 0) + 1
                return result
        return None

    result = prune(rebuild(graph, rewrite=rewrite))
    return result, {"rewrites": sum(counts.values()), **counts}
