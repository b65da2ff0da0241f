"""Functional models with several inputs: lists or dicts by input name everywhere x goes, the
same numbers as numpy, configs, and a clear error where a path takes one input only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphc.build.aot import compile_model
from graphc.keras import Input, Model, backend
from graphc.keras.layers import Dense, concatenate
from graphc.keras.models import model_from_json

RNG = np.random.default_rng(40)
WIDE = RNG.normal(size=(48, 4)).astype(np.float32)
DEEP = RNG.normal(size=(48, 3)).astype(np.float32)
Y = (WIDE[:, 0] + DEEP[:, 1] > 0).astype(np.float32)


def _model() -> Model:
    backend.clear_session()
    wide, deep = Input((4,), name="wide"), Input((3,), name="deep")
    hidden = Dense(5, activation="tanh")(deep)
    model = Model([wide, deep], Dense(1, activation="sigmoid")(concatenate([wide, hidden])))
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def test_predictions_match_numpy_for_lists_and_dicts() -> None:
    model = _model()
    kernel, bias, out_kernel, out_bias = model.get_weights()
    joined = np.concatenate([WIDE, np.tanh(DEEP @ kernel + bias)], axis=1)
    expected = 1 / (1 + np.exp(-(joined @ out_kernel + out_bias)))
    np.testing.assert_allclose(model.predict([WIDE, DEEP], verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict({"deep": DEEP, "wide": WIDE}, batch_size=5, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model([WIDE[:3], DEEP[:3]]), expected[:3], rtol=1e-5, atol=1e-6)


def test_training_paths_take_several_inputs() -> None:
    model, twin = _model(), _model()
    twin.set_weights(model.get_weights())
    history = model.fit([WIDE, DEEP], Y, epochs=2, batch_size=8, shuffle=False, validation_split=0.25,
                        verbose=0)
    assert set(history.history) == {"accuracy", "loss", "val_accuracy", "val_loss"}
    for _ in range(2):  # the same batches by hand
        for start in range(0, 36, 8):
            part = slice(start, min(start + 8, 36))  # the first 36 samples train, the last 12 validate
            twin.train_on_batch([WIDE[part], DEEP[part]], Y[part])
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    logs = model.evaluate([WIDE, DEEP], Y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(float(model.test_on_batch([WIDE, DEEP], Y)[0]), rel=1e-6)
    model.fit([WIDE, DEEP], Y, validation_data=([WIDE[:8], DEEP[:8]], Y[:8]), epochs=1, verbose=0)


def test_configs_round_trip_and_bad_inputs_are_named(tmp_path: Path) -> None:
    model = _model()
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict([WIDE, DEEP], verbose=0),
                                  model.predict([WIDE, DEEP], verbose=0))
    with pytest.raises(ValueError, match="2 inputs"):
        model.predict(WIDE, verbose=0)
    with pytest.raises(ValueError, match=r"inputs are \['wide', 'deep'\]"):
        model.predict({"wide": WIDE}, verbose=0)
    with pytest.raises(ValueError, match='Input 1 of model "functional" is incompatible'):
        model.predict([WIDE, WIDE], verbose=0)
    with pytest.raises(ValueError, match="cardinality"):
        model.predict([WIDE, DEEP[:5]], verbose=0)
    with pytest.raises(ValueError, match="several inputs"):
        compile_model(model, tmp_path)


def test_generators_yield_a_list_of_inputs() -> None:
    model, twin = _model(), _model()
    twin.set_weights(model.get_weights())

    def batches() -> object:
        while True:
            for start in range(0, 48, 16):
                yield [WIDE[start:start + 16], DEEP[start:start + 16]], Y[start:start + 16]

    model.fit(batches(), steps_per_epoch=3, epochs=1, verbose=0)
    twin.fit([WIDE, DEEP], Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
