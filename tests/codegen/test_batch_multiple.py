"""Shapes with k * N rows (BatchMultiple): a sequence's steps folded into the batch so one GEMM, one
fused loop or one reduction covers them, compiled against the interpreter with gradients."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import ShapeError, TensorType
from graphc.ir.graph import Graph
from graphc.ir.types import BatchMultiple
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients
from graphc.passes.pipeline import run_pipeline
from tests.codegen.compiled import assert_matches, load


def folded_graph() -> Graph:
    g = Graph("folded")
    x = g.input("x", TensorType((None, 5, 6)))
    w = g.state("w", TensorType((6, 7)), trainable=True)
    rows = b.reshape(x, (BatchMultiple(5), 6))
    y = b.tanh(b.matmul(rows, w) + 1.0)
    out = b.reshape(y, (None, 5, 7))
    loss = b.reduce_mean(out * out)
    gw, gx = gradients(loss, [w, x])
    time_major = b.transpose(x, (1, 0, 2))  # (5, N, 6): the same rows in another order
    g.outputs.update(out=out, loss=loss, gw=gw, gx=gx, mean_rows=b.reduce_mean(rows, (0,)),
                     projected=b.last_axis_matmul(time_major, w),
                     padded=b.reshape(b.pad(rows, ((0, 0), (1, 2))), (None, 5, 9)))
    return g


def test_types_and_rules() -> None:
    t = TensorType((BatchMultiple(5), 6))
    assert t.has_batch and t.static_numel == 30 and t.concrete(3) == (15, 6) and str(t) == "f32[5N,6]"
    with pytest.raises(ShapeError, match="batch dimension exactly once"):
        b.reshape(Graph("g").input("x", TensorType((None, 4))), (BatchMultiple(2), 2, None))
    with pytest.raises(ShapeError):
        BatchMultiple(0)


@pytest.mark.parametrize("batch", [1, 3])
def test_folded_rows_compile_like_the_interpreter(tmp_path, batch) -> None:
    graph = folded_graph()
    library = load({"folded": run_pipeline(graph, 2).graph}, tmp_path)
    rng = np.random.default_rng(batch)
    feeds = {"x": rng.normal(size=(batch, 5, 6)).astype(np.float32)}
    state = {"w": rng.normal(size=(6, 7)).astype(np.float32)}
    assert_matches(graph, library, "folded", feeds, state, batch=batch)


def test_program_arguments_keep_the_plain_batch_axis() -> None:
    from graphc.ir.verify import GraphError, verify

    g = Graph("g")
    x = g.input("x", TensorType((None, 4)))
    g.outputs["rows"] = b.reshape(x, (BatchMultiple(2), 2))
    with pytest.raises(GraphError, match="output 'rows'"):
        verify(g)
