"""Models end to end: compiled training, evaluation and prediction against the reference interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.frontend.programs import LABELS, build_programs
from graphc.interpreter import evaluate
from graphc.keras import Input, Model, backend, optimizers
from graphc.keras.layers import Activation, Dense, Dropout, Flatten, LeakyReLU
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed


@pytest.fixture(autouse=True)
def _fresh_names():
    backend.clear_session()
    set_random_seed(3)


def _data(n=37, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = rng.integers(0, classes, n)
    return x, y


def _classifier(dropout=0.0, optimizer="adam"):
    model = Sequential([Dense(8, activation="relu", input_shape=(5,)), Dropout(dropout),
                        Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _state_snapshot(model):
    store = model._engine.store
    return {name: store[name].copy() for name in store.names()}


def test_programs_compile_on_first_use_and_share_the_weights():
    model = _classifier()
    x, y = _data()
    model.train_on_batch(x[:8], y[:8])
    assert model._engine.compiled() == ["train_step"]
    before = model.predict(x, verbose=0)
    assert model._engine.compiled() == ["train_step", "predict"]
    model.train_on_batch(x[:8], y[:8])  # updates the weights the predict program reads
    after = model.predict(x, verbose=0)
    assert not np.array_equal(before, after)
    graph = build_programs(model, model._spec, model.optimizer).graphs["predict"]
    expected, _ = evaluate(graph, {"x": x}, _state_snapshot(model))
    np.testing.assert_allclose(after, expected["y_pred"], rtol=1e-5, atol=1e-6)
    model.evaluate(x, y, verbose=0)
    assert model._engine.compiled() == ["train_step", "predict", "eval_step"]


def test_two_threads_asking_for_a_program_compile_it_once(monkeypatch):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import graphc.frontend.engine as engine_mod

    model = _classifier()
    x, y = _data()
    model.train_on_batch(x[:8], y[:8])
    calls, inside = [], threading.Event()

    def slow_build(*args, **kwargs):
        calls.append(args[0].keys())
        inside.set()
        threading.Event().wait(0.2)  # the other thread asks meanwhile
        return build(*args, **kwargs)

    build = engine_mod.build_recorded
    monkeypatch.setattr(engine_mod, "build_recorded", slow_build)
    with ThreadPoolExecutor(2) as pool:
        programs = list(pool.map(lambda _: model._engine.program("predict"), range(2)))
    assert programs[0] is programs[1] and len(calls) == 1


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_training_steps_match_the_reference_interpreter(dropout):
    model = _classifier(dropout)
    x, y = _data()
    model.train_on_batch(x[:4], y[:4])  # builds and compiles
    programs = build_programs(model, model._spec, model.optimizer)
    graph = programs.graphs["train_step"]
    for batch in (x[:16], x[16:23]):  # a second, smaller batch reuses the same code
        labels = y[: len(batch)].astype(np.float32)
        state = _state_snapshot(model)
        feeds = {"x": batch, LABELS: labels, **model.optimizer.feeds()}
        expected_out, expected_state = evaluate(graph, feeds, state)
        logs = model.train_on_batch(batch, labels, return_dict=True)
        assert logs["loss"] == pytest.approx(float(expected_out["loss"]), rel=1e-4)
        assert logs["accuracy"] == pytest.approx(float(expected_out["metric/accuracy"]), abs=1e-6)
        after = _state_snapshot(model)
        for name, value in expected_state.items():
            np.testing.assert_allclose(after[name], value, rtol=2e-4, atol=2e-6, err_msg=name)


def test_predict_and_evaluate_match_the_reference_interpreter():
    model = _classifier()
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    graphs = build_programs(model, model._spec, model.optimizer).graphs
    state = _state_snapshot(model)
    expected, _ = evaluate(graphs["predict"], {"x": x}, state)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected["y_pred"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=5, verbose=0), expected["y_pred"], rtol=1e-5,
                               atol=1e-6)
    out, _ = evaluate(graphs["eval_step"], {"x": x, LABELS: y.astype(np.float32)}, state)
    loss, accuracy = model.evaluate(x, y, batch_size=len(x), verbose=0)
    assert loss == pytest.approx(float(out["loss"]), rel=1e-5)
    assert accuracy == pytest.approx(float(out["metric/accuracy"]), abs=1e-6)
    assert accuracy == pytest.approx(np.mean(np.argmax(expected["y_pred"], 1) == y), abs=1e-6)


def test_fit_learns_and_reports_keras_history():
    x, labels = _data(n=200, seed=1)
    w = np.random.default_rng(2).normal(size=(5, 3))
    y = np.argmax(x @ w, 1)
    model = _classifier(optimizer=optimizers.Adam(learning_rate=0.01))
    history = model.fit(x, y, epochs=30, batch_size=16, validation_split=0.25, verbose=0)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.epoch == list(range(30))
    assert history.history["loss"][-1] < history.history["loss"][0] * 0.5
    assert history.history["val_accuracy"][-1] > 0.8
    assert model.optimizer.iterations == 30 * 10  # 150 training samples / 16 = 10 steps


def test_learning_rate_change_applies_without_recompiling():
    model = _classifier(optimizer=optimizers.SGD(learning_rate=0.1))
    x, y = _data()
    model.train_on_batch(x, y)
    engine = model._engine
    before = model.get_weights()
    model.optimizer.learning_rate = 0.0
    model.train_on_batch(x, y)
    for a, b_ in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b_)
    model.optimizer.learning_rate = 0.5
    model.train_on_batch(x, y)
    assert model._engine is engine
    assert not np.array_equal(before[0], model.get_weights()[0])


def test_weights_api_round_trips_through_runtime_buffers():
    model = _classifier()
    kernel, bias = model.layers[0].get_weights()
    assert kernel.shape == (5, 8) and bias.shape == (8,)
    np.testing.assert_array_equal(bias, np.zeros(8))
    limit = np.sqrt(6 / (5 + 8))
    assert np.abs(kernel).max() <= limit
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    new = [np.full_like(w, 0.01) for w in model.get_weights()]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new, strict=True):
        np.testing.assert_array_equal(got, want)
    probabilities = model.predict(x[:2], verbose=0)
    np.testing.assert_allclose(probabilities, np.full((2, 3), 1 / 3), rtol=1e-6)
    assert [w.path for w in model.trainable_weights] == ["dense/kernel", "dense/bias", "dense_1/kernel",
                                                         "dense_1/bias"]


def test_functional_model_matches_sequential_semantics():
    inputs = Input(shape=(2, 3))
    hidden = LeakyReLU(0.1)(Dense(4)(Flatten()(inputs)))
    outputs = Activation("sigmoid")(Dense(1)(hidden))
    model = Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(9, 2, 3))
    y = (x.sum((1, 2)) > 0).astype(np.float32)
    model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    graph = build_programs(model, model._spec, model.optimizer).graphs["predict"]
    expected, _ = evaluate(graph, {"x": x}, _state_snapshot(model))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected["y_pred"], rtol=1e-5, atol=1e-6)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Flatten", "Dense",
                                                               "LeakyReLU", "Dense", "Activation"]


def test_summary_follows_keras_layout(capsys):
    model = Sequential([Dense(12, input_shape=(8,), activation="relu"), Dense(8, activation="relu"),
                        Dense(1, activation="sigmoid")])
    model.summary()
    text = capsys.readouterr().out
    assert 'Model: "sequential"' in text
    assert "│ dense (Dense)" in text and "(None, 12)" in text and "108 │" in text
    assert "Total params: 221 (884.00 B)" in text


def test_sequential_without_input_shape_builds_on_first_data():
    model = Sequential([Dense(4, activation="tanh"), Dense(1)])
    assert not model.built
    model.compile(optimizer="adam", loss="mse")
    x = np.ones((6, 3), dtype=np.float32)
    model.fit(x, np.zeros(6), epochs=1, verbose=0)
    assert model.built and model.input_shape == (None, 3) and model.output_shape == (None, 1)


def test_keras2_spellings_work_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning):
        dense = Dense(4, input_dim=3, init="uniform")
    assert dense.kernel_initializer.get_config()["minval"] == -0.05
    model = Sequential([dense, Dense(1)])
    with pytest.warns(DeprecationWarning):
        model.compile(optimizer=optimizers.SGD(lr=0.05), loss="mse")
    assert model.optimizer.learning_rate == pytest.approx(0.05)
    with pytest.warns(DeprecationWarning):
        history = model.fit(np.ones((4, 3)), np.ones(4), nb_epoch=2, verbose=0)
    assert len(history.epoch) == 2
