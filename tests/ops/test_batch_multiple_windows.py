"""Windows of a k * N batch (frames folded into the batch, as TimeDistributed does): slices, pads,
concatenations and their gradients take the batch axis whole however its size is written."""

from __future__ import annotations

import numpy as np

from graphc.interpreter import evaluate
from graphc.ir import Graph, TensorType
from graphc.ir.types import BatchMultiple
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients


def test_gradients_of_windows_over_folded_frames_match_numpy() -> None:
    g = Graph("windows")
    x = g.input("x", TensorType((None, 3, 6)))
    w = g.input("w", TensorType((None, 3, 8)))
    frames = b.reshape(x, (BatchMultiple(3), 6))
    assert b.slice_(frames, (0, 0), frames.shape) is frames  # the whole tensor, its batch size as written
    padded = b.pad(frames[:, 1:4], ((0, 0), (2, 0)))  # pad's gradient slices with the operand's shape
    joined = b.concatenate([padded, frames[:, ::-3]], axis=1)  # 5 + 2 columns, then one more
    y = b.concatenate([joined, frames[:, 5:]], axis=1)
    loss = b.reduce_sum(y * b.reshape(w, (BatchMultiple(3), 8)))
    (dx,) = gradients(loss, [x])
    g.outputs["dx"] = dx
    rng = np.random.default_rng(0)
    feeds = {"x": rng.normal(size=(2, 3, 6)).astype(np.float32),
             "w": rng.normal(size=(2, 3, 8)).astype(np.float32)}
    out, _ = evaluate(g, feeds, batch=2)
    wf = feeds["w"].reshape(6, 8)
    want = np.zeros((6, 6), np.float32)
    want[:, 1:4] += wf[:, 2:5]
    want[:, [5, 2]] += wf[:, 5:7]
    want[:, 5] += wf[:, 7]
    np.testing.assert_allclose(out["dx"], want.reshape(2, 3, 6), rtol=1e-6)
