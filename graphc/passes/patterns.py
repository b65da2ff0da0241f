"""Declarative rewrite rules: a pattern over nodes and what replaces a match (after tinygrad's
PatternMatcher).

`Pat("neg", (Pat("neg", (Pat(name="x"),)),))` matches neg(neg(anything)) and binds the inner
operand to "x"; a name bound twice must be the same node (`log(div(exp(z), sum(exp(z))))`).
Operands of commutative ops (OpDef.commutative) match in either order. A rule's action gets
the bindings and returns the replacement, or None to decline; rules are tried in order and
each replacement is matched again until none applies, so rules compose to a fixed point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphc.ir.graph import Graph, Node
from graphc.ops.registry import get_op

MAX_REWRITES_PER_NODE = 16


@dataclass(frozen=True)
class Pat:
    """`op` None matches any op, `src` None any operands; `where(node)` must hold too."""

    op: str | None = None
    src: tuple[Pat, ...] | None = None
    name: str | None = None
    where: Callable[[Node], bool] | None = None

    def match(self, node: Node, bound: dict[str, Node]) -> bool:
        return self.match_parts(node, node.inputs, bound)

    def match_parts(self, node: Node, inputs: Sequence[Node], bound: dict[str, Node]) -> bool:
        """Match `node` as if its operands were `inputs` (a node being rebuilt has new operands)."""
        if self.op is not None and node.op != self.op:
            return False
        if self.where is not None and not self.where(node):
            return False
        if self.name is not None:
            if bound.get(self.name, node) is not node:
                return False
            bound[self.name] = node
        if self.src is None:
            return True
        if len(self.src) != len(inputs):
            return False
        orders = [list(inputs)]
        if len(inputs) == 2 and get_op(node.op).commutative:
            orders.append([inputs[1], inputs[0]])
        for order in orders:
            trial = dict(bound)
            if all(p.match(n, trial) for p, n in zip(self.src, order, strict=True)):
                bound.update(trial)
                return True
        return False


def const(value: float, name: str | None = None) -> Pat:
    """A constant equal to `value` everywhere."""
    return Pat("constant", name=name, where=lambda n: bool(np.all(n.attrs["value"] == value)))


@dataclass(frozen=True)
class Match:
    node: Node  # the node being rewritten (its attrs, type, layer and role)
    args: list[Node]  # its operands in the new graph
    new: Graph
    bound: dict[str, Node]
    context: Any

    def __getitem__(self, name: str) -> Node:
        return self.bound[name]


Action = Callable[[Match], Node | None]


class PatternMatcher:
    """Rules tried in order on each node; counts how often each action fired."""

    def __init__(self, rules: Sequence[tuple[Pat, Action]]) -> None:
        self.rules = tuple(rules)

    def rewrite(self, node: Node, args: list[Node], new: Graph, context: Any,
                counts: dict[str, int]) -> Node | None:
        result = None
        current, operands = node, args
        for _ in range(MAX_REWRITES_PER_NODE):
            replacement = self._first(current, operands, new, context, counts)
            if replacement is None or replacement is current:
                break
            result = current = replacement
            operands = list(replacement.inputs)
        return result

    def _first(self, node: Node, args: list[Node], new: Graph, context: Any,
               counts: dict[str, int]) -> Node | None:
        for pattern, action in self.rules:
            bound: dict[str, Node] = {}
            if not pattern.match_parts(node, args, bound):
                continue
            replacement = action(Match(node, args, new, bound, context))
            if replacement is not None:
                counts[action.__name__] = counts.get(action.__name__, 0) + 1
                return replacement
        return None
