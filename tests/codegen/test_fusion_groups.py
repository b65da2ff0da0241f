"""Groups of scalar nodes (node.meta["fusion_group"]) emitted as one pointwise loop."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.codegen import compile_programs
from graphc.codegen.buffers import assign_buffers
from graphc.ir import Graph, Node, TensorType
from graphc.ops import builders as b
from graphc.passes.kernels import FUSION_GROUP, partition
from tests.codegen.compiled import assert_matches, load


def _fuse(*nodes: Node, key: object = 0) -> None:
    for node in nodes:
        node.meta[FUSION_GROUP] = key


def _chain() -> Graph:
    g = Graph("chain")
    x = g.input("x", TensorType((None, 5)))
    shift = g.input("shift", TensorType((None, 1)))
    w = g.state("w", TensorType((5,)))
    scaled = x * w
    moved = scaled + b.exp(shift)
    h = b.tanh(moved)
    out = h * 2.0
    _fuse(scaled, moved, moved.inputs[1], h, out)
    g.outputs["out"] = out
    g.outputs["h"] = h
    return g


def _update_in_group() -> Graph:
    g = Graph("transposed")
    w = g.state("w", TensorType((4, 4)))
    g.outputs["trace"] = b.reduce_sum(w)
    flipped = b.transpose(w, (1, 0))
    new = w - 0.5 * flipped
    _fuse(flipped, new.inputs[1], new)
    g.updates["w"] = new
    return g


def _random_classes() -> Graph:
    g = Graph("noise")
    seed = g.input("seed", TensorType((), "int64"))
    labels = g.input("labels", TensorType((None,)))
    noise = b.random_uniform(seed, (None, 3), stream=2)
    hot = b.one_hot(labels, 3)
    mixed = b.select(b.greater(noise, 0.5), hot, noise)
    _fuse(noise, hot, mixed.inputs[0], mixed)
    g.outputs["mixed"] = mixed
    return g


GRAPHS = {g.name: g for g in (_chain(), _update_in_group(), _random_classes())}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory):
    return load(GRAPHS, tmp_path_factory.mktemp("fused"))


def test_groups_become_single_kernels() -> None:
    kernels = partition(GRAPHS["chain"])
    assert [len(k.nodes) for k in kernels] == [5]
    assert [n.op for n in kernels[0].outputs] == ["tanh", "mul"]
    assert [len(k.nodes) for k in partition(GRAPHS["transposed"])] == [1, 3]


@pytest.mark.parametrize("batch", [1, 5])
def test_fused_programs_match_the_interpreter(library, batch: int) -> None:
    rng = np.random.default_rng(batch)
    chain = {"x": rng.normal(size=(batch, 5)), "shift": rng.normal(size=(batch, 1))}
    assert_matches(GRAPHS["chain"], library, "chain", chain, {"w": rng.normal(size=5)})
    state = {"w": rng.normal(size=(4, 4))}
    assert_matches(GRAPHS["transposed"], library, "transposed", {}, state, batch=batch)
    noise = {"seed": np.int64(17), "labels": rng.integers(0, 3, batch).astype(np.float32)}
    assert_matches(GRAPHS["noise"], library, "noise", noise)


def test_misaligned_read_of_the_updated_state_is_copied() -> None:
    graph = GRAPHS["transposed"]
    plan = assign_buffers(graph, partition(graph))
    assert [c.dst for c in plan.epilogue] == [plan.locations[graph.states["w"]]]


def test_invalid_groups_are_rejected() -> None:
    g = Graph("early")
    x = g.input("x", TensorType((None, 3)))
    a = x + 1.0
    total = b.reduce_sum(a)
    c = a * total
    _fuse(a, c)
    g.outputs["c"] = c
    with pytest.raises(ValueError, match="before the rest of its fusion group"):
        partition(g)
    g2 = Graph("kinds")
    y = b.reduce_sum(g2.input("x", TensorType((None, 3))), [1])
    _fuse(y)
    g2.outputs["y"] = y
    with pytest.raises(ValueError, match="only pointwise ops"):
        partition(g2)
    g3 = Graph("shapes")
    z = g3.input("z", TensorType((None, 3)))
    row, col = z * 2.0, b.reduce_sum(z, [1])
    wide = row + 1.0
    narrow = col + 1.0
    _fuse(row, wide, narrow)
    g3.outputs["wide"], g3.outputs["narrow"] = wide, narrow
    with pytest.raises(ValueError, match="differ in shape"):
        compile_programs({"shapes": g3})
