"""AOT builds of stateful recurrent models: the context carries the layers' states from call to call
exactly as the in-process model does (predict, train step, reset_states), and the batch is fixed."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from graphc_runtime.deploy import DeployError, load

from graphc.build.aot import compile_model
from graphc.keras import Input
from graphc.keras.layers import GRU, LSTM, Dense, SimpleRNN
from graphc.keras.models import Sequential
from tests.build.c_api import F32P, c_api

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
RNG = np.random.default_rng(23)
BATCH, STEPS, FEATURES = 4, 6, 3
STATEFUL_BATCH, STATEFUL = 15, 16  # the C API's status codes
ROOT = Path(__file__).resolve().parents[2]


def _lstm() -> Sequential:
    model = Sequential([LSTM(5, stateful=True, batch_input_shape=(BATCH, STEPS, FEATURES)),
                        Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _gru_simple_rnn() -> Sequential:
    model = Sequential([Input(batch_shape=(BATCH, STEPS, FEATURES)),
                        GRU(4, stateful=True, return_sequences=True), SimpleRNN(3, stateful=True), Dense(3)])
    model.compile("sgd", "mse")
    return model


def _labels(model: Sequential) -> np.ndarray:
    if model.loss == "mse":
        return RNG.normal(size=(BATCH, 3)).astype(np.float32)
    return RNG.integers(0, 3, BATCH).astype(np.float32)


def _x() -> np.ndarray:
    return RNG.normal(size=(BATCH, STEPS, FEATURES)).astype(np.float32)


@pytest.mark.parametrize("make", [_lstm, _gru_simple_rnn], ids=["lstm", "gru_simple_rnn"])
def test_calls_carry_states_like_the_in_process_model(tmp_path: Path,
                                                      make: Callable[[], Sequential]) -> None:
    model = make()
    build = compile_model(model, tmp_path, name="seq", with_training=True)
    stateful = build.manifest["stateful"]
    assert stateful["batch_size"] == BATCH
    assert all(state["shape"][0] == BATCH for state in stateful["states"])
    assert "state_rows" not in {arg["name"] for arg in build.manifest["inputs"]}
    deployed = load(build.directory)
    assert deployed.stateful_batch_size == BATCH
    x = _x()
    first = deployed.predict(x)
    np.testing.assert_array_equal(first, model.predict_on_batch(x))
    for _ in range(2):  # the same batch again: each call starts where the previous one stopped
        got = deployed.predict(x)
        assert not np.array_equal(got, first)
        np.testing.assert_array_equal(got, model.predict_on_batch(x))
    deployed.reset_states()
    model.reset_states()
    np.testing.assert_array_equal(deployed.predict(x), first)
    np.testing.assert_array_equal(model.predict_on_batch(x), first)
    for _ in range(2):  # training steps read and write the same carried states
        x, y = _x(), _labels(model)
        assert deployed.train_step(x, y) == model.train_on_batch(x, y, return_dict=True)
        np.testing.assert_array_equal(deployed.predict(x), model.predict_on_batch(x))
    for got, want in zip(deployed.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    deployed.reset_states()
    model.reset_states()
    x, y = _x(), _labels(model)
    assert deployed.train_step(x, y) == model.train_on_batch(x, y, return_dict=True)
    np.testing.assert_array_equal(deployed.predict(x), model.predict_on_batch(x))


def test_another_batch_size_is_refused_before_anything_runs(tmp_path: Path) -> None:
    model = _lstm()
    build = compile_model(model, tmp_path, name="seq", with_training=True)
    deployed = load(build.directory)
    with pytest.raises(ValueError, match=f"stateful with batch size {BATCH}: every batch must hold {BATCH} "
                                         "samples, got 3"):
        deployed.predict(_x()[:3])
    with pytest.raises(ValueError, match="got 5"):
        deployed.train_step(np.zeros((5, STEPS, FEATURES), np.float32), np.zeros(5, np.float32))

    lib = c_api(build.library, "seq")
    f32 = F32P
    ctx = ctypes.c_void_p()
    assert lib.seq_create(None, ctypes.byref(ctx)) == 0
    x = _x()
    y = np.full((BATCH, 3), -7.0, np.float32)
    labels = np.zeros(BATCH, np.float32)
    px, py, pl = (a.ctypes.data_as(f32) for a in (x, y, labels))
    size = STEPS * FEATURES
    assert lib.seq_predict(ctx, BATCH - 1, px, x.size, py, y.size) == STATEFUL_BATCH
    assert lib.seq_predict(ctx, BATCH + 1, px, (BATCH + 1) * size, py, (BATCH + 1) * 3) == STATEFUL_BATCH
    assert lib.seq_train_step(ctx, 2, px, x.size, pl, 2, None, 0) == STATEFUL_BATCH
    assert b"declared batch size" in lib.seq_status_string(STATEFUL_BATCH)
    workspace = np.zeros(1 << 20, np.uint8)
    base = workspace.ctypes.data + (-workspace.ctypes.data) % 64
    assert lib.seq_predict_with_workspace(ctx, BATCH, px, x.size, py, y.size, base, 1 << 19) == STATEFUL
    assert b"predict_with_workspace" in lib.seq_status_string(STATEFUL)
    assert np.all(y == -7.0)
    assert lib.seq_reset_states(None) == 2
    assert lib.seq_predict(ctx, BATCH, px, x.size, py, y.size) == 0  # the refused calls moved nothing
    np.testing.assert_array_equal(y, model.predict_on_batch(x))
    assert lib.seq_reset_states(ctx) == 0
    assert lib.seq_predict(ctx, BATCH, px, x.size, py, y.size) == 0
    model.reset_states()
    np.testing.assert_array_equal(y, model.predict_on_batch(x))
    lib.seq_destroy(ctx)


THREADS = """
import sys, threading
import numpy as np
from graphc_runtime.deploy import load
model = load(sys.argv[1])
x = np.load(sys.argv[2])
results = []
def run():
    for _ in range(5):
        results.append(model.predict(x))
threads = [threading.Thread(target=run) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
np.save(sys.argv[3], np.stack(results + [model.predict(x)]))
"""


def test_predicts_from_several_threads_take_turns(tmp_path: Path) -> None:
    """A stateful predict writes the context, so concurrent calls run one at a time: with the same
    batch every time, the results are the in-process model's consecutive calls, in some order (in a
    child process, so a crash fails the test and not the run)."""
    model = _gru_simple_rnn()
    build = compile_model(model, tmp_path / "build", name="seq")
    x, x_path, out_path = _x(), tmp_path / "x.npy", tmp_path / "out.npy"
    np.save(x_path, x)
    done = subprocess.run([sys.executable, "-c", THREADS, str(build.directory), str(x_path), str(out_path)],
                          capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    results = np.load(out_path)
    expected = [model.predict_on_batch(x) for _ in range(21)]
    assert sorted(r.tobytes() for r in results[:20]) == sorted(e.tobytes() for e in expected[:20])
    np.testing.assert_array_equal(results[20], expected[20])


def test_a_manifest_that_lies_about_the_states_is_refused(tmp_path: Path) -> None:
    build = compile_model(_lstm(), tmp_path, name="seq")
    manifest = json.loads(build.manifest_path.read_text())
    for change, message in (
            (lambda m: m["stateful"].__setitem__("batch_size", BATCH + 1), "stateful state must be"),
            (lambda m: m["stateful"]["states"][0].__setitem__("shape", [BATCH, 50]), r"stateful.states\[0\]"),
            (lambda m: m.__setitem__("stateful", None), "stateful"),
            (lambda m: m.__setitem__("stateful", {"batch_size": True, "states": []}), "positive int"),
            (lambda m: m.pop("stateful"), "older graphc")):
        edited = json.loads(json.dumps(manifest))
        change(edited)
        build.manifest_path.write_text(json.dumps(edited))
        with pytest.raises((ValueError, DeployError), match=message):
            load(build.directory)


MAIN = r"""
#include <stdio.h>
#include "seq.h"
int main(void) {
    seq_context *ctx = NULL;
    float x[SEQ_STATEFUL_BATCH * SEQ_INPUT_SIZE], y[SEQ_STATEFUL_BATCH * SEQ_OUTPUT_SIZE];
    for (int i = 0; i < SEQ_STATEFUL_BATCH * SEQ_INPUT_SIZE; i++) x[i] = (float)(i % 17) / 16.0f - 0.5f;
    if (seq_create(NULL, &ctx)) return 2;
    int32_t refused = seq_predict(ctx, SEQ_STATEFUL_BATCH - 1, x, sizeof x / 4, y, sizeof y / 4);
    if (refused != GRAPHC_MODEL_STATEFUL_BATCH) return 3;
    for (int call = 0; call < 3; call++) {
        if (call == 2 && seq_reset_states(ctx)) return 4;
        if (seq_predict(ctx, SEQ_STATEFUL_BATCH, x, sizeof x / 4, y, sizeof y / 4)) return 5;
        for (int i = 0; i < SEQ_STATEFUL_BATCH * SEQ_OUTPUT_SIZE; i++) printf("%.9g ", y[i]);
        printf("\n");
    }
    seq_destroy(ctx);
    return 0;
}
"""


def test_a_c_program_carries_and_resets_the_states(tmp_path: Path) -> None:
    """The C route: a program linked with the object file (the generated API warning-free too)."""
    model = _lstm()
    build = compile_model(model, tmp_path / "build", name="seq")
    main = tmp_path / "main.c"
    main.write_text(MAIN)
    exe = tmp_path / "seq"
    api = build.directory / "seq_api.c"
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", str(api),
                    f"-I{build.directory}", "-o", str(tmp_path / "api.o")], check=True)
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{build.directory}", str(main),
                    str(build.object), "-pthread", "-o", str(exe)], check=True)
    printed = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=120).stdout
    calls = np.array([line.split() for line in printed.splitlines()], dtype=np.float32)
    x = ((np.arange(BATCH * STEPS * FEATURES) % 17) / 16 - 0.5).astype(np.float32).reshape(BATCH, STEPS, -1)
    expected = [model.predict_on_batch(x) for _ in range(2)]
    model.reset_states()
    expected.append(model.predict_on_batch(x))
    np.testing.assert_array_equal(calls, np.stack(expected).reshape(3, -1))
    assert not np.array_equal(calls[0], calls[1]) and np.array_equal(calls[0], calls[2])
