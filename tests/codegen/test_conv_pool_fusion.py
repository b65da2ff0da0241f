"""A 2x2 pool of stride 2 fused into the convolution before it (the pool is the tail of the conv's
epilogue): chosen from op facts, refused where it would change the result or the reads, and giving
the unfused program's bits (direct and Winograd kernels, odd sizes whose last row and column the
pool drops, padding, strides, dilation, activations with and without a vector form, a chain that
does not commute with max) without reading or writing outside any buffer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from graphc_runtime import set_num_threads

from graphc import keras
from graphc.frontend.programs import predict_graph
from graphc.ir import Graph, TensorType
from graphc.ir.graph import Node
from graphc.keras import layers
from graphc.ops import builders as b
from graphc.ops.convolution import CONV2D, POOL2D, POOL2D_GRAD
from graphc.passes.kernels import partition
from graphc.passes.pipeline import run_pipeline
from tests.codegen.compiled import assert_matches, load, run_compiled
from tests.codegen.guard_pages import guarded

RNG = np.random.default_rng(12)
Chain = Callable[[Graph, Node, int], Node]


def _bias_relu(g: Graph, y: Node, f: int) -> Node:
    return b.maximum(y + g.input("bias", TensorType((f,))), 0.0)


def _norm_relu(g: Graph, y: Node, f: int) -> Node:
    """BatchNormalization at inference; its scale has negative entries, so max does not commute."""
    return b.maximum(y * g.input("scale", TensorType((f,))) + g.input("shift", TensorType((f,))), 0.0)


def _bias_tanh(g: Graph, y: Node, f: int) -> Node:
    return b.tanh(y + g.input("bias", TensorType((f,))))


def _negate_clip(g: Graph, y: Node, f: int) -> Node:
    return b.minimum(y * -1.0, 0.5)


def _linear(g: Graph, y: Node, f: int) -> Node:
    return y


@dataclass(frozen=True)
class Case:
    image: tuple[int, int, int]
    kernel: tuple[int, int, int, int]
    chain: Chain
    mode: str = "max"
    padding: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    strides: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)


FUSED = {
    "tutorial": Case((28, 28, 1), (5, 5, 1, 32), _bias_relu),
    "direct_same_odd": Case((13, 11, 3), (3, 3, 3, 24), _bias_relu, padding=((1, 1), (1, 1))),
    "direct_strided": Case((15, 17, 2), (3, 3, 2, 16), _bias_relu, strides=(1, 2)),
    "direct_dilated_avg": Case((14, 13, 2), (3, 3, 2, 8), _linear, "avg", dilation=(2, 2)),
    "direct_negated": Case((12, 12, 3), (3, 3, 3, 16), _negate_clip),
    # rows of 5 positions and 8 channels: the im2col GEMM unfused, the direct kernel with the pool
    "narrow_rows": Case((10, 5, 8), (3, 3, 8, 16), _bias_relu, padding=((1, 1), (1, 1))),
    "tanh": Case((9, 10, 4), (3, 3, 4, 16), _bias_tanh),
    "winograd_odd": Case((11, 9, 16), (3, 3, 16, 20), _norm_relu, padding=((1, 1), (1, 1))),
    "winograd_avg": Case((12, 10, 16), (3, 3, 16, 32), _bias_tanh, "avg", padding=((1, 1), (1, 1))),
}


def _record(name: str, case: Case, pool: dict | None = None,
            extra: Callable[[Graph, Node, Node], dict[str, Node]] | None = None) -> Graph:
    g = Graph(name)
    x = g.input("x", TensorType((None, *case.image)))
    w = g.input("w", TensorType(case.kernel))
    y = case.chain(g, CONV2D(x, w, strides=case.strides, dilation=case.dilation, padding=case.padding),
                   case.kernel[3])
    pool = pool or {"mode": case.mode, "pool_size": (2, 2), "strides": (2, 2), "padding": ((0, 0), (0, 0))}
    g.outputs["y"] = POOL2D(y, **pool)
    if extra is not None:
        g.outputs.update(extra(g, y, g.outputs["y"]))
    return g


def _also_stored(g: Graph, y: Node, pooled: Node) -> dict[str, Node]:
    return {"pre": y}


def _pool_gradient(g: Graph, y: Node, pooled: Node) -> dict[str, Node]:
    return {"dx": POOL2D_GRAD(y, pooled * 0.5, mode="max", pool_size=(2, 2), strides=(2, 2),
                              padding=((0, 0), (0, 0)))}


def _residual(g: Graph, y: Node, f: int) -> Node:
    return b.maximum(y + g.input("skip", TensorType((None, 8, 8, f))), 0.0)


UNFUSED = {  # a pool the conv must not apply: a padded or 3x3 window, a chain value read elsewhere
    "padded_pool": _record("padded_pool", FUSED["direct_same_odd"], {"mode": "max", "pool_size": (2, 2),
                                                                      "strides": (2, 2),
                                                                      "padding": ((0, 1), (0, 1))}),
    "pool_3x3": _record("pool_3x3", FUSED["tutorial"], {"mode": "max", "pool_size": (3, 3), "strides": (2, 2),
                                                         "padding": ((0, 0), (0, 0))}),
    "chain_stored": _record("chain_stored", FUSED["tutorial"], extra=_also_stored),
    "training_forward": _record("training_forward", FUSED["tutorial"], extra=_pool_gradient),
    "residual": _record("residual", Case((10, 10, 4), (3, 3, 4, 16), _residual)),
}


def _fused_kernels(graph: Graph) -> list[list[str]]:
    return [[n.op for n in k.nodes] for k in partition(graph) if k.nodes[0].op == "conv2d"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    graphs = {name: _record(name, case) for name, case in FUSED.items()} | UNFUSED
    fused = {name: run_pipeline(g, 2).graph for name, g in graphs.items()}
    plain = {name: run_pipeline(g, 1).graph for name, g in graphs.items()}  # no epilogues, no fusion
    directory = tmp_path_factory.mktemp("conv_pool")
    return graphs, fused, load(fused, directory / "fused", "fused"), load(plain, directory / "plain", "plain")


def _feeds(graph: Graph, batch: int) -> dict[str, np.ndarray]:
    return {name: RNG.normal(size=node.type.concrete(batch)).astype(np.float32)
            for name, node in graph.inputs.items()}


@pytest.mark.parametrize("name", sorted(FUSED))
def test_the_pool_joins_the_convolution(compiled, name) -> None:
    _, fused, _, _ = compiled
    (ops,) = _fused_kernels(fused[name])
    assert ops[0] == "conv2d" and ops[-1] == "pool2d", ops
    assert [k.nodes[-1].op for k in partition(fused[name])] == [ops[-1]]  # one kernel in all


@pytest.mark.parametrize("name", sorted(UNFUSED))
def test_pools_the_convolution_cannot_apply_stay_apart(compiled, name) -> None:
    _, fused, _, _ = compiled
    assert all("pool2d" not in ops for ops in _fused_kernels(fused[name])), _fused_kernels(fused[name])


@pytest.mark.parametrize("name", sorted(FUSED) + sorted(UNFUSED))
def test_fused_equals_unfused_bits_and_the_reference(compiled, name) -> None:
    graphs, _, fused, plain = compiled
    for batch in (1, 3):
        feeds = _feeds(graphs[name], batch)
        got = run_compiled(fused, name, feeds, {})[0]
        want = run_compiled(plain, name, feeds, {})[0]
        for key in want:
            if name == "narrow_rows":  # the GEMM's order of summation, not the direct kernel's
                np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-5, err_msg=name)
            else:
                np.testing.assert_array_equal(got[key], want[key], err_msg=f"{name}: {key}")
        assert_matches(graphs[name], fused, name, feeds, rtol=2e-4, atol=2e-4)


def _call_into(program, feeds: dict[str, np.ndarray], out: np.ndarray) -> None:
    """The program's native entry writing its one output into `out` (a guarded array)."""
    program(**feeds)
    frame = program._frames[-1]
    (slot,) = program._output_slots
    frame.argv[slot] = out.ctypes.data
    assert program._fn(out.shape[0], frame.argv, frame.ws_address) == 0


@pytest.mark.parametrize("name", sorted(FUSED))
def test_fused_kernels_stay_inside_their_buffers(compiled, name) -> None:
    """Operands and the output beside inaccessible pages: a read or write outside them faults."""
    graphs, _, fused, _ = compiled
    program = fused.programs[name]
    feeds = _feeds(graphs[name], 2)
    want = program(**feeds)["y"]
    for at_end in (True, False):
        out = guarded(np.zeros_like(want), at_end)
        _call_into(program, {k: guarded(v, at_end) for k, v in feeds.items()}, out)
        np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("name", ["tutorial", "winograd_odd", "tanh"])
def test_fused_results_do_not_depend_on_the_thread_count(compiled, name, restore_threads) -> None:
    graphs, _, fused, _ = compiled
    feeds = _feeds(graphs[name], 5)
    results = []
    for threads in (1, 2, 3):
        set_num_threads(threads)
        results.append(run_compiled(fused, name, feeds, {})[0]["y"])
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


def _conv_pool_model(data_format: str) -> keras.Sequential:
    shape = (9, 11, 3) if data_format == "channels_last" else (3, 9, 11)
    return keras.Sequential([keras.Input(shape=shape),
                             layers.Conv2D(16, 3, activation="relu", data_format=data_format),
                             layers.MaxPooling2D(data_format=data_format)])


def test_channels_first_models_fuse_and_equal_channels_last() -> None:
    last, first = _conv_pool_model("channels_last"), _conv_pool_model("channels_first")
    first.set_weights(last.get_weights())
    (ops,) = _fused_kernels(run_pipeline(predict_graph(first), 2).graph)
    assert ops[-1] == "pool2d", ops
    x = RNG.normal(size=(4, 9, 11, 3)).astype(np.float32)
    out_last = last.predict(x, verbose=0)
    out_first = first.predict(x.transpose(0, 3, 1, 2), verbose=0)
    np.testing.assert_array_equal(out_first.transpose(0, 2, 3, 1), out_last)
    kernel, bias = last.get_weights()
    geometry = {"strides": (1, 1), "dilation": (1, 1), "padding": ((0, 0), (0, 0))}
    conv = CONV2D.reference(geometry, None, x, kernel)
    relu = np.maximum(conv + bias, 0.0)
    expected = relu[:, :6, :8].reshape(4, 3, 2, 4, 2, 16).max(axis=(2, 4))
    np.testing.assert_allclose(out_last, expected, rtol=1e-5, atol=1e-5)
