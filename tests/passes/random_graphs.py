"""Random graphs from the op catalogue for property tests of the passes.

Chains of elementwise ops, reductions, matmuls, reshapes, transposes and broadcasts over
values with and without the batch dim, plus the patterns the passes look for (x*1, x+0,
neg neg, double transposes, log exp, log softmax, duplicated subexpressions, constant
subexpressions, dropout masks). Values stay in ranges where every op is finite, and no
comparison depends on rounding (only random numbers are compared), so a pass that changes
rounding cannot flip a result.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from graphc.ir import Graph, Node, TensorType
from graphc.ir.types import ShapeError, broadcast_shapes
from graphc.ops import builders as b

Draw = Callable[[st.SearchStrategy], object]


class _Builder:
    def __init__(self, draw: Draw) -> None:
        self.draw = draw
        self.graph = Graph("random")
        self.pool: list[Node] = []
        self.states = 0
        rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        self.pool.append(self.graph.input("x", TensorType((None, cols))))
        self.pool.append(self.graph.input("r", TensorType((None, 1))))
        self.pool.append(self._state((cols,)))
        self.pool.append(self._state((rows, cols)))
        self.seed = self.graph.state("seed", TensorType((), "int64"))

    def _state(self, shape: tuple[int, ...]) -> Node:
        self.states += 1
        return self.graph.state(f"s{self.states}", TensorType(shape), trainable=True)

    def pick(self, predicate: Callable[[Node], bool] = lambda n: True) -> Node | None:
        choices = [n for n in self.pool if predicate(n) and n is not self.seed]
        return self.draw(st.sampled_from(choices)) if choices else None

    def step(self) -> None:
        kind = self.draw(st.sampled_from(sorted(STEPS)))
        result = STEPS[kind](self)
        if result is not None:
            self.pool.append(result)


def _unary(s: _Builder) -> Node:
    x = s.pick()
    op = s.draw(st.sampled_from(["neg", "tanh", "sigmoid", "abs", "exp", "sqrt", "log"]))
    if op == "exp":
        return b.exp(b.tanh(x))
    if op == "sqrt":
        return b.sqrt(b.abs_(x))
    if op == "log":
        return b.log(b.abs_(x) + 1.0)
    return b.unary(op, x)


def _binary(s: _Builder) -> Node | None:
    x = s.pick()
    y = s.pick(lambda n: _broadcasts(n, x))
    op = s.draw(st.sampled_from(["add", "sub", "mul", "maximum", "minimum", "div"]))
    if op == "div":
        return x / (b.abs_(y) + 1.0)
    return b.binary(op, x, y)


def _broadcasts(a: Node, c: Node) -> bool:
    """Operands that broadcast to a shape with at most one batch dim ((N, 1) with (1, N) would not:
    the IR has one symbolic dimension per shape)."""
    try:
        return broadcast_shapes(a.shape, c.shape).count(None) <= 1
    except ShapeError:
        return False


def _identity(s: _Builder) -> Node:
    x = s.pick()
    op, unit = s.draw(st.sampled_from([("mul", 1.0), ("add", 0.0), ("sub", 0.0), ("div", 1.0)]))
    if op in ("mul", "add") and s.draw(st.booleans()):
        return b.binary(op, x.graph.constant(unit), x)
    return b.binary(op, x, unit)


def _constant_expression(s: _Builder) -> Node:
    """Constant subexpressions for the folder, the last one a small array."""
    x = s.pick()
    a = s.graph.constant(s.draw(st.sampled_from([0.5, 2.0, -1.5])))
    folded = (b.exp(a) - a * 2.0) / (a * a + 1.0)
    return x * folded + b.sqrt(s.graph.constant(np.array([0.25], dtype=np.float32)))


def _reduce(s: _Builder) -> Node | None:
    x = s.pick(lambda n: n.type.rank >= 1)
    if x is None:
        return None
    axes = s.draw(st.lists(st.integers(0, x.type.rank - 1), min_size=1, max_size=x.type.rank, unique=True))
    keep = s.draw(st.booleans())
    if s.draw(st.booleans()):
        return b.reduce_max(x, axes, keep)
    return b.reduce_sum(x, axes, keep)


def _matmul(s: _Builder) -> Node | None:
    x = s.pick(lambda n: n.type.rank == 2 and n.shape[1] is not None)
    if x is None:
        return None
    w = s._state((x.shape[1], s.draw(st.integers(1, 4))))
    return b.matmul(x, w)


def _reshape(s: _Builder) -> Node | None:
    x = s.pick(lambda n: n.type.rank >= 1 and n.type.rank <= 2)
    if x is None:
        return None
    static = x.type.static_numel
    flat = b.reshape(x, (None, static) if x.type.has_batch else (static,))
    if s.draw(st.booleans()):
        return b.reshape(flat, x.shape)
    return b.reshape(b.reshape(flat, (None, static, 1) if x.type.has_batch else (static, 1)), flat.shape)


def _transpose(s: _Builder) -> Node | None:
    x = s.pick(lambda n: n.type.rank == 2)
    if x is None:
        return None
    once = b.transpose(x, (1, 0))
    return b.transpose(once, (1, 0)) if s.draw(st.booleans()) else once


def _broadcast(s: _Builder) -> Node | None:
    x = s.pick(lambda n: not n.type.has_batch and n.type.rank <= 1)
    other = s.pick(lambda n: n.type.has_batch and n.type.rank == 2)
    if x is None or other is None or not _broadcasts(x, other):
        return None
    target = broadcast_shapes(x.shape, other.shape)
    return b.broadcast_to(x, target) * other


def _patterns(s: _Builder) -> Node | None:
    x = s.pick(lambda n: n.type.rank >= 1)
    if x is None:
        return None
    pattern = s.draw(st.sampled_from(["neg_neg", "log_exp", "log_softmax", "duplicate", "dropout", "batch"]))
    if pattern == "neg_neg":
        return b.unary("neg", b.unary("neg", x))
    if pattern == "log_exp":
        return b.log(b.exp(b.tanh(x)))
    if pattern == "log_softmax":
        z = b.tanh(x) * 3.0
        if s.draw(st.booleans()):
            z = z - b.reduce_max(z, [-1], keepdims=True)
        e = b.exp(z)
        return b.log(e / b.reduce_sum(e, [-1], keepdims=True))
    if pattern == "duplicate":
        return b.tanh(x) * 2.0 + b.tanh(x) * 2.0
    if pattern == "dropout":
        shape = x.shape
        stream = s.draw(st.integers(1, 2))
        keep = b.greater_equal(b.random_uniform(s.seed, shape, stream), 0.25)
        again = b.greater_equal(b.random_uniform(s.seed, shape, stream), 0.25)
        return x * keep * 1.25 + again
    return x / b.batch_size(x.graph) if x.type.has_batch else x * 1.5


STEPS: dict[str, Callable[[_Builder], Node | None]] = {
    "unary": _unary, "binary": _binary, "identity": _identity, "constant": _constant_expression,
    "reduce": _reduce, "matmul": _matmul, "reshape": _reshape, "transpose": _transpose,
    "broadcast": _broadcast, "pattern": _patterns,
}


@st.composite
def random_graphs(draw: Draw, max_steps: int = 10) -> Graph:
    """A graph whose unused values are outputs, with a state update and the seed's increment."""
    s = _Builder(draw)
    for _ in range(draw(st.integers(2, max_steps))):
        s.step()
    graph = s.graph
    computed = [n for n in s.pool if n.op not in ("input", "state")]
    users = graph.users()
    outputs = [n for n in computed if not users[n]] or [s.pool[0] * 2.0]
    outputs += draw(st.lists(st.sampled_from(computed), max_size=2)) if computed else []
    for i, node in enumerate(outputs):
        graph.outputs[f"out{i}"] = node
    vector = graph.states["s1"]
    same = [n for n in computed if n.shape == vector.shape]
    graph.updates["s1"] = vector - 0.1 * (same[-1] if same else vector)
    graph.updates[s.seed.attrs["name"]] = s.seed + 1
    return graph


def random_values(graph: Graph, seed: int, batch: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Feeds and states for `graph`: normal values, an integer random seed."""
    rng = np.random.default_rng(seed)
    feeds = {name: rng.normal(size=n.type.concrete(batch)).astype(np.float32)
             for name, n in graph.inputs.items()}
    state = {}
    for name, node in graph.states.items():
        state[name] = rng.normal(size=node.type.concrete(batch)).astype(np.float32)
        if not node.type.is_float:
            state[name] = np.int64(rng.integers(0, 2**62))
    return feeds, state
