"""Convolution and pooling kernels at sizes the small op cases do not reach: several im2col chunks
with a remainder, pooled tasks over many rows and images; results independent of the thread count."""

from __future__ import annotations

import numpy as np
import pytest
from graphc_runtime import set_num_threads

from graphc.codegen.lowering.convolution import rows_per_chunk
from graphc.ir import Graph, TensorType
from graphc.ops.convolution import CONV2D, CONV2D_FILTER_GRAD, CONV2D_INPUT_GRAD, POOL2D, POOL2D_GRAD, Window
from tests.codegen.compiled import assert_matches, load, outputs_by_thread_count, run_compiled
from tests.codegen.guard_pages import guarded

RNG = np.random.default_rng(5)
GEOMETRY = {"strides": (1, 2), "dilation": (1, 1), "padding": ((1, 1), (2, 1))}
POOL = {"mode": "max", "pool_size": (3, 3), "strides": (2, 2), "padding": ((0, 1), (0, 1))}
IMAGE, KERNEL = (21, 20, 8), (3, 4, 8, 16)
# Unpadded pools keep each window in registers (overlapping windows here); padded ones take the loops.
VALID_POOL = {"mode": "max", "pool_size": (3, 3), "strides": (2, 1), "padding": ((0, 0), (0, 0))}
POOL_2X2 = {"mode": "max", "pool_size": (2, 2), "strides": (2, 2), "padding": ((0, 0), (0, 0))}
PROGRAMS = ["forward", "narrow_forward", "input_grad", "filter_grad", "max_pool", "max_pool_grad",
            "max_pool_valid", "avg_pool_valid", "max_pool_2x2"]


def _programs() -> dict[str, Graph]:
    window = Window(KERNEL[:2], GEOMETRY["strides"], GEOMETRY["dilation"], GEOMETRY["padding"])
    types = {"x": TensorType((None, *IMAGE)), "w": TensorType(KERNEL),
             "g": TensorType((None, *window.output(*IMAGE[:2]), KERNEL[3]))}
    types["xn"] = TensorType((None, IMAGE[0], 9, IMAGE[2]))  # output rows of 5 positions: the im2col path
    assert window.output(IMAGE[0], 9)[1] == 5
    types["xp"] = TensorType((None, 15, 14, 40))  # unpadded pools: two vectors of channels and 8 lanes
    recipes = {
        "forward": ("xw", lambda x, w: CONV2D(x, w, **GEOMETRY)),
        "narrow_forward": (("xn", "w"), lambda x, w: CONV2D(x, w, **GEOMETRY)),
        "input_grad": ("gw", lambda g, w: CONV2D_INPUT_GRAD(g, w, input_size=IMAGE[:2], **GEOMETRY)),
        "filter_grad": ("xg", lambda x, g: CONV2D_FILTER_GRAD(x, g, kernel_size=KERNEL[:2], **GEOMETRY)),
        "max_pool": ("x", lambda x: POOL2D(x, **POOL)),
        "max_pool_grad": ("x", lambda x: POOL2D_GRAD(x, POOL2D(x, **POOL) * 0.5 + 1.0, **POOL)),
        "max_pool_valid": (("xp",), lambda x: POOL2D(x, **VALID_POOL)),
        "avg_pool_valid": (("xp",), lambda x: POOL2D(x, **{**VALID_POOL, "mode": "avg"})),
        "max_pool_2x2": (("xp",), lambda x: POOL2D(x, **POOL_2X2)),
    }
    programs = {}
    for name, (operands, record) in recipes.items():
        graph = Graph(name)
        operands = tuple(operands)
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


@pytest.mark.parametrize("program", PROGRAMS)
def test_many_chunks_equal_the_reference(compiled, program) -> None:
    library, programs = compiled
    batch = 9  # 9 * 21 * 10 output rows: several chunks of rows_per_chunk(96) and a remainder
    assert batch * 21 * 10 % rows_per_chunk(3 * 4 * 8) != 0
    graph = programs[program]
    feeds = _feeds(graph, batch)
    assert_matches(graph, library, program, feeds, rtol=2e-4, atol=2e-4)
    want = run_compiled(library, program, feeds, {})[0]["y"]
    for at_end in (True, False):  # operands beside inaccessible pages: nothing is read outside them
        got = run_compiled(library, program, {k: guarded(v, at_end) for k, v in feeds.items()}, {})[0]["y"]
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("program", PROGRAMS)
def test_results_do_not_depend_on_the_thread_count(compiled, program) -> None:
    library, programs = compiled
    one, two = outputs_by_thread_count(library, program, _feeds(programs[program], 17))
    np.testing.assert_array_equal(one, two)


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


# The direct convolution (conv_direct.py): one input channel (the tutorial CNN's first layer), three
# with 'same' padding (the CIFAR-style one's), channels in unrolled blocks of 8 and a remainder
# (C = 19), filters in groups of 64 with a masked last vector (F = 84: 4 + 2 vectors, the last of 4
# lanes), strides, dilations, asymmetric padding, output rows with a tail of positions.
STRIDE_1 = {"strides": (1, 1), "dilation": (1, 1)}
# A fused epilogue of per-channel arithmetic (bias, scale, relu) is applied in registers before the
# sums are stored; one with tanh runs as a tile function over each item's rows.
TILE_FUNCTION = {"wide", "masked", "odd", "valid"}
DIRECT_CASES = {
    "tutorial": ((28, 28, 1), (5, 5, 1, 32), {**STRIDE_1, "padding": ((0, 0), (0, 0))}),
    "cifar": ((32, 32, 3), (3, 3, 3, 32), {**STRIDE_1, "padding": ((1, 1), (1, 1))}),
    "wide": ((13, 29, 19), (3, 2, 19, 84),
             {"strides": (2, 1), "dilation": (1, 2), "padding": ((2, 0), (1, 3))}),
    "masked": ((9, 31, 2), (2, 3, 2, 7),
               {"strides": (1, 2), "dilation": (2, 1), "padding": ((0, 1), (0, 2))}),
}


def _direct_programs() -> dict[str, Graph]:
    from graphc.ops import builders as b

    programs = {}
    for name, (image, kernel, geometry) in DIRECT_CASES.items():
        graph = Graph(name)
        x = graph.input("x", TensorType((None, *image)))
        w = graph.input("w", TensorType(kernel))
        bias = graph.input("bias", TensorType((kernel[3],)))
        y = CONV2D(x, w, **geometry) + bias
        graph.outputs["y"] = b.tanh(y) if name in TILE_FUNCTION else b.maximum(y, 0.0)
        programs[name] = graph
    return programs


@pytest.fixture(scope="module")
def direct(tmp_path_factory):
    from graphc.codegen.lowering import conv_direct
    from graphc.passes import run_pipeline

    programs = {name: run_pipeline(graph, 2).graph for name, graph in _direct_programs().items()}
    library = load(programs, tmp_path_factory.mktemp("direct"))
    applies = conv_direct.applies
    conv_direct.applies = lambda geometry: False  # the same programs through the im2col GEMM
    try:
        im2col = load(programs, tmp_path_factory.mktemp("im2col"))
    finally:
        conv_direct.applies = applies
    return library, im2col, programs


@pytest.mark.parametrize("name", list(DIRECT_CASES))
def test_direct_convolution_equals_the_reference_and_the_im2col_path(direct, name) -> None:
    """The direct kernel sums each element's taps in the GEMM's order: the im2col path's bits, for
    every batch size and thread count; both match the reference."""
    library, im2col, programs = direct
    graph = programs[name]
    for batch in (1, 3, 8):
        feeds = _feeds(graph, batch)
        assert_matches(graph, library, name, feeds, rtol=2e-4, atol=2e-4)
        results = []
        for threads in (1, 2):
            set_num_threads(threads)
            try:
                results += [run_compiled(lib, name, feeds, {})[0] for lib in (library, im2col)]
            finally:
                set_num_threads(None)
        for at_end in (True, False):  # the image and kernel beside inaccessible pages: never read outside
            guarded_feeds = {k: guarded(v, at_end) for k, v in feeds.items()}
            results.append(run_compiled(library, name, guarded_feeds, {})[0])
        for result in results[1:]:
            for key in results[0]:
                np.testing.assert_array_equal(result[key], results[0][key])


def test_the_paths_are_the_ones_meant() -> None:
    from graphc.codegen.lowering import conv_direct
    from graphc.codegen.lowering.convolution import _forward_geometry

    for graph in _direct_programs().values():
        conv = next(n for n in graph.nodes if n.op == "conv2d")
        assert conv_direct.applies(_forward_geometry(conv))
    graph = _programs()["forward"]  # 10 output columns of 8 channels: direct too
    assert conv_direct.applies(_forward_geometry(next(n for n in graph.nodes if n.op == "conv2d")))
    graph = _programs()["narrow_forward"]  # 5 output columns: the im2col GEMM
    assert not conv_direct.applies(_forward_geometry(next(n for n in graph.nodes if n.op == "conv2d")))


# Winograd's F(2x2, 3x3) (conv_winograd.py): 3x3 windows, unit strides, >= 16 channels. 'same' on the
# CIFAR-style CNN's sizes; 29 x 13 outputs (a tile row and column past the image; 15 tile rows in
# items of 2, the last item of one); channels not a multiple of 16 nor of 4 (masked transform
# vectors, the product loop unrolled by 1); filters in groups of 64 with a masked last vector;
# asymmetric and no padding.
WINOGRAD_CASES = {
    "cifar": ((32, 32, 32), 32, ((1, 1), (1, 1))),
    "cifar_64": ((16, 16, 32), 64, ((1, 1), (1, 1))),
    "odd": ((30, 14, 17), 20, ((0, 1), (1, 0))),
    "valid": ((7, 31, 24), 84, ((0, 0), (0, 0))),
}


def _winograd_programs() -> dict[str, Graph]:
    from graphc.ops import builders as b

    programs = {}
    for name, (image, filters, padding) in WINOGRAD_CASES.items():
        graph = Graph(f"winograd_{name}")
        x = graph.input("x", TensorType((None, *image)))
        w = graph.input("w", TensorType((3, 3, image[2], filters)))
        scale = graph.input("scale", TensorType((filters,)))
        y = CONV2D(x, w, strides=(1, 1), dilation=(1, 1), padding=padding)
        y = y * scale + 0.5  # an epilogue, BatchNormalization-like
        graph.outputs["y"] = b.tanh(y) if name in TILE_FUNCTION else b.maximum(y, 0.0)
        programs[graph.name] = graph
    return programs


@pytest.fixture(scope="module")
def winograd(tmp_path_factory):
    from graphc.passes import run_pipeline

    programs = {name: run_pipeline(graph, 2).graph for name, graph in _winograd_programs().items()}
    return load(programs, tmp_path_factory.mktemp("winograd")), programs


def test_winograd_takes_the_3x3_convolutions_with_many_channels() -> None:
    from graphc.codegen.lowering import conv_winograd
    from graphc.codegen.lowering.convolution import _forward_geometry

    for graph in _winograd_programs().values():
        conv = next(n for n in graph.nodes if n.op == "conv2d")
        assert conv_winograd.applies(_forward_geometry(conv))
    odd = conv_winograd.WinogradPlan(_forward_geometry(
        next(n for n in _winograd_programs()["winograd_odd"].nodes if n.op == "conv2d")))
    assert (odd.g.out_h, odd.g.out_w, odd.tile_rows, odd.items_per_image) == (29, 13, 2, 8)
    for graph in [*_direct_programs().values(), _programs()["forward"]]:  # 3 or 8 channels, 5x5, 3x4
        conv = next(n for n in graph.nodes if n.op == "conv2d")
        assert not conv_winograd.applies(_forward_geometry(conv))


@pytest.mark.parametrize("name", list(WINOGRAD_CASES))
def test_winograd_equals_the_reference_for_every_batch_and_thread_count(winograd, name) -> None:
    library, programs = winograd
    graph = programs[f"winograd_{name}"]
    for batch in (1, 3):
        feeds = _feeds(graph, batch)
        assert_matches(graph, library, graph.name, feeds, rtol=1e-4, atol=1e-4)
        results = []
        for threads in (1, 2):
            set_num_threads(threads)
            try:
                results.append(run_compiled(library, graph.name, feeds, {})[0])
            finally:
                set_num_threads(None)
        for at_end in (True, False):  # operands beside inaccessible pages: never read outside
            guarded_feeds = {k: guarded(v, at_end) for k, v in feeds.items()}
            results.append(run_compiled(library, graph.name, guarded_feeds, {})[0])
        for result in results[1:]:
            for key in results[0]:
                np.testing.assert_array_equal(result[key], results[0][key])


@pytest.mark.parametrize("name", [*DIRECT_CASES, *WINOGRAD_CASES])
def test_the_epilogue_is_applied_in_registers_when_it_is_per_channel_arithmetic(name) -> None:
    from graphc.codegen.lowering.gemm_epilogue import vector_chain
    from graphc.codegen.lowering.pointwise import PointwisePlan
    from graphc.passes import run_pipeline
    from graphc.passes.kernels import Kernel, partition

    programs = {**_direct_programs(), **_winograd_programs()}
    graph = run_pipeline(programs.get(name) or programs[f"winograd_{name}"], 2).graph
    (kernel,) = [k for k in partition(graph) if k.epilogue_head is not None]
    head = kernel.epilogue_head
    chain = tuple(n for n in kernel.nodes if n is not head)
    outputs = tuple(n for n in kernel.outputs if n is not head)
    vector = vector_chain(PointwisePlan(Kernel(chain, outputs)), head)
    assert {n.op for n in kernel.nodes} >= {"conv2d", "add"}
    assert (vector is None) == (name in TILE_FUNCTION)
