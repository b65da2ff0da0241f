"""Step counters are int64 states: they keep moving past 2**24 steps and survive a save.

A float32 counter stops at 2**24 (2**24 + 1 rounds back to 2**24): optimizer.iterations froze,
Adam's bias correction froze and the dropout masks repeated; the dropout counter also started
at a random value below 2**24, so a long run could freeze at any time.
"""

from __future__ import annotations

import numpy as np

from graphc.frontend.layers.base import RNG_STATE
from graphc.keras import backend
from graphc.keras.layers import Dense, Dropout
from graphc.keras.models import Sequential, load_model
from graphc.keras.optimizers import SGD
from graphc.keras.utils import set_random_seed

FLOAT32_LIMIT = 2**24
X = np.random.default_rng(0).normal(size=(32, 6)).astype(np.float32)
Y = (np.arange(32) % 3).astype(np.float32)


def _model(optimizer="adam") -> Sequential:
    model = Sequential([Dense(16, activation="relu", input_shape=(6,)), Dropout(0.5),
                        Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def test_the_counters_are_int64_states() -> None:
    backend.clear_session()
    model = _model()
    model.train_on_batch(X, Y)
    store = model._engine.store
    assert store["optimizer/iterations"].dtype == np.int64 and store[RNG_STATE].dtype == np.int64
    assert store[RNG_STATE] >= 0


def test_iterations_keep_counting_past_float32_precision() -> None:
    backend.clear_session()
    model = _model()
    model.train_on_batch(X, Y)
    model._engine.store.assign("optimizer/iterations", np.int64(FLOAT32_LIMIT - 2))
    seen = []
    for _ in range(4):
        model.train_on_batch(X, Y)
        seen.append(model.optimizer.iterations)
    assert seen == [FLOAT32_LIMIT - 1, FLOAT32_LIMIT, FLOAT32_LIMIT + 1, FLOAT32_LIMIT + 2]


def test_dropout_masks_change_every_step_past_float32_precision() -> None:
    backend.clear_session()
    model = _model(SGD(learning_rate=0.0))  # the weights never move: only the masks change the loss
    model.train_on_batch(X, Y)
    model._engine.store.assign(RNG_STATE, np.int64(FLOAT32_LIMIT - 2))
    losses = [model.train_on_batch(X, Y) for _ in range(5)]
    assert len(set(losses)) == len(losses), losses
    assert int(model._engine.store[RNG_STATE]) == FLOAT32_LIMIT + 3


def test_resuming_a_saved_model_with_dropout_repeats_the_straight_run(tmp_path) -> None:
    backend.clear_session()
    set_random_seed(4)
    straight = _model()
    resumed_from = _model()
    resumed_from.set_weights(straight.get_weights())
    for model in (straight, resumed_from):
        set_random_seed(5)  # both engines draw the same starting counter, as one model would
        for _ in range(4):
            model.train_on_batch(X, Y)
    resumed_from.save(tmp_path / "checkpoint.h5")
    resumed = load_model(tmp_path / "checkpoint.h5")
    for model in (straight, resumed):
        for _ in range(4):
            model.train_on_batch(X, Y)
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 8
    for got, want in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
