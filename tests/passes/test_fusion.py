"""Fusion decisions from op kinds, and the fused groups compiled against the interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.codegen.lowering.registry import find_lowering
from graphc.ir import Graph, Node, TensorType
from graphc.ops import Fusion, all_ops, get_op
from graphc.ops import builders as b
from graphc.ops.convolution import CONV2D, POOL2D
from graphc.passes.fusion import (
    accumulates,
    epilogue_chains,
    fuse,
    fuse_aggressive,
    is_pointwise,
    mark_epilogues,
)
from graphc.passes.kernels import EPILOGUE_GROUP, FUSION_GROUP, partition
from graphc.passes.pipeline import run_pipeline
from tests.codegen.compiled import assert_matches, load
from tests.ops.op_cases import CASES, case_inputs


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_kind_decisions_match_what_codegen_can_fuse(case) -> None:
    g = Graph("case")
    node = case.record(*case_inputs(case, g, "a"))
    op = get_op(node.op)
    lowering = find_lowering(node.op)
    if is_pointwise(node):
        assert (op.scalar is None) == (lowering is not None)
    if accumulates(node):
        assert op.fusion is Fusion.KERNEL and lowering is not None


def test_every_op_of_the_catalogue_has_a_fusion_decision() -> None:
    sources = {"input", "state", "constant", "batch_size"}
    covered = {c.op for c in CASES} | sources | {"random_uniform", "one_hot"}
    assert set(all_ops()) <= covered


def _groups(graph: Graph) -> dict[object, list[Node]]:
    groups: dict[object, list[Node]] = {}
    for node in graph.nodes:
        if FUSION_GROUP in node.meta:
            groups.setdefault(node.meta[FUSION_GROUP], []).append(node)
    return groups


def _training_step() -> Graph:
    """Dense(relu) -> Dense -> softmax cross-entropy, SGD with momentum: update groups and reductions."""
    g = Graph("step")
    x = g.input("x", TensorType((None, 5)))
    t = g.input("t", TensorType((None, 3)))
    lr = g.input("lr", TensorType(()))
    from graphc.ops.autodiff import gradients

    params = [g.state("w1", TensorType((5, 4)), True), g.state("b1", TensorType((4,)), True),
              g.state("w2", TensorType((4, 3)), True), g.state("b2", TensorType((3,)), True)]
    h = b.maximum(g.constant(0.0), b.matmul(x, params[0]) + params[1])
    logits = b.matmul(h, params[2]) + params[3]
    shifted = logits - b.reduce_max(logits, [1], keepdims=True)
    log_probs = shifted - b.log(b.reduce_sum(b.exp(shifted), [1], keepdims=True))
    loss = b.reduce_mean(-b.reduce_sum(t * log_probs, [1]))
    g.outputs["loss"] = loss
    with g.scope(role="update"):
        for p, grad in zip(params, gradients(loss, params), strict=True):
            name = p.attrs["name"]
            velocity = g.state(f"v/{name}", p.type)
            new_velocity = velocity * 0.9 - lr * grad
            g.updates[f"v/{name}"] = new_velocity
            g.updates[name] = p + new_velocity * 0.5 - lr * grad * 0.5
    return g


def test_each_parameter_update_is_one_loop_with_its_slot() -> None:
    graph = run_pipeline(_training_step(), 2).graph
    kernels = {k.nodes[-1]: k for k in partition(graph)}
    for name in ("w1", "b1", "w2", "b2"):
        kernel = kernels.get(graph.updates[name]) or next(k for k in kernels.values()
                                                        if graph.updates[name] in k.nodes)
        assert graph.updates[f"v/{name}"] in kernel.nodes, name
        assert set(kernel.outputs) == {graph.updates[name], graph.updates[f"v/{name}"]}


def test_reductions_end_groups_of_their_producers() -> None:
    result = run_pipeline(_training_step(), 1)
    graph, counters = fuse.transform(result.graph)
    reduction_kernels = [k for k in partition(graph) if k.reduction is not None]
    assert len(reduction_kernels) == counters["reduction_groups"] >= 3
    (relu_grad,) = [k for k in reduction_kernels if k.reduction.shape == (4,)]
    assert [n.op for n in relu_grad.nodes] == ["select", "reduce_sum"]
    (mask,) = [n for n in relu_grad.inputs if n.op == "greater_equal"]
    assert {n.op for n in graph.nodes if n.meta.get(FUSION_GROUP) == mask.meta[FUSION_GROUP]} == {
        "add", "maximum", "greater_equal"}, "the relu mask is computed in the forward loop"
    assert [n.op for n in relu_grad.outputs] == ["select", "reduce_sum"], "the matmul also reads the select"
    assert counters["kernels_after"] < counters["kernels_before"] / 2
    assert counters["bytes_saved_per_sample"] > 0


def test_at_o2_the_relu_gradient_goes_to_the_matmul_epilogue_instead() -> None:
    graph = run_pipeline(_training_step(), 2).graph
    (select,) = [n for n in graph.nodes if n.op == "select"]
    (producer,) = [n for n in select.inputs if n.op == "matmul"]
    assert select.meta[EPILOGUE_GROUP] == producer.meta[EPILOGUE_GROUP]
    assert FUSION_GROUP not in select.meta


def test_groups_are_convex_and_contiguous() -> None:
    g = Graph("convex")
    x = g.input("x", TensorType((None, 4)))
    a = x + 1.0
    g.outputs["y"] = b.tanh(a - b.reduce_max(a, [1], keepdims=True))
    fused = fuse(g)
    groups = _groups(fused)
    (sub,) = [n for n in fused.nodes if n.op == "sub"]
    (add,) = [n for n in fused.nodes if n.op == "add"]
    assert sub.meta[FUSION_GROUP] != add.meta[FUSION_GROUP], "a path add -> max -> sub leaves the group"
    index = {n: i for i, n in enumerate(fused.nodes)}
    for members in groups.values():
        positions = sorted(index[n] for n in members)
        assert positions == list(range(positions[0], positions[0] + len(positions)))
    assert len(partition(fused)) == 2


def test_updates_stay_after_the_last_read_of_the_old_value() -> None:
    graph = run_pipeline(_training_step(), 2).graph
    index = {n: i for i, n in enumerate(graph.nodes)}
    for name in ("w1", "w2"):
        state = graph.states[name]
        last_read = max(index[u] for u in graph.users()[state] if u.role != "update")
        assert index[graph.updates[name]] > last_read


def test_epilogue_chains_follow_single_elementwise_users() -> None:
    g = Graph("epi")
    x = g.input("x", TensorType((None, 5)))
    w, w2 = g.state("w", TensorType((5, 4))), g.state("w2", TensorType((4, 4)))
    hidden = b.maximum(g.constant(0.0), b.matmul(x, w) + g.state("b", TensorType((4,))))
    pre = b.matmul(hidden, w2) + 1.0
    g.outputs["y"] = b.tanh(pre) + b.sigmoid(pre)  # pre has two users: the chain stops there
    chains = epilogue_chains(g)
    assert [[n.op for n in c] for c in chains] == [["matmul", "add", "maximum"], ["matmul", "add"]]
    marked = fuse(mark_epilogues(g))
    for node in marked.nodes:
        assert not (EPILOGUE_GROUP in node.meta and FUSION_GROUP in node.meta), node
    assert [k.epilogue_head is not None for k in partition(marked)] == [True, True, False]


def test_a_full_shape_operand_read_only_through_windows_stays_out_of_the_epilogue(tmp_path) -> None:
    """An LSTM step: z_t + h @ u, then the four gates' slices. The add joins the slices' pointwise
    kernel (which reads z_t where it reads the sum) instead of the GEMM's epilogue; with a consumer
    that is not a window (tanh) it stays in the epilogue. Both compile to the interpreter's values."""
    g = Graph("gates")
    h, z = g.input("h", TensorType((None, 3))), g.input("z", TensorType((None, 8)))
    u = g.state("u", TensorType((3, 8)))
    a = b.matmul(h, u) + z
    g.outputs["y"] = b.sigmoid(b.slice_(a, (0, 0), (None, 4))) * b.tanh(b.slice_(a, (0, 4), (None, 4)))
    g.outputs["other"] = b.tanh(b.matmul(z, b.transpose(u, (1, 0))) + h)
    chains = epilogue_chains(g)
    assert [[n.op for n in c] for c in chains] == [["matmul", "add", "tanh"]]
    rng = np.random.default_rng(3)
    feeds = {"h": rng.normal(size=(5, 3)).astype(np.float32), "z": rng.normal(size=(5, 8)).astype(np.float32)}
    library = load({"gates": run_pipeline(g, 2).graph}, tmp_path)
    assert_matches(g, library, "gates", feeds, {"u": rng.normal(size=(3, 8)).astype(np.float32)})


def test_a_convolution_chain_may_end_in_a_2x2_pool_its_kernel_stores_alone() -> None:
    g = Graph("conv_pool")
    x = g.input("x", TensorType((None, 9, 9, 2)))
    conv = CONV2D(x, g.state("w", TensorType((3, 3, 2, 16))), strides=(1, 1), dilation=(1, 1),
                  padding=((0, 0), (0, 0)))
    relu = b.maximum(conv + g.state("b", TensorType((16,))), 0.0)
    g.outputs["y"] = POOL2D(relu, mode="max", pool_size=(2, 2), strides=(2, 2), padding=((0, 0), (0, 0)))
    assert [[n.op for n in c] for c in epilogue_chains(g)] == [["conv2d", "add", "maximum", "pool2d"]]
    marked, counters = mark_epilogues.transform(g)
    (kernel,) = partition(marked)
    assert kernel.epilogue_tail is not None and kernel.outputs == (kernel.epilogue_tail,)
    assert counters["bytes_saved_per_sample"] == 3 * 4 * 7 * 7 * 16  # conv, add, relu never stored
    g.outputs["pre"] = relu  # read elsewhere: the chain ends before the pool
    assert [[n.op for n in c] for c in epilogue_chains(g)] == [["conv2d", "add", "maximum"]]


def _reduction_groups() -> dict[str, Graph]:
    graphs = {}
    g = Graph("rows")  # sum over the inner axis; the exp is also stored
    x = g.input("x", TensorType((None, 6)))
    e = b.exp(x * 0.5)
    g.outputs["total"] = b.reduce_sum(e, [1], keepdims=True)
    g.outputs["e"] = e
    graphs[g.name] = g
    g = Graph("batch")  # max over the batch axis of a product with a row vector
    x = g.input("x", TensorType((None, 3)))
    g.outputs["m"] = b.reduce_max(b.tanh(x * g.state("v", TensorType((3,)))), [0])
    graphs[g.name] = g
    g = Graph("cube")  # two non-adjacent axes, through a transpose and a random mask
    x = g.input("x", TensorType((None, 2, 3)))
    seed = g.state("seed", TensorType((), "int64"))
    moved = b.transpose(x, (0, 2, 1)) * b.greater_equal(b.random_uniform(seed, (None, 3, 2), 4), 0.5)
    g.outputs["s"] = b.reduce_sum(moved + 1.0, [0, 2])
    graphs[g.name] = g
    g = Graph("rowstat")  # O3 recomputes the per-row mean inside the centred-square loop
    x = g.input("x", TensorType((None, 4)))
    mean = b.reduce_sum(x, [1], keepdims=True) * 0.25
    centred = x - (mean * 1.0 + 0.0 * mean)
    g.outputs["var"] = b.reduce_sum(centred * centred, [1])
    graphs[g.name] = g
    return {name: fuse_aggressive(graph) for name, graph in graphs.items()}


@pytest.fixture(scope="module")
def fused_library(tmp_path_factory: pytest.TempPathFactory):
    graphs = _reduction_groups()
    return graphs, load(graphs, tmp_path_factory.mktemp("reduction_groups"))


def test_reduction_groups_are_single_kernels(fused_library) -> None:
    graphs, _ = fused_library
    shapes = {name: [len(k.nodes) for k in partition(g)] for name, g in graphs.items()}
    assert shapes["rows"] == [3] and shapes["batch"] == [3] and shapes["cube"] == [6]
    kernels = partition(graphs["rowstat"])
    assert len(kernels) == 2 and kernels[-1].reduction is not None
    assert any(n.op == "reduce_sum" for n in kernels[-1].inputs)


@pytest.mark.parametrize("batch", [1, 5])
def test_reduction_groups_match_the_interpreter(fused_library, batch: int) -> None:
    graphs, library = fused_library
    rng = np.random.default_rng(batch)
    for name, graph in graphs.items():
        feeds = {"x": rng.normal(size=graph.inputs["x"].type.concrete(batch))}
        state = {n: rng.normal(size=s.type.concrete(batch)) for n, s in graph.states.items()}
        if "seed" in state:
            state["seed"] = np.int64(11)
        assert_matches(graph, library, name, feeds, state)
