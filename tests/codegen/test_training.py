"""A whole training step (forward, loss, gradients, SGD update) compiled vs interpreted."""

from __future__ import annotations

import numpy as np
import pytest
from graphc_runtime import StateStore

from graphc.interpreter import evaluate
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients
from tests.codegen.compiled import load

IN, OUT = 17, 3


def _model(train: bool) -> Graph:
    g = Graph("train" if train else "predict")
    x = g.input("x", TensorType((None, IN)))
    kernel = g.state("kernel", TensorType((IN, OUT)), trainable=True)
    bias = g.state("bias", TensorType((OUT,)), trainable=True)
    h = b.tanh(b.matmul(x, kernel) + bias)
    if not train:
        g.outputs["h"] = h
        return g
    y = g.input("y", TensorType((None, OUT)))
    with g.scope(role="loss"):
        loss = b.reduce_mean(b.square(h - y))
    g.outputs["loss"] = loss
    grads = gradients(loss, [kernel, bias])
    with g.scope(role="update"):
        g.updates["kernel"] = kernel - 0.5 * grads[0]
        g.updates["bias"] = bias - 0.5 * grads[1]
    return g


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory):
    graphs = {"train": _model(True), "predict": _model(False)}
    return graphs, load(graphs, tmp_path_factory.mktemp("train"))


def test_three_sgd_steps_match_the_interpreter(programs) -> None:
    graphs, library = programs
    rng = np.random.default_rng(0)
    state = {"kernel": rng.normal(0, 0.3, (IN, OUT)).astype(np.float32), "bias": np.zeros(OUT, np.float32)}
    store = StateStore(library.state_specs())
    for key, value in state.items():
        store.assign(key, value)
    library.bind(store)
    for batch in (5, 1, 65):
        feeds = {"x": rng.normal(size=(batch, IN)).astype(np.float32),
                 "y": rng.uniform(-0.9, 0.9, (batch, OUT)).astype(np.float32)}
        expected, state = evaluate(graphs["train"], feeds, state)
        loss = library.programs["train"](**feeds)["loss"]
        np.testing.assert_allclose(loss, expected["loss"], rtol=1e-5)
        for key in state:
            np.testing.assert_allclose(store[key], state[key], rtol=1e-5, atol=1e-6, err_msg=key)
    x = rng.normal(size=(4, IN)).astype(np.float32)
    predicted = library.programs["predict"](x=x)["h"]
    np.testing.assert_allclose(predicted, evaluate(graphs["predict"], {"x": x}, state)[0]["h"], rtol=1e-5,
                               atol=1e-6)
