"""A fuzzer of the model entry points, run as `python -m tests.frontend.fuzz_boundary EXAMPLES`.

It runs in a child process (test_fuzz_boundary.py) so that a crash of the interpreter fails that
test instead of ending the test run. Every generated call must either return what the same call
on a clean float32 C-contiguous copy of its data returns, or raise ValueError/TypeError: any other
exception, a wrong result or a crash is a failure. The last line printed is the tally.
"""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphc.keras import backend
from graphc.keras.layers import Dense, Dropout
from graphc.keras.models import Sequential

FEATURES = 5
CLASSES = 3
# Valid choices are listed several times so that about half the calls run rather than being refused.
DTYPES = ["float32"] * 6 + ["float64", "float16", "int32", "int64", "uint8", "bool", "complex64", "object",
                            "str"]
LAYOUTS = ["c"] * 3 + ["fortran", "strided", "reversed", "readonly", "list"]
TALLY: Counter = Counter()
REASONS: Counter = Counter()


def _model() -> Sequential:
    backend.clear_session()
    model = Sequential([Dense(8, activation="relu", input_shape=(FEATURES,)), Dropout(0.25),
                        Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


MODEL = _model()


def _layout(array: np.ndarray, layout: str):
    if layout == "fortran":
        return np.asfortranarray(array)
    if layout == "strided":
        doubled = np.repeat(array, 2, axis=0)
        return doubled[::2]
    if layout == "reversed":
        return array[::-1] if array.ndim else array
    if layout == "readonly":
        array = array.copy()
        array.setflags(write=False)
        return array
    if layout == "list":
        return array.tolist()
    return np.ascontiguousarray(array)


def _cast(array: np.ndarray, dtype: str):
    if dtype == "object":
        return array.astype(object)
    if dtype == "str":
        return array.astype(str)
    return array.astype(dtype)


shapes = st.one_of(
    st.tuples(st.integers(1, 40), st.just(FEATURES)),
    st.tuples(st.integers(0, 40), st.just(FEATURES)),
    st.tuples(st.integers(0, 40), st.integers(1, 8)),
    st.tuples(st.integers(0, 6), st.just(FEATURES), st.integers(1, 3)),
    st.tuples(st.integers(0, 40)),
    st.just(()),
)
labels = st.one_of(st.integers(0, CLASSES - 1).map(float), st.integers(-2, CLASSES + 1).map(float),
                   st.sampled_from([np.nan, np.inf, -np.inf, 0.5, 2.5, 1e9, 2.0, 1.0, 0.0]))


def _call(entry: str, x, y, batch_size):
    if entry == "predict":
        return MODEL.predict(x, batch_size=batch_size, verbose=0)
    if entry == "predict_on_batch":
        return MODEL.predict_on_batch(x)
    if entry == "evaluate":
        return MODEL.evaluate(x, y, batch_size=batch_size, verbose=0)
    if entry == "test_on_batch":
        return MODEL.test_on_batch(x, y)
    return MODEL.train_on_batch(x, y)


EXAMPLES = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 200


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
          database=None)
@given(entry=st.sampled_from(["predict", "predict_on_batch", "evaluate", "test_on_batch", "train_on_batch"]),
       shape=shapes, dtype=st.sampled_from(DTYPES), layout=st.sampled_from(LAYOUTS),
       label_values=st.one_of(st.lists(st.integers(0, CLASSES - 1).map(float), max_size=40),
                              st.lists(labels, max_size=40)),
       label_rank=st.integers(1, 2),
       batch_size=st.one_of(st.none(), st.integers(1, 70), st.integers(-2, 70), st.just(2.5), st.just("8")),
       seed=st.integers(0, 2**16), well_formed=st.booleans())
def fuzz_entry_points(entry, shape, dtype, layout, label_values, label_rank, batch_size, seed,
                      well_formed) -> None:
    rng = np.random.default_rng(seed)
    if well_formed:  # only the layout, dtype width, batch count and sizes vary
        shape = (1 + seed % 40, FEATURES)
        dtype = dtype if dtype in ("float32", "float64", "int32", "uint8") else "float32"
        label_values = [float(v % CLASSES) for v in range(seed % 7, seed % 7 + 40)]
        batch_size = None if batch_size is None or not isinstance(batch_size, int) else max(1, batch_size)
    clean_x = rng.normal(size=shape).astype(np.float32)
    x = _layout(_cast(clean_x, dtype), layout)
    y = np.resize(np.asarray(label_values or [0.0], np.float32), shape[:1] if shape else (1,))
    if label_rank == 2:
        y = y[:, None]
    trains = entry == "train_on_batch"
    before = MODEL.get_weights() if trains else None
    try:
        got = _call(entry, x, y, batch_size)
    except (ValueError, TypeError) as error:
        TALLY["refused"] += 1
        REASONS[str(error)[:60]] += 1
        if trains:
            for old, new in zip(before, MODEL.get_weights(), strict=True):
                assert np.array_equal(old, new), "a refused training step changed the weights"
        return
    TALLY["ran"] += 1
    if entry in ("predict", "predict_on_batch"):
        want = MODEL.predict(np.ascontiguousarray(np.asarray(x, dtype=np.float32)), verbose=0)
        assert got.shape == want.shape and np.array_equal(got, want), "predict depends on the layout"
        assert np.isfinite(got).all()
    else:
        assert np.all(np.isfinite(np.asarray(got, dtype=np.float64))), f"{entry} returned {got}"


if __name__ == "__main__":
    fuzz_entry_points()
    if "-v" in sys.argv:
        print(REASONS.most_common(12))
    print(f"cases tried: {sum(TALLY.values())}, ran: {TALLY['ran']}, refused: {TALLY['refused']}, crashes: 0")
