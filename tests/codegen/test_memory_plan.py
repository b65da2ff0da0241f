"""The memory planner: slot reuse by liveness, in-place writes, and results unchanged by either."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from graphc.build.programs import model_programs
from graphc.codegen import compile_programs
from graphc.codegen.buffers import BufferPlan, Location, Size, assign_buffers, pack, root
from graphc.codegen.liveness import Interval
from graphc.codegen.lowering.pointwise import PointwisePlan
from graphc.ir import Graph, TensorType
from graphc.ir.graph import Node
from graphc.keras.layers import Dense, Dropout
from graphc.keras.models import Sequential
from graphc.ops import builders as b
from graphc.passes.kernels import FUSION_GROUP, Kernel, partition
from tests.codegen.compiled import assert_matches, load, run_compiled
from tests.ops.op_cases import CASES, case_inputs, draw

BATCHES = (1, 3, 128)


def check_plan(graph: Graph, kernels: list[Kernel], plan: BufferPlan) -> None:
    """No two values live at the same time share a byte, except an output written over its dying input."""
    chained = set(plan.in_place.items())
    for one, two in itertools.combinations(plan.arena, 2):
        if not one.interval.overlaps(two.interval):
            continue
        if (one.key, two.key) in chained or (two.key, one.key) in chained:
            assert one.location == two.location
            assert max(one.interval.start, two.interval.start) == min(one.interval.end, two.interval.end)
            continue
        for n in BATCHES:
            a = one.location.static + one.location.per_batch * n
            c = two.location.static + two.location.per_batch * n
            assert a + one.size.at(n) <= c or c + two.size.at(n) <= a, (one, two, n)
    for n in BATCHES:
        for entry in plan.arena:
            end = entry.location.static + entry.location.per_batch * n + entry.size.at(n)
            assert end <= plan.arena_size.at(n)
            assert (entry.location.static + entry.location.per_batch * n) % 64 == 0
    position = {out: p for p, kernel in enumerate(kernels) for out in kernel.outputs}
    for out, victim in plan.in_place.items():
        p = position[out]
        kernel = kernels[p]
        assert kernel.is_pointwise
        reads = [src for src in kernel.inputs if root(src) is victim]
        assert reads and all(src.shape == out.shape for src in reads)
        assert set(reads) <= PointwisePlan(kernel).aligned_inputs()
        later = [k for k in kernels[p + 1:] if any(root(src) is victim for src in k.inputs)]
        assert later == [] and victim not in {root(n) for n in graph.roots()}


def planned(graph: Graph) -> BufferPlan:
    kernels = partition(graph)
    plan = assign_buffers(graph, kernels)
    check_plan(graph, kernels, plan)
    return plan


def _wrapped(case) -> Graph:
    """The op case between exact elementwise chains: values die, slots free up, writes go in place."""
    graph = Graph(case.id)
    inner = [_exact_chain(x) for x in case_inputs(case, graph)]
    result = case.record(*inner)
    if result.type.is_float:
        result = b.unary("abs", result) * 1.0
    graph.outputs["out"] = _exact_chain(result)
    return graph


def _exact_chain(x: Node) -> Node:
    """Two exact elementwise steps: neg twice for floats, (x + x) - x for integers."""
    return b.unary("neg", b.unary("neg", x)) if x.type.is_float else (x + x) - x


WRAPPED = {f"w{i}": _wrapped(case) for i, case in enumerate(CASES)}


@pytest.fixture(scope="module")
def wrapped_library(tmp_path_factory: pytest.TempPathFactory):
    return load(WRAPPED, tmp_path_factory.mktemp("plan"))


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.id for c in CASES])
def test_op_cases_between_reused_buffers_match_the_interpreter(wrapped_library, index: int,
                                                               batch: int) -> None:
    name = f"w{index}"
    planned(WRAPPED[name])
    feeds = draw(CASES[index], batch, np.random.default_rng(index))
    feeds = {k: np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind == "f" else v
             for k, v in feeds.items()}
    assert_matches(WRAPPED[name], wrapped_library, name, feeds, batch=batch)


def test_wrapped_cases_do_write_in_place_and_reuse() -> None:
    plans = [planned(g) for g in WRAPPED.values()]
    assert all(plan.in_place for plan in plans)
    assert all(plan.arena_size.per_batch < plan.before_planning.per_batch for plan in plans
               if plan.before_planning.per_batch)


def _mlp(dropout: float, hidden: int = 16) -> Sequential:
    layers = [Dense(hidden, activation="relu", input_shape=(12,))]
    if dropout:
        layers.append(Dropout(dropout))
    layers += [Dense(hidden, activation="tanh"), Dense(4, activation="softmax")]
    model = Sequential(layers)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("level", [0, 2])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_training_steps_match_the_interpreter(tmp_path, dropout: float, level: int) -> None:
    model = _mlp(dropout)
    programs = model_programs(model, level)
    graph = programs.graphs["train_step"]
    planned(graph)
    library = load({"train_step": graph}, tmp_path)
    rng = np.random.default_rng(1)
    state = {name: np.abs(rng.normal(0.0, 0.3, node.shape)).astype(np.float32)
             for name, node in graph.states.items()}
    state.update({k: np.float32(v) for k, v in programs.initial_values.items() if k in graph.states})
    state["optimizer/iterations"] = np.float32(0.0)
    for batch in (5, 1, 9):
        feeds = {"x": rng.normal(size=(batch, 12)).astype(np.float32),
                 "y": np.eye(4, dtype=np.float32)[rng.integers(0, 4, batch)], **model.optimizer.feeds()}
        assert_matches(graph, library, "train_step", feeds, state, batch=batch, rtol=1e-4, atol=1e-5)
        _, state = run_compiled(library, "train_step", feeds, state, batch)


@pytest.mark.parametrize("level", [0, 2])
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_arena_shrinks_on_mlp_training_graphs(dropout: float, level: int) -> None:
    plan = planned(model_programs(_mlp(dropout, hidden=64), level).graphs["train_step"])
    assert plan.in_place
    assert plan.arena_size.per_batch < plan.before_planning.per_batch
    assert plan.arena_size.static <= plan.before_planning.static


def test_slots_are_reused_only_after_the_last_read() -> None:
    g = Graph("chain")
    x = g.input("x", TensorType((None, 8)))
    w = g.state("w", TensorType((8, 8)))
    h1 = b.matmul(x, w)
    h2 = b.matmul(h1, w)
    h3 = b.matmul(h2, w)
    h4 = b.matmul(h3, w)
    g.outputs["y"] = h4
    plan = planned(g)
    where = {n: plan.locations[n] for n in (h1, h2, h3)}
    assert where[h1] == where[h3] != where[h2]
    assert plan.arena_size == Size(0, 2 * 64) and plan.before_planning == Size(0, 3 * 64)


def test_elementwise_chain_runs_in_one_slot_in_place() -> None:
    g = Graph("pointwise")
    x = g.input("x", TensorType((None, 5)))
    t = b.tanh(x)
    e = b.exp(t)
    n = -e
    g.outputs["y"] = b.reduce_sum(n, [1])
    plan = planned(g)
    assert plan.in_place == {e: t, n: e}
    assert plan.locations[t] == plan.locations[e] == plan.locations[n]
    assert plan.arena_size == Size(0, 64)


def test_no_in_place_over_a_broadcast_or_still_needed_input() -> None:
    g = Graph("blocked")
    x = g.input("x", TensorType((None, 5)))
    row = b.tanh(g.input("r", TensorType((5,))))
    keep = b.exp(x)
    y = keep * row  # row broadcasts: shapes differ
    z = y + keep  # keep is read again below
    g.outputs["out"] = b.reduce_sum(z * keep, [1])
    plan = planned(g)
    assert row not in plan.in_place.values() and keep not in plan.in_place.values()
    assert plan.in_place.get(z) is y


def test_second_output_still_reads_the_input_overwritten_by_the_first(tmp_path) -> None:
    g = Graph("fused_outputs")
    x = g.input("x", TensorType((None, 6)))
    a = b.tanh(x)
    first = a + 1.0
    second = a * 3.0
    for node in (first, second):
        node.meta[FUSION_GROUP] = "g"
    g.outputs["y"] = b.reduce_sum(first * second, [1])
    kernels = partition(g)
    plan = assign_buffers(g, kernels)
    check_plan(g, kernels, plan)
    assert plan.in_place[first] is a
    feeds = {"x": np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6)}
    assert_matches(g, load({"p": g}, tmp_path), "p", feeds)


def test_pack_shares_slots_between_disjoint_lifetimes_of_one_kind_of_size() -> None:
    requests = [
        ("wide", Size(0, 256), Interval(0, 1)),
        ("narrow", Size(0, 128), Interval(2, 3)),
        ("overlapping", Size(0, 128), Interval(3, 4)),
        ("static", Size(4096, 0), Interval(5, 6)),
        ("last", Size(0, 64), Interval(7, 7)),
    ]
    locations, total = pack(requests)
    assert locations["narrow"] == locations["wide"] != locations["overlapping"]
    assert locations["last"] == locations["overlapping"]  # the best fit of two free slots
    assert locations["static"] == Location("workspace", static=0, per_batch=0)
    assert total == Size(4096, 256 + 128)


def test_a_value_never_reuses_a_slot_its_static_or_per_batch_part_does_not_fit() -> None:
    first, then = Interval(0, 1), Interval(2, 3)
    assert pack([("s", Size(4096, 0), first), ("p", Size(0, 64), then)])[1] == Size(4096, 64)
    assert pack([("p", Size(0, 64), first), ("s", Size(64, 0), then)])[1] == Size(64, 64)


def test_manifest_reports_the_arena_before_and_after_planning() -> None:
    g = Graph("ws")
    x = g.input("x", TensorType((None, 3)))
    g.outputs["y"] = b.reduce_sum(b.exp(b.tanh(x)) * 2.0, [1])
    workspace = compile_programs({"p": g}).manifest["programs"]["p"]["workspace"]
    assert workspace == {"static_bytes": 0, "per_batch_bytes": 64, "in_place_writes": 2,
                         "before_planning": {"static_bytes": 0, "per_batch_bytes": 192}}
    assert planned(g).workspace_manifest() == workspace
