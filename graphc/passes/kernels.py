"""Kernels: the groups of nodes that each become one native loop nest.

Every computing node is its own kernel (a multi-output node together with its tuple_get values,
which are what it stores) unless nodes carry the same
`node.meta[FUSION_GROUP]` key: such a group of POINTWISE nodes becomes one loop nest
(the contract a fusion pass fills in). A group may also end in one accumulating reduction
(OpDef.accumulates: reduce_sum, reduce_max) of a member: the loop then walks the reduction's input space,
storing the members used elsewhere and accumulating the reduction (lowering/reduce.py).
A group runs where its last member stands in graph order, so nothing outside it may consume
a member before that point.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import live_nodes
from graphc.ops.registry import Fusion, get_op

FUSION_GROUP = "fusion_group"
# An epilogue op (OpDef.epilogue: matmul) and its elementwise consumers sharing this key become
# one kernel with an epilogue (codegen/lowering/gemm_epilogue.py), possibly ended by a tail kernel op
# (OpDef.epilogue_tail: a pool); it takes precedence over FUSION_GROUP.
EPILOGUE_GROUP = "epilogue_group"


def _pointwise(node: Node) -> bool:
    return get_op(node.op).fusion is Fusion.POINTWISE


def accumulates(node: Node) -> bool:
    """A reduction a pointwise loop over its input can accumulate as it goes (OpDef.accumulates)."""
    return get_op(node.op).accumulates


@dataclass(frozen=True)
class Kernel:
    """`nodes` in topological order; `outputs` are the values stored for use outside."""

    nodes: tuple[Node, ...]
    outputs: tuple[Node, ...]

    @property
    def is_pointwise(self) -> bool:
        return all(_pointwise(n) for n in self.nodes)

    @property
    def reduction(self) -> Node | None:
        """The reduction ending a fused group (its other members compute the reduced input)."""
        last = self.nodes[-1]
        return last if len(self.nodes) > 1 and accumulates(last) else None

    @property
    def epilogue_head(self) -> Node | None:
        """The head (a matmul) of a kernel-with-epilogue (its other members are the fused chain)."""
        return self.nodes[0] if len(self.nodes) > 1 and get_op(self.nodes[0].op).epilogue else None

    @property
    def epilogue_tail(self) -> Node | None:
        """The kernel op ending a kernel-with-epilogue (a pool the head applies to its tiles), if any."""
        head = self.epilogue_head
        last = self.nodes[-1]
        return last if head is not None and last is not head and not _pointwise(last) else None

    @property
    def parts(self) -> tuple[Node, ...]:
        """The tuple_get values of a multi-output kernel op, by index (empty for other kernels)."""
        found = [n for n in self.nodes if get_op(n.op).fusion is Fusion.PART]
        return tuple(sorted(found, key=lambda n: n.attrs["index"]))

    @property
    def inputs(self) -> tuple[Node, ...]:
        """Values read from outside the kernel, in first-use order."""
        inside = set(self.nodes)
        seen: dict[Node, None] = {}
        for node in self.nodes:
            for src in node.inputs:
                if src not in inside:
                    seen.setdefault(src)
        return tuple(seen)

    @property
    def name(self) -> str:
        return "_".join(dict.fromkeys(n.op for n in self.nodes))


def live_in_order(graph: Graph) -> list[Node]:
    """Nodes some output or state update depends on, in graph order."""
    needed = live_nodes(graph)
    return [n for n in graph.nodes if n in needed]


def partition(graph: Graph) -> list[Kernel]:
    """Kernels in execution order for the live nodes that compute (sources and views need no code)."""
    live = live_in_order(graph)
    groups: dict[object, list[Node]] = {}
    for node in live:
        key = node.meta.get(FUSION_GROUP)
        fusion = get_op(node.op).fusion
        if node.meta.get(EPILOGUE_GROUP) is not None:
            groups.setdefault(("epilogue", node.meta[EPILOGUE_GROUP]), []).append(node)
            continue
        if fusion is Fusion.PART:  # a value of a multi-output node: stored by that node's kernel
            groups[node.inputs[0]].append(node)
            continue
        if key is not None and fusion is not Fusion.POINTWISE and not accumulates(node):
            raise ValueError(f"{node!r}: only pointwise ops can join fusion group {key!r}")
        if fusion in (Fusion.POINTWISE, Fusion.KERNEL):
            groups.setdefault(node if key is None else ("group", key), []).append(node)
    index = {node: i for i, node in enumerate(live)}
    users: dict[Node, list[Node]] = {node: [] for node in live}
    for node in live:
        for src in node.inputs:
            users[src].append(node)
    roots = set(graph.roots())
    kernels = []
    for group_key, members in sorted(groups.items(), key=lambda item: index[item[1][-1]]):
        inside = set(members)
        if isinstance(group_key, tuple) and group_key[0] == "epilogue":
            _check_epilogue(members)
        elif isinstance(group_key, tuple):
            _check_reduction(members, inside, users)
        outputs = []
        for member in members:
            outside = [u for u in users[member] if u not in inside]
            for user in outside:
                if index[user] < index[members[-1]]:
                    raise ValueError(f"{user!r} uses {member!r} before the rest of its fusion group runs")
            if outside or member in roots or get_op(member.op).fusion is Fusion.PART:
                outputs.append(member)  # a kernel op writes all of its values, used or not
        kernels.append(Kernel(tuple(members), tuple(outputs)))
    return kernels


def _check_reduction(members: list[Node], inside: set[Node], users: dict[Node, list[Node]]) -> None:
    """A reduction may only end a group, reducing a member, with no member consuming it."""
    reductions = [n for n in members if accumulates(n)]
    if not reductions:
        return
    red = reductions[0]
    key = red.meta.get(FUSION_GROUP)
    if len(reductions) > 1 or red is not members[-1] or red.inputs[0] not in inside:
        raise ValueError(f"{red!r}: only pointwise ops can join fusion group {key!r}, or one reduction "
                         "ending the group and reducing a member")
    if any(u in inside for u in users[red]):
        raise ValueError(f"{red!r} ends fusion group {key!r} but a member of the group uses it")


def _check_epilogue(members: list[Node]) -> None:
    """One epilogue op (a matmul) first, then pointwise ops computing values of its shape, then at
    most one tail the head takes, consuming the member before it."""
    head = members[0]
    key = head.meta.get(EPILOGUE_GROUP)
    if not get_op(head.op).epilogue:
        raise ValueError(f"epilogue group {key!r} must start with an epilogue op, starts with {head!r}")
    last = members[-1]
    rule = get_op(last.op).epilogue_tail
    if len(members) > 1 and rule is not None:
        if (not get_op(head.op).takes_tail or not rule(last)
                or last.inputs != (members[-2],)):
            raise ValueError(f"{last!r} cannot end epilogue group {key!r} of {head!r}")
        members = members[:-1]
    for node in members[1:]:
        if not _pointwise(node):
            raise ValueError(f"{node!r}: only pointwise ops can follow {head!r} in epilogue group {key!r}")
        if node.shape != head.shape:
            raise ValueError(f"{node!r}: epilogue group {key!r} members need the head's shape "
                             f"{head.shape}, got {node.shape}")
