"""Convolution and pooling kernels at sizes the small op cases do not reach: several im2col chunks
with a remainder, pooled tasks over many rows and images; results independent of the thread count."""

from __future__ import annotations

import numpy as np
import pytest
from graphc_runtime import set_num_threads

from graphc.codegen.lowering.convolution import rows_per_chunk
from graphc.ir import Graph, TensorType
from graphc.ops.convolution import CONV2D, CONV2D_FILTER_GRAD, CONV2D_INPUT_GRAD, POOL2D, POOL2D_GRAD, Window
from tests.codegen.compiled import assert_matches, load, run_compiled

RNG = np.random.default_rng(5)
GEOMETRY = {"strides": (1, 2), "dilation": (1, 1), "padding": ((1, 1), (2, 1))}
POOL = {"mode": "max", "pool_size": (3, 3), "strides": (2, 2), "padding": ((0, 1), (0, 1))}
IMAGE, KERNEL = (21, 20, 8), (3, 4, 8, 16)


def _programs() -> dict[str, Graph]:
    window = Window(KERNEL[:2], GEOMETRY["strides"], GEOMETRY["dilation"], GEOMETRY["padding"])
    types = {"x": TensorType((None, *IMAGE)), "w": TensorType(KERNEL),
             "g": TensorType((None, *window.output(*IMAGE[:2]), KERNEL[3]))}
    recipes = {
        "forward": ("xw", lambda x, w: CONV2D(x, w, **GEOMETRY)),
        "input_grad": ("gw", lambda g, w: CONV2D_INPUT_GRAD(g, w, input_size=IMAGE[:2], **GEOMETRY)),
        "filter_grad": ("xg", lambda x, g: CONV2D_FILTER_GRAD(x, g, kernel_size=KERNEL[:2], **GEOMETRY)),
        "max_pool": ("x", lambda x: POOL2D(x, **POOL)),
        "max_pool_grad": ("x", lambda x: POOL2D_GRAD(x, POOL2D(x, **POOL) * 0.5 + 1.0, **POOL)),
    }
    programs = {}
    for name, (operands, record) in recipes.items():
        graph = Graph(name)
        graph.outputs["y"] = record(*(graph.input(o, types[o]) for o in operands))
        programs[name] = graph
    return programs


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    programs = _programs()
    return load(programs, tmp_path_factory.mktemp("conv")), programs


def _feeds(graph: Graph, batch: int) -> dict[str, np.ndarray]:
    return {name: RNG.normal(size=node.type.concrete(batch)).astype(np.float32)
            for name, node in graph.inputs.items()}


@pytest.mark.parametrize("program", ["forward", "input_grad", "filter_grad", "max_pool", "max_pool_grad"])
def test_many_chunks_equal_the_reference(compiled, program) -> None:
    library, programs = compiled
    batch = 9  # 9 * 21 * 10 output rows: several chunks of rows_per_chunk(96) and a remainder
    assert batch * 21 * 10 % rows_per_chunk(3 * 4 * 8) != 0
    graph = programs[program]
    assert_matches(graph, library, program, _feeds(graph, batch), rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("program", ["forward", "input_grad", "filter_grad", "max_pool", "max_pool_grad"])
def test_results_do_not_depend_on_the_thread_count(compiled, program) -> None:
    library, programs = compiled
    feeds = _feeds(programs[program], 17)
    results = []
    for threads in (1, 2):
        set_num_threads(threads)
        try:
            results.append(run_compiled(library, program, feeds, {})[0]["y"])
        finally:
            set_num_threads(None)
    np.testing.assert_array_equal(results[0], results[1])


def _conv_chain(scale_shape: tuple) -> Graph:
    """conv2d -> + bias -> * scale -> relu, run through the O2 pipeline (fusion decides)."""
    from graphc.ops import builders as b

    graph = Graph("chain")
    x = graph.input("x", TensorType((None, 9, 8, 3)))
    w = graph.input("w", TensorType((3, 3, 3, 5)))
    bias = graph.input("bias", TensorType((5,)))
    scale = graph.input("scale", TensorType(scale_shape))
    y = CONV2D(x, w, strides=(1, 1), dilation=(1, 1), padding=((1, 1), (1, 1)))
    graph.outputs["y"] = b.maximum((y + bias) * scale, 0.0)
    return graph


@pytest.mark.parametrize("scale_shape, fused", [((5,), True), ((1, 1, 5), True), ((None, 1, 1, 5), False)])
def test_a_convolution_applies_its_consumer_chain_in_the_gemm_epilogue(tmp_path, scale_shape, fused) -> None:
    """Per-channel operands ride along each tile of rows; one of shape (N, 1, 1, C) cannot be read
    by row and stays a separate loop. Either way the result is the reference's."""
    from graphc.passes import run_pipeline
    from graphc.passes.kernels import partition

    graph = run_pipeline(_conv_chain(scale_shape), 2).graph
    (head,) = [k for k in partition(graph) if k.epilogue_head is not None]
    expected = {"conv2d", "add", "mul", "maximum"} if fused else {"conv2d", "add"}
    assert {n.op for n in head.nodes} == expected
    library = load({"chain": graph}, tmp_path)
    for batch in (1, 7):  # one chunk (GEMM on the pool) and several chunks in tasks
        feeds = _feeds(graph, batch)
        assert_matches(graph, library, "chain", feeds, batch=batch, rtol=2e-4, atol=2e-4)
