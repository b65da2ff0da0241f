"""A small model's first build is tiered: the quickly compiled library serves its first calls and is
swapped for the optimized one once that is linked, with bit-identical results throughout."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pytest

from graphc import keras
from graphc.codegen import cache as disk_cache


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(disk_cache.ENV, str(tmp_path / "cache"))


def _model() -> keras.Model:
    keras.backend.clear_session()
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(11, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(48, 4)).astype(np.float32), rng.integers(0, 3, 48).astype(np.float32)


def _library(model: keras.Model, program: str) -> str:
    return model._engine._libraries[program].path.name


def test_first_calls_run_the_quick_library_then_the_final_one_with_the_same_bits() -> None:
    x, y = _data()
    tiered = _model()
    logs = [tiered.train_on_batch(x, y, return_dict=True)]
    assert not _library(tiered, "train_step").endswith("_full.so")  # the QUICK build serves first
    tiered._engine.finish_builds()
    assert _library(tiered, "train_step").endswith("_full.so")
    logs += [tiered.train_on_batch(x, y, return_dict=True) for _ in range(3)]
    predicted = tiered.predict(x, verbose=0)

    cached = _model()  # the same programs again: the final library from the cache, from the first call
    expected = [cached.train_on_batch(x, y, return_dict=True) for _ in range(4)]
    assert not cached._engine._finals  # nothing compiled at QUICK
    assert logs == expected
    np.testing.assert_array_equal(predicted, cached.predict(x, verbose=0))
    for mine, theirs in zip(tiered.get_weights(), cached.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_fit_takes_the_final_library_mid_epoch() -> None:
    x, y = _data()
    seen = []

    class Settle(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(_library(self.model, "train_step"))
            if batch == 1:
                self.model._engine.finish_builds()

    tiered = _model()
    history = tiered.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[Settle()])
    assert not seen[0].endswith("_full.so") and all(name.endswith("_full.so") for name in seen[2:])
    cached = _model()
    assert cached.fit(x, y, batch_size=8, epochs=1, verbose=0).history == history.history
    for mine, theirs in zip(tiered.get_weights(), cached.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_a_failed_final_build_keeps_the_first_library_with_a_warning() -> None:
    x, y = _data()
    model = _model()
    model.train_on_batch(x, y)
    engine = model._engine
    engine._finals["train_step"].result(timeout=120)
    failed: Future = Future()
    failed.set_exception(RuntimeError("linker crashed"))
    engine._finals["train_step"] = failed
    first = engine._libraries["train_step"]
    with pytest.warns(RuntimeWarning, match="linker crashed"):
        model.train_on_batch(x, y)
    assert engine._libraries["train_step"] is first and not engine._finals
    assert np.isfinite(model.train_on_batch(x, y)[0])


def test_a_compile_under_way_postpones_the_swap_instead_of_blocking_the_call() -> None:
    """Another thread compiling (it holds the engine's compile lock) does not stall a training call
    whose final library is ready: the call runs the first library, and a later one swaps."""
    x, y = _data()
    model = _model()
    model.train_on_batch(x, y)
    engine = model._engine
    engine._finals["train_step"].result(timeout=120)
    first = engine._libraries["train_step"]
    with engine._compiling:  # as while another program compiles
        model.train_on_batch(x, y)
        assert engine._libraries["train_step"] is first and "train_step" in engine._finals
    model.train_on_batch(x, y)
    assert _library(model, "train_step").endswith("_full.so") and not engine._finals
