"""AOT builds: same outputs as the in-process model (exactly) and the interpreter; the C API's checks."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from graphc_runtime import Library, StateStore, set_num_threads
from graphc_runtime.deploy import DeployError, load

from graphc.build.aot import compile_model
from graphc.frontend.programs import predict_graph
from graphc.interpreter import evaluate
from graphc.keras import optimizers as keras_optimizers
from graphc.keras.layers import (
    GRU,
    LSTM,
    AveragePooling2D,
    BatchNormalization,
    Bidirectional,
    Conv2D,
    Conv2DTranspose,
    Cropping2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    LeakyReLU,
    MaxPooling2D,
    SeparableConv2D,
    UpSampling2D,
    ZeroPadding2D,
)
from graphc.keras.models import Sequential
from tests.build.c_api import F32P, c_api

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
RNG = np.random.default_rng(11)


def _model(dropout: float = 0.0) -> Sequential:
    model = Sequential([Flatten(input_shape=(3, 4)), Dense(20, activation="tanh"), Dropout(dropout),
                        LeakyReLU(0.1), Dense(5, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def trained() -> Sequential:
    model = _model()
    model.set_weights([RNG.normal(size=w.shape).astype(np.float32) for w in model.weights])
    return model


@pytest.mark.parametrize("weights", ["embed", "file"])
def test_predict_equals_in_process_and_interpreter(tmp_path: Path, trained: Sequential, weights: str) -> None:
    build = compile_model(trained, tmp_path / weights, name="net", weights=weights)
    assert (build.weights is not None) == (weights == "file")
    assert {p.name for p in build.directory.iterdir()} >= {"libnet.so", "net.o", "net.h", "net.manifest.json"}
    manifest = json.loads(build.manifest_path.read_text())
    assert manifest["inputs"] == [{"name": "x", "shape": [None, 3, 4], "dtype": "float32"}]
    assert manifest["outputs"][0]["shape"] == [None, 5] and manifest["graphc_version"]
    assert manifest["weights"]["mode"] == ("embedded" if weights == "embed" else "file")
    deployed = load(build.directory)
    graph = predict_graph(trained)
    state = {w.path: w.numpy() for w in trained.weights}
    for batch in (1, 7):
        x = RNG.random((batch, 3, 4), dtype=np.float32)
        got = deployed.predict(x)
        np.testing.assert_array_equal(got, trained.predict(x, verbose=0))
        expected, _ = evaluate(graph, {"x": x}, state)
        np.testing.assert_allclose(got, expected["y_pred"], rtol=1e-5, atol=1e-6)
    for got, want in zip(deployed.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_train_step_equals_in_process_training(tmp_path: Path) -> None:
    model = _model()
    build = compile_model(model, tmp_path, name="net", with_training=True)
    deployed = load(build.directory)
    assert deployed.training["logs"] == ["loss", "accuracy"]
    assert deployed.get_hyperparameter("learning_rate") == pytest.approx(0.001)
    x, y = RNG.random((6, 3, 4), dtype=np.float32), RNG.integers(0, 5, 6).astype(np.float32)
    for _ in range(2):
        logs = deployed.train_step(x, y)
        expected = model.train_on_batch(x, y, return_dict=True)
        assert logs == {"loss": expected["loss"], "accuracy": expected["accuracy"]}
    for got, want in zip(deployed.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    deployed.set_hyperparameter("learning_rate", 0.0)
    before = deployed.get_weights()
    deployed.train_step(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(before, deployed.get_weights(), strict=True))
    deployed.set_weights([np.zeros_like(w) for w in before])
    assert np.allclose(deployed.predict(x), 0.2)


def test_a_hyperparameter_set_through_the_c_api_moves_its_complement(tmp_path: Path) -> None:
    """Adam's `1 - beta_1` is its own input (computed in double, as Keras does); setting beta_1
    through the C API must move it too, and `1-beta_1` is not a name the API takes."""
    model = _model()
    model.compile(keras_optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    deployed = load(compile_model(model, tmp_path, name="net", with_training=True).directory)
    deployed.set_hyperparameter("beta_1", 0.5)
    model.optimizer.beta_1 = 0.5
    x, y = RNG.random((6, 3, 4), dtype=np.float32), RNG.integers(0, 5, 6).astype(np.float32)
    for _ in range(2):
        assert deployed.train_step(x, y)["loss"] == model.train_on_batch(x, y)
    for got, want in zip(deployed.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(DeployError):
        deployed.set_hyperparameter("1-beta_1", 0.1)


def test_an_image_model_builds_and_trains_like_in_process(tmp_path: Path) -> None:
    """Conv, BatchNormalization (moving statistics updated by the C API's train step) and pooling."""
    model = Sequential([Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 7, 2)),
                        BatchNormalization(), MaxPooling2D(2), Conv2D(3, 2, strides=2, groups=1),
                        GlobalAveragePooling2D(), Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    build = compile_model(model, tmp_path, name="cnn", with_training=True)
    deployed = load(build.directory)
    x, y = RNG.random((5, 8, 7, 2), dtype=np.float32), RNG.integers(0, 3, 5).astype(np.float32)
    np.testing.assert_array_equal(deployed.predict(x), model.predict(x, verbose=0))
    for _ in range(2):
        assert deployed.train_step(x, y)["loss"] == model.train_on_batch(x, y)
    for got, want in zip(deployed.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_sequence_model_builds_and_trains_like_in_process(tmp_path: Path) -> None:
    """Integer ids with a mask_zero mask, Bidirectional LSTM, a backwards GRU: the recurrence and
    its backpropagation through time run in the C library as in fit."""
    model = Sequential([Embedding(30, 6, input_length=7, mask_zero=True),
                        Bidirectional(LSTM(4, return_sequences=True)), GRU(3, go_backwards=True),
                        Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    build = compile_model(model, tmp_path, name="text", with_training=True)
    deployed = load(build.directory)
    x = RNG.integers(1, 30, (5, 7)).astype(np.int32)
    x[:, :2] = 0  # padding: masked steps
    y = RNG.integers(0, 2, 5).astype(np.float32)
    np.testing.assert_array_equal(deployed.predict(x), model.predict(x, verbose=0))
    for _ in range(2):
        assert deployed.train_step(x, y)["loss"] == model.train_on_batch(x, y)
    for got, want in zip(deployed.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_c_api_refuses_token_ids_out_of_range(tmp_path: Path) -> None:
    """An id the Embedding has no row for (or not a whole number) is a status, before any kernel."""
    model = Sequential([Embedding(30, 4, input_length=5), LSTM(3), Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    deployed = load(compile_model(model, tmp_path, name="ids", with_training=True).directory)
    good = RNG.integers(0, 30, (4, 5)).astype(np.int32)
    np.testing.assert_array_equal(deployed.predict(good), model.predict(good, verbose=0))
    y = np.zeros(4, dtype=np.float32)
    for bad in (30.0, -1.0, 2.5, np.nan):
        x = good.astype(np.float32)
        x[2, 3] = bad
        with pytest.raises(DeployError, match="token id"):
            deployed.predict(x)
        with pytest.raises(DeployError, match="token id"):
            deployed.train_step(x, y)
    np.testing.assert_array_equal(deployed.predict(good), model.predict(good, verbose=0))


def test_every_image_layer_builds_and_predicts_like_in_process(tmp_path: Path) -> None:
    model = Sequential([ZeroPadding2D(1, input_shape=(9, 8, 2)), DepthwiseConv2D(3, depth_multiplier=2),
                        SeparableConv2D(4, 3, padding="same", activation="relu"), UpSampling2D(2),
                        Cropping2D(((1, 0), (2, 1))), Conv2DTranspose(3, 3, strides=2, padding="same"),
                        AveragePooling2D(2, padding="same"), Conv2D(2, 3), GlobalMaxPooling2D(), Dense(2)])
    model.set_weights([RNG.normal(size=w.shape).astype(np.float32) for w in model.weights])
    deployed = load(compile_model(model, tmp_path, name="layers").directory)
    x = RNG.random((3, 9, 8, 2), dtype=np.float32)
    np.testing.assert_array_equal(deployed.predict(x), model.predict(x, verbose=0))


def test_the_runtime_runs_a_build_the_way_fit_runs_its_library(tmp_path: Path) -> None:
    """One ABI: a `graphc compile` library loads through graphc_runtime.Library like the in-process
    one (same manifest, entry points and pool), and its train_step, bound to a state store, takes
    exactly the steps fit takes."""
    model = _model(dropout=0.25)
    x, y = RNG.random((6, 3, 4), dtype=np.float32), RNG.integers(0, 5, 6).astype(np.float32)
    model.train_on_batch(x, y)  # the in-process engine and its store: every state, one step in
    engine = model._engine
    build = compile_model(model, tmp_path, name="net", with_training=True)
    library = Library.load(build.library)
    assert set(library.programs) == {"predict", "train_step"}
    store = StateStore(library.state_specs())
    for name in store.names():
        store.assign(name, engine.store.read(name))
    library.bind(store)
    train = library["train_step"]
    hyperparameters = {name: value for name, value in model.optimizer.feeds().items()
                       if name in train._input_names}
    for _ in range(3):  # dropout draws new masks each step: the step counters must agree too
        shipped = train(x=x, y=y, **hyperparameters)
        expected = model.train_on_batch(x, y, return_dict=True)
        assert float(shipped["loss"]) == expected["loss"]
    for weight in model.weights:
        np.testing.assert_array_equal(store[weight.path], weight.numpy())
    np.testing.assert_array_equal(library["predict"](x=x)["y_pred"], model.predict(x, verbose=0))
    set_num_threads(1)
    try:
        assert library._pool.get() == 1
    finally:
        set_num_threads(None)


def test_a_manifest_of_another_format_is_refused_before_loading(tmp_path: Path, trained: Sequential) -> None:
    build = compile_model(trained, tmp_path, name="net")
    manifest = json.loads(build.manifest_path.read_text())
    manifest["format"] = "graphc-aot"
    build.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="format 'graphc-aot' version 2, this runtime reads"):
        load(build.directory)


def test_c_api_returns_status_codes(tmp_path: Path, trained: Sequential) -> None:
    build = compile_model(trained, tmp_path / "a", name="net")
    lib = c_api(build.library, "net")
    f32 = F32P
    ctx = ctypes.c_void_p()
    assert lib.net_create(None, None) == 2
    assert lib.net_create(str(tmp_path / "none.weights").encode(), ctypes.byref(ctx)) == 5 and not ctx.value
    bogus = tmp_path / "bogus.weights"
    bogus.write_bytes(b"GRAPHCW1" + bytes(200))
    assert lib.net_create(str(bogus).encode(), ctypes.byref(ctx)) == 6
    assert lib.net_create(None, ctypes.byref(ctx)) == 0 and ctx.value
    x = np.ones((2, 12), np.float32)
    y = np.full((2, 5), -7.0, np.float32)
    px, py = x.ctypes.data_as(f32), y.ctypes.data_as(f32)
    assert lib.net_predict(ctx, 0, px, 24, py, 10) == 1
    assert lib.net_predict(ctx, 2, None, 24, py, 10) == 2
    assert lib.net_predict(ctx, 2, px, 23, py, 10) == 3
    assert lib.net_predict(ctx, 2, px, 24, py, 9) == 3
    assert lib.net_predict(ctx, 2**62, px, 24, py, 10) == 3
    assert lib.net_predict(None, 2, px, 24, py, 10) == 2
    assert np.all(y == -7.0)
    workspace = np.zeros(4096 + 64, np.uint8)
    base = workspace.ctypes.data + (-workspace.ctypes.data) % 64
    assert lib.net_predict_with_workspace(ctx, 2, px, 24, py, 10, base + 4, 4000) == 10
    assert lib.net_predict_with_workspace(ctx, 2, px, 24, py, 10, base, 1) == 3
    assert lib.net_predict_with_workspace(ctx, 2, px, 24, py, 10, base, 4096) == 0
    np.testing.assert_array_equal(y, trained.predict(x.reshape(2, 3, 4), verbose=0))
    assert lib.net_get_param(ctx, 99, py, 10) == 8
    assert lib.net_set_hyperparameter(ctx, b"learning_rate", 0.1) == 11
    assert lib.net_train_step(ctx, 2, px, 24, py, 2, None, 0) == 11
    assert lib.net_status_string(3).startswith(b"a buffer length")
    assert lib.net_reset_states(ctx) == 0 and lib.net_reset_states(None) == 2  # no states: nothing to zero
    assert build.manifest["stateful"] is None
    lib.net_destroy(ctx)
    file_build = compile_model(trained, tmp_path / "b", name="net2", weights="file")
    lib2 = ctypes.CDLL(str(file_build.library))
    assert lib2.net2_create(None, ctypes.byref(ctx)) == 7
    with pytest.raises(DeployError, match="BAD_WEIGHTS"):
        load(file_build.directory, weights=bogus)


def test_generated_c_is_warning_free_and_targets_are_portable(tmp_path: Path, trained: Sequential) -> None:
    build = compile_model(trained, tmp_path, name="net", target="x86-64-v3", with_training=True)
    assert build.manifest["target"]["cpu"] == build.manifest["target"]["requested"] == "x86-64-v3"
    source = build.directory / "net_api.c"
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", str(source),
                    f"-I{build.directory}", "-o", str(tmp_path / "api.o")], check=True)
    x = RNG.random((4, 3, 4), dtype=np.float32)
    np.testing.assert_allclose(load(build.directory).predict(x), trained.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    generic = compile_model(trained, tmp_path / "g", name="net", target="generic")
    assert generic.manifest["target"]["cpu"] == "x86-64"
    with pytest.raises(ValueError, match="target"):
        compile_model(trained, tmp_path / "bad", target="x86 64")


def test_sources_h5_and_python_file(tmp_path: Path, trained: Sequential) -> None:
    trained.save(tmp_path / "m.h5")
    x = RNG.random((3, 3, 4), dtype=np.float32)
    from_h5 = compile_model(tmp_path / "m.h5", tmp_path / "h5", name="net")
    np.testing.assert_array_equal(load(from_h5.directory).predict(x), trained.predict(x, verbose=0))
    script = tmp_path / "build.py"
    script.write_text("from graphc.keras.models import load_model\n\n"
                      f"def build_model():\n    return load_model({str(tmp_path / 'm.h5')!r})\n")
    from_py = compile_model(script, tmp_path / "py", name="net")
    np.testing.assert_array_equal(load(from_py.directory).predict(x), trained.predict(x, verbose=0))
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match="build_model"):
        compile_model(tmp_path / "empty.py", tmp_path / "e")
    with pytest.raises(ValueError, match="C identifier"):
        compile_model(trained, tmp_path / "n", name="1bad")
    with pytest.raises(ValueError, match="with_training needs a compiled model"):
        compile_model(Sequential([Dense(2, input_shape=(3,))]), tmp_path / "t", with_training=True)


TWO_MODELS_MAIN = r"""
#include <stdio.h>
#include "alpha.h"
#include "beta.h"
int main(void) {
    alpha_context *a = NULL;
    beta_context *b = NULL;
    float x[12], ya[5], yb[5];
    for (int i = 0; i < 12; i++) x[i] = 0.1f * (float)i - 0.5f;
    if (alpha_create(NULL, &a) || beta_create(NULL, &b)) return 2;
    if (alpha_predict(a, 1, x, 12, ya, 5) || beta_predict(b, 1, x, 12, yb, 5)) return 3;
    for (int i = 0; i < 5; i++) printf("%.9g %.9g\n", ya[i], yb[i]);
    alpha_destroy(a);
    beta_destroy(b);
    return 0;
}
"""


def test_two_models_link_statically_into_one_program(tmp_path: Path, trained: Sequential) -> None:
    other = _model()
    other.set_weights([RNG.normal(size=w.shape).astype(np.float32) for w in other.weights])
    builds = [compile_model(m, tmp_path / n, name=n) for m, n in ((trained, "alpha"), (other, "beta"))]
    main = tmp_path / "main.c"
    main.write_text(TWO_MODELS_MAIN)
    exe = tmp_path / "two"
    subprocess.run(["cc", "-std=c11", *(f"-I{b.directory}" for b in builds), str(main),
                    *(str(b.object) for b in builds), "-pthread", "-o", str(exe)], check=True)
    printed = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    got = np.array([line.split() for line in printed.splitlines()], dtype=np.float32).T
    x = (0.1 * np.arange(12, dtype=np.float32) - 0.5).reshape(1, 3, 4)
    np.testing.assert_array_equal(got[0], trained.predict(x, verbose=0)[0])
    np.testing.assert_array_equal(got[1], other.predict(x, verbose=0)[0])


def test_a_custom_cell_scan_builds_and_trains_like_in_process(tmp_path: Path) -> None:
    """RNN(custom cell): the scan's loop and its body (an internal program) and the reverse scan of
    its gradient run in the C library as in fit."""
    from graphc.keras.layers import RNN
    from tests.frontend.test_custom_cells import MinimalRNNCell

    model = Sequential([RNN(MinimalRNNCell(4), return_sequences=True, input_shape=(6, 3)), LSTM(3),
                        Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    build = compile_model(model, tmp_path, name="cells", with_training=True)
    deployed = load(build.directory)
    x, y = RNG.normal(size=(5, 6, 3)).astype(np.float32), RNG.integers(0, 2, 5).astype(np.float32)
    np.testing.assert_array_equal(deployed.predict(x), model.predict(x, verbose=0))
    for _ in range(2):
        assert deployed.train_step(x, y)["loss"] == model.train_on_batch(x, y)
    for got, want in zip(deployed.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_time_distributed_convolution_builds_and_trains_like_in_process(tmp_path: Path) -> None:
    """TimeDistributed(Conv2D / MaxPooling2D / Flatten): the scans over frames and their reverse scans
    run in the C library as in fit, bit for bit."""
    from graphc.keras import Input
    from graphc.keras.layers import TimeDistributed

    model = Sequential([Input((3, 8, 8, 1)), TimeDistributed(Conv2D(4, 3, activation="relu")),
                        TimeDistributed(MaxPooling2D()), TimeDistributed(Flatten()), LSTM(5),
                        Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    deployed = load(compile_model(model, tmp_path, name="video", with_training=True).directory)
    x, y = RNG.random((4, 3, 8, 8, 1), dtype=np.float32), RNG.integers(0, 2, 4).astype(np.float32)
    np.testing.assert_array_equal(deployed.predict(x), model.predict(x, verbose=0))
    for _ in range(2):
        assert deployed.train_step(x, y)["loss"] == model.train_on_batch(x, y)
    for got, want in zip(deployed.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
