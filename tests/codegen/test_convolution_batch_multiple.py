"""Convolutions and pools over k * N images (BatchMultiple(k)): a (N, T, H, W, C) input viewed as N*T
images, as TimeDistributed folds time into the batch. Every kernel path (direct, Winograd, im2col,
fused pool, the gradients) against the interpreter, for several batch sizes and threads."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import Graph, TensorType
from graphc.ir.types import BatchMultiple
from graphc.ops import builders as b
from graphc.ops.convolution import CONV2D, CONV2D_FILTER_GRAD, CONV2D_INPUT_GRAD, POOL2D, POOL2D_GRAD, Window
from graphc.passes import run_pipeline
from tests.codegen.compiled import assert_matches, load, outputs_by_thread_count

STEPS = 3
SAME = {"strides": (1, 1), "dilation": (1, 1), "padding": ((1, 1), (1, 1))}
STRIDED = {"strides": (2, 1), "dilation": (1, 2), "padding": ((1, 0), (2, 1))}
VALID = {"strides": (1, 1), "dilation": (1, 1), "padding": ((0, 0), (0, 0))}
POOL = {"mode": "max", "pool_size": (3, 3), "strides": (2, 2), "padding": ((0, 1), (0, 1))}
AVG_POOL = POOL | {"mode": "avg"}
POOL_2X2 = {"mode": "max", "pool_size": (2, 2), "strides": (2, 2), "padding": ((0, 0), (0, 0))}


def _images(graph: Graph, name: str, shape: tuple[int, int, int]):
    """An input of (N, STEPS, H, W, C) seen as STEPS * N images."""
    x = graph.input(name, TensorType((None, STEPS, *shape)))
    return b.reshape(x, (BatchMultiple(STEPS), *shape))


def _per_step(y):
    return b.reshape(y, (None, STEPS, *y.shape[1:]))


def _programs() -> dict[str, Graph]:
    def program(name, build):
        graph = Graph(name)
        graph.outputs["y"] = _per_step(build(graph))
        return graph

    strided = Window((3, 2), STRIDED["strides"], STRIDED["dilation"], STRIDED["padding"])
    return {
        "direct": program("direct", lambda g: CONV2D(_images(g, "x", (12, 11, 1)),
                                                    g.input("w", TensorType((5, 5, 1, 8))), **VALID)),
        "winograd": program("winograd", lambda g: CONV2D(_images(g, "x", (10, 9, 16)),
                                                        g.input("w", TensorType((3, 3, 16, 24))), **SAME)),
        "im2col": program("im2col", lambda g: CONV2D(_images(g, "x", (9, 7, 12)),
                                                    g.input("w", TensorType((3, 2, 12, 20))), **STRIDED)),
        "conv_pool": program("conv_pool", lambda g: POOL2D(
            b.maximum(CONV2D(_images(g, "x", (12, 12, 1)), g.input("w", TensorType((5, 5, 1, 8))), **VALID),
                      0.0), **POOL_2X2)),
        "input_grad": program("input_grad", lambda g: CONV2D_INPUT_GRAD(
            _images(g, "g", (*strided.output(9, 7), 20)), g.input("w", TensorType((3, 2, 12, 20))),
            input_size=(9, 7), **STRIDED)),
        "pool": program("pool", lambda g: POOL2D(_images(g, "x", (9, 8, 5)), **POOL)),
        "avg_pool": program("avg_pool", lambda g: POOL2D(_images(g, "x", (9, 8, 5)), **AVG_POOL)),
        "pool_grad": program("pool_grad", lambda g: POOL2D_GRAD(
            x := _images(g, "x", (9, 8, 5)), POOL2D(x, **POOL) * 0.5 + 1.0, **POOL)),
    }


def _filter_grad() -> Graph:
    """The filter's gradient sums over every image: k * N of them."""
    graph = Graph("filter_grad")
    x = _images(graph, "x", (9, 7, 12))
    strided = Window((3, 2), STRIDED["strides"], STRIDED["dilation"], STRIDED["padding"])
    g = _images(graph, "g", (*strided.output(9, 7), 20))
    graph.outputs["y"] = CONV2D_FILTER_GRAD(x, g, kernel_size=(3, 2), **STRIDED)
    return graph


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    programs = {**_programs(), "filter_grad": _filter_grad()}
    programs = {name: run_pipeline(graph, 2).graph for name, graph in programs.items()}
    return load(programs, tmp_path_factory.mktemp("kn")), programs


def _feeds(graph: Graph, batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=node.type.concrete(batch)).astype(np.float32)
            for name, node in graph.inputs.items()}


PROGRAMS = [*_programs(), "filter_grad"]


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("program", PROGRAMS)
def test_k_times_n_images_equal_the_reference(compiled, program, batch) -> None:
    library, programs = compiled
    graph = programs[program]
    assert_matches(graph, library, program, _feeds(graph, batch, batch), batch=batch, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("program", PROGRAMS)
def test_k_times_n_images_do_not_depend_on_the_thread_count(compiled, program) -> None:
    library, programs = compiled
    one, two = outputs_by_thread_count(library, program, _feeds(programs[program], 6, 0))
    np.testing.assert_array_equal(one, two)
