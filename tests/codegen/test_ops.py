"""Every op compiled to native code against the numpy interpreter, at batch sizes 1 and 5."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from graphc.codegen.lowering import unlowered_ops
from graphc.ir import Graph, Node, TensorType
from graphc.ops import all_ops
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients
from tests.codegen.compiled import assert_matches, load
from tests.ops.op_cases import CASES, build, draw

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Case:
    """A graph over inputs in0, in1, ... with values drawn by `kind` (normal | positive | ints | big |
    seed, an int64 counter); a state named "seed" is an int64 counter too."""

    name: str
    shapes: tuple[Shape, ...]
    record: Callable[..., object]
    kinds: tuple[str, ...] = ()
    tol: float = 1e-5
    states: dict[str, Shape] = field(default_factory=dict)

    def graph(self) -> Graph:
        graph = Graph(self.name)
        args = [graph.input(f"in{i}", TensorType(s, "int64" if self._kind(i) == "seed" else "float32"))
                for i, s in enumerate(self.shapes)]
        states = [graph.state(n, TensorType(s, "int64" if n == "seed" else "float32"))
                  for n, s in self.states.items()]
        graph.outputs["out"] = self.record(*args, *states)
        return graph

    def feeds(self, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        feeds = {}
        for i, shape in enumerate(self.shapes):
            size = TensorType(shape).concrete(batch)
            kind = self._kind(i)
            if kind == "seed":
                feeds[f"in{i}"] = np.asarray(rng.integers(0, 2**62, size), dtype=np.int64)
            elif kind == "positive":
                feeds[f"in{i}"] = rng.uniform(0.01, 30.0, size)
            elif kind == "ints":
                feeds[f"in{i}"] = rng.integers(-2, 3, size).astype(float)
            elif kind == "big":
                feeds[f"in{i}"] = rng.normal(0.0, 40.0, size)
            else:
                feeds[f"in{i}"] = rng.normal(size=size)
        return feeds

    def _kind(self, index: int) -> str:
        return self.kinds[index] if index < len(self.kinds) else "normal"


def _unaries() -> list[Case]:
    cases = []
    for op in ("neg", "exp", "log", "tanh", "sigmoid", "abs", "sqrt", "sign"):
        kind = "positive" if op in ("log", "sqrt") else "big" if op in ("tanh", "sigmoid") else "normal"
        for shape in [(3, None, 5), (17,), (2, 3, None, 4)]:
            cases.append(Case(f"{op}_{len(shape)}", (shape,), lambda x, op=op: b.unary(op, x), (kind,)))
    return cases


def _movement_gradient(x: Node) -> Node:
    """d/dx of sum(concat(tanh(x)[:, 1:4] * 3, pad(x*x)) ** 2): slices, pads and concats both ways."""
    window = b.slice_(b.tanh(x), (0, 1), (None, 3)) * 3.0
    joined = b.concatenate([window, b.pad(x * x, ((0, 0), (1, 1)), value=0.5)], -1)
    return gradients(b.reduce_sum(joined * joined), [x])[0]


CUSTOM: list[Case] = [
    *_unaries(),
    Case("movement_gradient", ((None, 6),), _movement_gradient),
    Case("batch_matmul_large", ((None, 70, 48), (None, 48, 90)), lambda x, y: b.batch_matmul(x, y), tol=1e-4),
    Case("batch_matmul_tn", ((None, 48, 70), (None, 90, 48)), lambda x, y: b.batch_matmul(x, y, True, True),
         tol=1e-4),
    Case("slice_wide", ((None, 3, 300),), lambda x: b.exp(b.slice_(x, (0, 1, 40), (None, 2, 256))) * 2.0),
    Case("add_rank4", ((2, None, 1, 5), (3, 1)), lambda x, y: x + y),
    Case("mul_outer", ((None, 1), (1, 65)), lambda x, y: x * y),
    Case("sub_scalar", ((), (None, 17)), lambda x, y: x - y),
    Case("div_row", ((7,), (None, 7)), lambda x, y: x / y, ("normal", "positive")),
    Case("maximum_ties", ((None, 7), (7,)), lambda x, y: b.maximum(x, y), ("ints", "ints")),
    Case("minimum_ties", ((3, None), (3, 1)), lambda x, y: b.minimum(x, y), ("ints", "ints")),
    Case("greater_ties", ((None, 7), (7,)), lambda x, y: b.greater(x, y), ("ints", "ints")),
    Case("greater_equal_ties", ((None, 7), (None, 1)), lambda x, y: b.greater_equal(x, y), ("ints", "ints")),
    Case("equal_ties", ((None, 3, 5), (5,)), lambda x, y: b.equal(x, y), ("ints", "ints")),
    Case("select_broadcast", ((None, 1), (1, 17)), lambda c, x: b.select(c, x, -3.5), ("ints",)),
    Case("sum_rank4_keep", ((2, None, 3, 5),), lambda x: b.reduce_sum(x, [0, 2], keepdims=True)),
    Case("sum_all", ((None, 65),), lambda x: b.reduce_sum(x), tol=1e-4),
    Case("sum_batch_axis", ((3, None),), lambda x: b.reduce_sum(x, [1])),
    Case("sum_inner", ((None, 3, 17),), lambda x: b.reduce_sum(x, [1])),
    Case("mean_batch", ((None, 65),), lambda x: b.reduce_mean(x, [0])),
    Case("max_keep", ((None, 3, 17),), lambda x: b.reduce_max(x, [1], keepdims=True)),
    Case("max_all_rank4", ((2, None, 3, 5),), lambda x: b.reduce_max(x)),
    Case("max_ties", ((None, 7),), lambda x: b.reduce_max(x, [0]), ("ints",)),
    Case("argmax_last_ties", ((None, 17),), lambda x: b.argmax(x, -1), ("ints",)),
    Case("argmax_middle", ((3, None, 5),), lambda x: b.argmax(x, 1), ("ints",)),
    Case("argmax_batch", ((None, 7),), lambda x: b.argmax(x, 0)),
    Case("matmul_00", ((None, 65), (65, 17)), lambda x, y: b.matmul(x, y), tol=1e-4),
    Case("matmul_10", ((None, 3), (None, 17)), lambda x, y: b.matmul(x, y, transpose_a=True), tol=1e-4),
    Case("matmul_01", ((None, 7), (17, 7)), lambda x, y: b.matmul(x, y, transpose_b=True), tol=1e-4),
    Case("matmul_11", ((65, None), (1, 65)), lambda x, y: b.matmul(x, y, True, True), tol=1e-4),
    Case("matmul_blocks_01", ((None, 300), (270, 300)), lambda x, y: b.matmul(x, y, transpose_b=True),
         tol=1e-4),
    Case("matmul_blocks_10", ((300, None), (300, 270)), lambda x, y: b.matmul(x, y, transpose_a=True),
         tol=1e-4),
    Case("matmul_ones", ((1, 1), (1, 1)), lambda x, y: b.matmul(x, y)),
    Case("reshape_of_input", ((None, 4, 5),), lambda x: b.reshape(x, (None, 20))),
    Case("reshape_chain", ((None, 4, 5),),
         lambda x: b.reshape(b.tanh(b.reshape(x, (20, None))), (None, 2, 10))),
    Case("transpose_rank4", ((2, None, 3, 5),), lambda x: b.transpose(x, (3, 1, 0, 2))),
    Case("transpose_batch_last", ((None, 17),), lambda x: b.transpose(x, (1, 0))),
    Case("broadcast_to_rank4", ((3, 1),), lambda x: b.broadcast_to(x, (2, None, 3, 5))),
    Case("one_hot_rank2", ((3, None),), lambda x: b.one_hot(x, 5), ("ints",)),
    Case("one_hot_out_of_range", ((None,),), lambda x: b.one_hot(x - 0.5, 3), ("ints",)),
    Case("random_state_seed", (), lambda s: b.random_uniform(s, (2, None, 3), stream=0), states={"seed": ()}),
    Case("random_input_seed", ((),), lambda s: b.random_uniform(s, (None, 65), stream=11), ("seed",)),
    Case("batch_size_alone", ((None, 2),), lambda x: b.batch_size(x.graph) + 0.0 * x),
    Case("constant_rank3", ((None, 1, 1, 3),),
         lambda x: x * x.graph.constant(np.arange(6.0).reshape(2, 1, 3))),
]

SHARED = [(case.id, case) for case in CASES]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory):
    programs = {f"c{i}": case.graph() for i, case in enumerate(CUSTOM)}
    programs.update({f"s{i}": build(case) for i, (_, case) in enumerate(SHARED)})
    return load(programs, tmp_path_factory.mktemp("ops")), programs


def test_every_op_is_lowered_and_exercised(library) -> None:
    _, programs = library
    used = {node.op for graph in programs.values() for node in graph.nodes}
    assert not unlowered_ops()
    assert set(all_ops()) <= used


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("index", range(len(CUSTOM)), ids=[c.name for c in CUSTOM])
def test_custom_case(library, index: int, batch: int) -> None:
    lib, programs = library
    case = CUSTOM[index]
    rng = np.random.default_rng(index)
    feeds = case.feeds(batch, rng)
    state = {name: np.float32(rng.integers(-50, 100000)) for name in case.states}
    assert_matches(programs[f"c{index}"], lib, f"c{index}", feeds, state, batch=batch, rtol=case.tol,
                   atol=case.tol)


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("index", range(len(SHARED)), ids=[i for i, _ in SHARED])
def test_shared_op_case(library, index: int, batch: int) -> None:
    lib, programs = library
    feeds = draw(SHARED[index][1], batch, np.random.default_rng(index))
    feeds = {k: np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind == "f" else v
             for k, v in feeds.items()}
    assert_matches(programs[f"s{index}"], lib, f"s{index}", feeds, batch=batch)
