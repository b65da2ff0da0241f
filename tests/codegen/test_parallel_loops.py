"""Pointwise loops and reductions cut into pool tasks: interpreter results, same bits for any thread count."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from graphc_runtime import set_num_threads
from llvmlite import ir

from graphc.codegen.buffers import assign_buffers
from graphc.codegen.lowering.parallel_loops import PARALLEL_WORK
from graphc.codegen.program import ConstantPool, emit_program
from graphc.codegen.target import optimized_ir, target_spec
from graphc.ir import Graph, Node, TensorType
from graphc.ops import builders as b
from graphc.passes.kernels import FUSION_GROUP, partition
from tests.codegen.compiled import assert_matches, load, run_compiled

BIG = 67           # batch sizes: above PARALLEL_WORK elements (chunks end mid-row) ...
SMALL = (1, 3)     # ... and below it (the kernel calls its range function inline)
AXIS_SETS = [axes for r in (1, 2, 3) for axes in itertools.combinations(range(3), r)]


def _fuse(*nodes: Node, key: object) -> None:
    for node in nodes:
        node.meta[FUSION_GROUP] = key


def _pointwise() -> Graph:
    g = Graph("pointwise")
    x = g.input("x", TensorType((None, 1000)))
    bias = g.input("bias", TensorType((1000,)))
    col = g.input("col", TensorType((None, 1)))
    w = g.input("w", TensorType((300, 260)))
    scaled = x * bias
    moved = scaled + col
    act = b.tanh(moved)
    _fuse(scaled, moved, act, key="act")
    g.outputs["act"] = act
    g.outputs["flipped"] = b.transpose(x, (1, 0)) * 2.0
    g.outputs["static"] = b.sqrt(b.abs_(w)) + 1.0
    wide = g.input("wide", TensorType((None, 1008)))  # a multiple of the vector: chunks cut in blocks
    g.outputs["wide"] = wide * wide + 1.0
    g.outputs["wide_sum"] = b.reduce_sum(wide, [0])
    g.outputs["wide_max"] = b.reduce_max(wide, [0])
    g.outputs["small_static"] = bias * 3.0
    g.outputs["thin"] = col * 3.0
    return g


def _reductions() -> Graph:
    g = Graph("reductions")
    x = g.input("x", TensorType((None, 37, 41)))
    for axes in AXIS_SETS:
        name = "".join(map(str, axes))
        g.outputs[f"sum{name}"] = b.reduce_sum(x, axes)
        g.outputs[f"max{name}"] = b.reduce_max(x, axes, keepdims=True)
    for axis in range(3):
        g.outputs[f"argmax{axis}"] = b.argmax(x, axis)
    return g


def _fused_reductions() -> Graph:
    """Softmax's exp-and-sum (the exponentials stored) and a masked sum over the batch."""
    g = Graph("fused")
    x = g.input("x", TensorType((None, 1100)))
    mask = g.input("mask", TensorType((None, 1100)))
    top = b.reduce_max(x, [1], keepdims=True)
    shifted = x - top
    e = b.exp(shifted)
    total = b.reduce_sum(e, [1], keepdims=True)
    _fuse(shifted, e, total, key="softmax")
    g.outputs["e"] = e
    g.outputs["softmax"] = e / total
    gated = x * mask
    grad = b.reduce_sum(gated, [0])
    _fuse(gated, grad, key="bias_grad")
    g.outputs["bias_grad"] = grad
    return g


def _adam_like() -> Graph:
    """State updates written in place, as the optimizers' are."""
    g = Graph("adam_like")
    grad = g.input("grad", TensorType((300, 260)))
    p = g.state("p", TensorType((300, 260)))
    m = g.state("m", TensorType((300, 260)))
    m_new = m + (grad - m) * 0.1
    g.updates["m"] = m_new
    g.updates["p"] = p - 0.01 * m_new / (b.sqrt(b.abs_(m_new)) + 1e-7)
    return g


GRAPHS = {g.name: g for g in (_pointwise(), _reductions(), _fused_reductions(), _adam_like())}


def _feeds(graph: Graph, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, node in graph.inputs.items():
        values = rng.standard_normal(node.type.concrete(batch)).astype(np.float32)
        feeds[name] = (values > 0).astype(np.float32) if name == "mask" else values
    return feeds


def _state(graph: Graph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {name: rng.standard_normal(node.type.concrete(1)).astype(np.float32)
            for name, node in graph.states.items()}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return load(GRAPHS, tmp_path_factory.mktemp("parallel_loops"))


def test_shapes_reach_both_paths() -> None:
    x = GRAPHS["pointwise"].inputs["x"]
    assert 1000 * max(SMALL) < PARALLEL_WORK <= 1000 * BIG
    assert 37 * 41 * max(SMALL) < PARALLEL_WORK <= 37 * 41 * BIG
    assert x.type.concrete(BIG)[1] % BIG != 0


@pytest.mark.parametrize("name", list(GRAPHS))
@pytest.mark.parametrize("batch", [*SMALL, BIG])
def test_matches_the_interpreter(library, name: str, batch: int, restore_threads) -> None:
    set_num_threads(2)
    graph = GRAPHS[name]
    assert_matches(graph, library, name, _feeds(graph, batch), _state(graph), batch=batch,
                   rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("name", list(GRAPHS))
def test_same_bits_for_every_thread_count(library, name: str, restore_threads) -> None:
    graph = GRAPHS[name]
    runs = []
    for threads in (1, 2, 3):
        set_num_threads(threads)
        runs.append(run_compiled(library, name, _feeds(graph, BIG), _state(graph), BIG))
    for outputs, states in runs[1:]:
        for key, value in runs[0][0].items():
            np.testing.assert_array_equal(outputs[key], value, err_msg=key)
        for key, value in runs[0][1].items():
            np.testing.assert_array_equal(states[key], value, err_msg=key)


def test_optimizer_state_is_updated_in_place() -> None:
    graph = GRAPHS["adam_like"]
    assert assign_buffers(graph, partition(graph)).epilogue == []


def _module_ir(name: str, graph: Graph, cpu: str | None) -> str:
    module = ir.Module(name=name)
    module.triple = target_spec(cpu).triple
    emit_program(module, name, graph, ConstantPool(module))
    return str(module)


def _task_kernels(ir_text: str, program: str) -> set[str]:
    return set(re.findall(rf'define internal void @"?graphc_{program}_(k\d+)_\w*_task"?\('
, ir_text))


def test_only_kernels_large_at_some_batch_size_get_a_task_function() -> None:
    graph = GRAPHS["pointwise"]
    kernels = {f"k{i}": k for i, k in enumerate(partition(graph))}
    with_tasks = _task_kernels(_module_ir("pointwise", graph, None), "pointwise")
    small = {graph.outputs["small_static"], graph.outputs["thin"]}
    inline = {name for name, k in kernels.items() if set(k.outputs) <= small}
    assert len(inline) == 2 and with_tasks == set(kernels) - inline


def _functions(ir_text: str) -> dict[str, str]:
    return {m[1]: m[0] for m in re.finditer(r"define [^@]*@(\w+)\(.*?\n}\n", ir_text, re.S)}


@pytest.mark.parametrize(("cpu", "vector"), [("haswell", "<8 x float>"), ("znver4", "<16 x float>")])
def test_task_functions_stay_vectorized(cpu: str, vector: str) -> None:
    """The loops of the task functions (a fused tanh, a fused sum over the batch) are vector loops,
    16 wide where AVX-512 is used at full width."""
    functions = {}
    for name in ("pointwise", "fused"):
        text = _module_ir(name, GRAPHS[name], cpu)
        functions.update(_functions(optimized_ir(text, target_spec(cpu))))
    tasks = [name for name in functions if name.endswith("_task")
             and ("_tanh_" in name or "_mul_reduce_sum_" in name)]
    assert len(tasks) == 2, sorted(functions)
    for name in tasks:
        assert vector in functions[name], name
