"""Operator fusion: which nodes share one loop nest, decided from the op kinds.

The result is the codegen contract of graphc.passes.kernels: nodes carrying the same
`meta["fusion_group"]` become one kernel, emitted where the group's last member stands.

- Pointwise ops (OpDef.fusion POINTWISE: elementwise, random, one_hot and the layout ops
  that move data; reshape is a VIEW and needs no code) of one shape join their producers' and consumers'
  groups: elementwise chains, and with them the whole optimizer update of a parameter
  (its slots and the parameter are values of the parameter's shape computed from the
  gradient), become one loop with several outputs.
- An accumulating reduction (OpDef.accumulates: reduce_sum, reduce_max) may end a group that computes its
  input: the input is never stored unless used elsewhere. argmax, which carries an index
  with the value, and the matrix product stay kernels of their own.
- A group stays convex (no path leaves it and comes back), which makes the graph of groups
  acyclic; the nodes are then re-ordered so every group is contiguous, in an order as close
  to the original as possible (state updates stay after the last reads of the old values).
- `recompute` (O3): a smaller pointwise value used only inside one group (a per-row
  statistic broadcast over the row) is computed inside that group's loop, at most
  MAX_RECOMPUTE times per element, instead of being stored by a kernel of its own.

Epilogues are marked first (`mark_epilogues`): an epilogue op (OpDef.epilogue: matmul) and the chain of
elementwise consumers of its shape that the GEMM applies to each tile as it stores it
(lowering/gemm_epilogue.py). Those nodes belong to the GEMM's kernel, so `fuse` leaves
them out of its groups. A head that takes a tail (OpDef.takes_tail: conv2d) also takes the kernel
op that is the chain's only consumer when that op says it can end an epilogue (OpDef.epilogue_tail:
a 2x2 pool of stride 2): the convolution then applies chain and
pool to its register tiles and stores only the pooled values, so the chain's value (4.7 MB for the
tutorial CNN at batch 64) is never written and read back. A chain followed by a tail may only read
per-channel or scalar operands and ops without index streams, since the head evaluates it on
registers, not at positions of a buffer.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable

from graphc.ir.affine import Sym
from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import copy_in_order, live_nodes
from graphc.ir.types import TensorType
from graphc.ops.registry import Fusion, OpKind, get_op
from graphc.passes.kernels import EPILOGUE_GROUP, FUSION_GROUP, accumulates, partition
from graphc.passes.manager import Counters, Pass, graph_pass

MAX_RECOMPUTE = 16


def is_pointwise(node: Node) -> bool:
    """Computed one element at a time from operand elements at affine positions."""
    op = get_op(node.op)
    return op.fusion is Fusion.POINTWISE and not op.is_inline(node)


def _fusable(node: Node) -> bool:
    """Pointwise and not already part of a matmul's epilogue."""
    return is_pointwise(node) and node.meta.get(EPILOGUE_GROUP) is None


class _Grouping:
    """Union of nodes into convex groups; each group has one iteration shape."""

    def __init__(self, graph: Graph) -> None:
        self.order = graph.nodes
        self.index = {n: i for i, n in enumerate(self.order)}
        self.users = graph.users()
        self.roots = set(graph.roots())
        self.group: dict[Node, int] = {n: i for i, n in enumerate(self.order)}
        self.members: dict[int, list[Node]] = {i: [n] for i, n in enumerate(self.order)}
        self.recomputed: set[Node] = set()

    def reduction(self, gid: int) -> Node | None:
        return next((n for n in self.members[gid] if accumulates(n)), None)

    def shape(self, gid: int) -> tuple[int | None, ...]:
        """The iteration space: a reduction's input shape, else the shape of the stored members."""
        red = self.reduction(gid)
        if red is not None:
            return red.inputs[0].shape
        return next(n.shape for n in self.members[gid] if n not in self.recomputed)

    def try_merge(self, a: int, b: int, recompute: Iterable[Node] = ()) -> bool:
        if a == b:
            return False
        reductions = [r for r in (self.reduction(a), self.reduction(b)) if r is not None]
        if len(reductions) > 1:
            return False
        recompute = list(recompute)
        if not recompute and self.shape(a) != self.shape(b):
            return False
        merged = set(self.members[a]) | set(self.members[b])
        if reductions and any(u in merged for u in self.users[reductions[0]]):
            return False
        if not self._convex(merged):
            return False
        self.recomputed.update(recompute)
        for node in self.members[b]:
            self.group[node] = a
        # a reduction runs last: no member uses it, and codegen expects it to end the group
        self.members[a] = sorted(merged, key=lambda n: (accumulates(n), self.index[n]))
        del self.members[b]
        return True

    def _convex(self, members: set[Node]) -> bool:
        """No path from a member through non-members back to a member."""
        last = max(self.index[n] for n in members)
        stack = [u for n in members for u in self.users[n] if u not in members and self.index[u] < last]
        seen: set[Node] = set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            for user in self.users[node]:
                if user in members:
                    return False
                if self.index[user] < last:
                    stack.append(user)
        return True

    def fuse(self, live: set[Node], reductions: bool) -> None:
        for node in self.order:
            if node not in live:
                continue
            if _fusable(node):
                for src in node.inputs:
                    if _fusable(src) and src.shape == node.shape:
                        self.try_merge(self.group[node], self.group[src])
            elif reductions and accumulates(node) and _fusable(node.inputs[0]):
                self.try_merge(self.group[node.inputs[0]], self.group[node])

    def pull_in_broadcast_producers(self, live: set[Node]) -> None:
        """Recompute small pointwise groups used by one other group inside that group's loop."""
        changed = True
        while changed:
            changed = False
            for gid in sorted(self.members, key=lambda g: -self.index[self.members[g][-1]]):
                members = self.members.get(gid)
                if members is None or not all(_fusable(n) and n in live and n not in self.roots
                                              for n in members):
                    continue
                targets = {self.group[u] for n in members for u in self.users[n]} - {gid}
                if len(targets) != 1:
                    continue
                (target,) = targets
                if not all(_fusable(n) or accumulates(n) for n in self.members[target]):
                    continue
                if _recompute_factor(self.shape(gid), self.shape(target)) and self.try_merge(
                        target, gid, recompute=members):
                    changed = True

    def groups(self) -> list[list[Node]]:
        return [m for m in self.members.values() if len(m) > 1]

    def schedule(self) -> list[Node]:
        """Groups contiguous; among ready groups the one whose last member came first goes first."""
        preds: dict[int, set[int]] = {g: set() for g in self.members}
        succs: dict[int, set[int]] = {g: set() for g in self.members}
        for node in self.order:
            for src in node.inputs:
                a, b = self.group[src], self.group[node]
                if a != b:
                    preds[b].add(a)
                    succs[a].add(b)
        key = {g: max(self.index[n] for n in m) for g, m in self.members.items()}
        waiting = {g: len(p) for g, p in preds.items()}
        ready = [(key[g], g) for g, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order: list[Node] = []
        while ready:
            _, g = heapq.heappop(ready)
            order.extend(self.members[g])
            for s in succs[g]:
                waiting[s] -= 1
                if waiting[s] == 0:
                    heapq.heappush(ready, (key[s], s))
        if len(order) != len(self.order):
            raise AssertionError("fusion groups formed a cycle")
        return order


def _recompute_factor(part: tuple[int | None, ...], whole: tuple[int | None, ...]) -> bool:
    """Each element of `part` would be recomputed at most MAX_RECOMPUTE times across `whole`."""
    if part == whole or TensorType(part).has_batch != TensorType(whole).has_batch:
        return False
    small, large = TensorType(part).static_numel, TensorType(whole).static_numel
    return small > 0 and large % small == 0 and large // small <= MAX_RECOMPUTE


def _bytes(nodes: Iterable[Node]) -> tuple[int, int]:
    """Bytes of these values as (static part, part per unit of batch)."""
    static = per_sample = 0
    for node in nodes:
        size = Sym(4 * node.type.static_numel, 1 if node.type.has_batch else 0)
        if size.power:
            per_sample += size.coef
        else:
            static += size.coef
    return static, per_sample


def kernel_stats(graph: Graph) -> dict[str, int]:
    """Kernels codegen would emit, and the bytes of values computed inside them but never stored."""
    kernels = partition(graph)
    internal = [n for k in kernels for n in k.nodes if n not in k.outputs]
    static, per_sample = _bytes(internal)
    return {"kernels": len(kernels), "unstored_bytes_static": static, "unstored_bytes_per_sample": per_sample}


def _fuse(graph: Graph, recompute: bool) -> tuple[Graph, Counters]:
    before = kernel_stats(graph)
    live = live_nodes(graph)
    grouping = _Grouping(graph)
    grouping.fuse(live, reductions=True)
    if recompute:
        grouping.pull_in_broadcast_producers(live)
    new, mapping = copy_in_order(graph, grouping.schedule())
    for copy in new.nodes:
        copy.meta.pop(FUSION_GROUP, None)
    groups = grouping.groups()
    updated = set(graph.updates.values())
    for number, members in enumerate(groups):
        for node in members:
            mapping[node].meta[FUSION_GROUP] = number
    after = kernel_stats(new)
    return new, {
        "groups_fused": len(groups),
        "nodes_in_groups": sum(len(m) for m in groups),
        "reduction_groups": sum(any(accumulates(n) for n in m) for m in groups),
        "update_groups": sum(any(n in updated for n in m) for m in groups),
        "recomputed": len(grouping.recomputed),
        **_kernel_counters(before, after),
    }


def _kernel_counters(before: dict[str, int], after: dict[str, int]) -> Counters:
    return {
        "kernels_before": before["kernels"],
        "kernels_after": after["kernels"],
        "bytes_saved_static": after["unstored_bytes_static"] - before["unstored_bytes_static"],
        "bytes_saved_per_sample": after["unstored_bytes_per_sample"] - before["unstored_bytes_per_sample"],
    }


@graph_pass("fuse")
def fuse(graph: Graph) -> tuple[Graph, Counters]:
    """Group pointwise chains, reductions with their producers and each parameter's optimizer update
    into single loops (node.meta["fusion_group"]); reorders nodes so every group is contiguous."""
    return _fuse(graph, recompute=False)


@graph_pass("fuse-aggressive")
def fuse_aggressive(graph: Graph) -> tuple[Graph, Counters]:
    """As `fuse`, and recompute small broadcast values (per-row statistics) inside their consumers' loop."""
    return _fuse(graph, recompute=True)


def epilogue_chains(graph: Graph) -> list[list[Node]]:
    """Each epilogue op (a matmul, a convolution) with the chain of elementwise consumers of its shape,
    following single users.

    Every member but the last has exactly one user, the next member, so nothing depends on
    the matmul except through the chain: the chain's other operands never wait for it, and
    only the last member is read outside the epilogue. Nodes already in a fusion group are
    left alone (run this before `fuse`). A chain may end in a tail (`_tail`).
    """
    users = graph.users()
    roots = set(graph.roots())
    chains = []
    for node in graph.nodes:
        if not get_op(node.op).epilogue or node.meta.get(FUSION_GROUP) is not None:
            continue
        chain = [node]
        while chain[-1] not in roots and len(users[chain[-1]]) == 1:
            (user,) = users[chain[-1]]
            if (get_op(user.op).kind is not OpKind.ELEMENTWISE or user.shape != node.shape
                    or user.meta.get(FUSION_GROUP) is not None
                    or not all(_rows_coalesce(operand, node) for operand in user.inputs)
                    or _windows_read_it(user, chain[-1], node, users)):
                break
            chain.append(user)
        tail = _tail(chain, users, roots)
        if tail is not None:
            chain.append(tail)
        if len(chain) > 1:
            chains.append(chain)
    return chains


def _windows_read_it(user: Node, member: Node, head: Node, users: dict[Node, list[Node]]) -> bool:
    """An op with a full-shape operand (an LSTM step's z_t + h @ u) whose value only windows read (the
    gates' slices) stays out of the epilogue: the windows' pointwise kernel computes it where it reads
    it, at no extra pass, while the epilogue would read that operand once more tile by tile."""
    full = any(not _per_channel(operand, head) for operand in user.inputs if operand is not member)
    return full and bool(users[user]) and all(get_op(u.op).offsets is not None for u in users[user])


def _tail(chain: list[Node], users: dict[Node, list[Node]], roots: set[Node]) -> Node | None:
    """The kernel op ending the chain, if the head takes one and the chain's only consumer says it
    can end an epilogue; the chain must then read only per-channel or scalar operands and run no
    index streams (the head evaluates it on registers of a row's channels)."""
    head, end = chain[0], chain[-1]
    if not get_op(head.op).takes_tail or end in roots or len(users[end]) != 1:
        return None
    (user,) = users[end]
    rule = get_op(user.op).epilogue_tail
    if rule is None or not rule(user) or user.meta.get(FUSION_GROUP) is not None or user.inputs != (end,):
        return None
    inside = set(chain)
    for member in chain[1:]:
        op = get_op(member.op)
        if op.scalar is None or op.index_streams is not None or member.type.dtype != "float32":
            return None
        if not all(_per_channel(operand, head) for operand in member.inputs if operand not in inside):
            return None
    return user


def _per_channel(operand: Node, head: Node) -> bool:
    """Right-aligned, the operand's axes before the last are all of size 1 (a bias, a scalar)."""
    return all(d == 1 for d in operand.shape[:-1]) and (
        operand.type.rank == 0 or operand.shape[-1] in (1, head.shape[-1]))


def _rows_coalesce(operand: Node, head: Node) -> bool:
    """The epilogue reads a head of rank > 2 (a convolution's (N, H, W, F)) as a matrix whose rows are
    all but its last axis: an operand fits when, right-aligned, its leading axes are all the head's
    or all of size 1 (a per-channel bias), so one row stride addresses it."""
    if head.type.rank <= 2:
        return True
    shape = (1,) * (head.type.rank - operand.type.rank) + tuple(operand.shape)
    leading = shape[:-1]
    return all(d == 1 for d in leading) or leading == tuple(head.shape[:-1])


@graph_pass("mark-epilogues")
def mark_epilogues(graph: Graph) -> tuple[Graph, Counters]:
    """Mark each matmul and its bias-add/activation chain with meta["epilogue_group"]: one GEMM kernel
    that applies the chain to each tile as it stores it."""
    before = kernel_stats(graph)
    new, mapping = copy_in_order(graph, graph.nodes)
    for copy in new.nodes:
        copy.meta.pop(EPILOGUE_GROUP, None)
    chains = epilogue_chains(graph)
    counter = itertools.count()
    for chain in chains:
        key = next(counter)
        for node in chain:
            mapping[node].meta[EPILOGUE_GROUP] = key
    return new, {"epilogues": len(chains), "epilogue_nodes": sum(len(c) - 1 for c in chains),
                 **_kernel_counters(before, kernel_stats(new))}


PASSES: tuple[Pass, ...] = (fuse, fuse_aggressive, mark_epilogues)
