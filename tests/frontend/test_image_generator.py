"""ImageDataGenerator against Keras's documented behaviour (KERAS_REFERENCE_LAYERS.md 8): geometry,
fill modes, draws, standardization order, fit statistics and ZCA, flow and flow_from_directory."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.frontend.image_transforms import apply_affine_transform, transform_matrix
from graphc.keras.layers import Conv2D, Dense, Flatten
from graphc.keras.models import Sequential
from graphc.keras.preprocessing.image import ImageDataGenerator, img_to_array, load_img, save_img

RNG = np.random.default_rng(4)


def _warp(image: np.ndarray, mode: str = "nearest", cval: float = 0.0, **params: float) -> np.ndarray:
    return apply_affine_transform(image[:, :, None], transform_matrix(**params), 0, 1, 2, mode, cval)[:, :, 0]


def test_rotation_shift_zoom_and_fill_modes_match_keras() -> None:
    square = np.arange(9, dtype=float).reshape(3, 3)
    np.testing.assert_allclose(_warp(square, theta=90), [[2, 5, 8], [1, 4, 7], [0, 3, 6]], atol=1e-12)
    row = np.arange(5, dtype=float).reshape(1, 5)
    np.testing.assert_allclose(_warp(row, tx=1), [[1, 2, 3, 4, 4]])  # positive tx moves content left
    shifted_right = {
        "nearest": [0, 0, 0, 1, 2],
        "constant": [-1, -1, 0, 1, 2],
        "reflect": [1, 0, 0, 1, 2],
        "wrap": [2, 3, 0, 1, 2],
    }
    for mode, expected in shifted_right.items():
        np.testing.assert_allclose(_warp(row, mode, cval=-1, tx=-2)[0], expected, err_msg=mode)
    column = np.arange(5, dtype=float).reshape(5, 1)
    np.testing.assert_allclose(_warp(column, ty=1)[:, 0], [1, 2, 3, 4, 4])  # ty moves content vertically
    spot = np.zeros((9, 9))
    spot[2:7, 2:7] = 1
    assert _warp(spot, "constant", zx=2, zy=2).sum() < spot.sum()  # a zoom factor > 1 shrinks the content


def test_shift_draws_follow_keras_rules() -> None:
    gen = ImageDataGenerator(width_shift_range=3, height_shift_range=0.25)
    np.random.seed(0)
    draws = [gen.get_random_transform((8, 12, 1)) for _ in range(200)]
    assert {d["ty"] for d in draws} <= {-2.0, -1.0, 0.0, 1.0, 2.0}
    assert all(abs(d["tx"]) <= 0.25 * 8 for d in draws) and len({d["tx"] for d in draws}) > 100
    assert ImageDataGenerator(zoom_range=0.2).zoom_range == (0.8, 1.2)


def test_standardize_runs_in_keras_order() -> None:
    gen = ImageDataGenerator(
        rescale=0.5,
        samplewise_center=True,
        samplewise_std_normalization=True,
        preprocessing_function=lambda image: image + 10,
    )
    x = RNG.normal(size=(4, 4, 2)).astype(np.float32)
    expected = (x + 10) * 0.5
    expected = expected - expected.mean()
    expected = expected / (expected.std() + 1e-6)
    np.testing.assert_allclose(gen.standardize(x.copy()), expected, rtol=1e-5)


def test_fit_statistics_and_zca_follow_the_formulas() -> None:
    x = RNG.random((30, 4, 4, 3)).astype(np.float32) * 255
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True, rescale=1 / 255)
    gen.fit(x)
    scaled = x / 255
    np.testing.assert_allclose(gen.mean, scaled.mean(axis=(0, 1, 2)).reshape(1, 1, 3), rtol=1e-5)
    np.testing.assert_allclose(gen.std, (scaled - gen.mean).std(axis=(0, 1, 2)).reshape(1, 1, 3), rtol=1e-5)
    batch = next(gen.flow(x, batch_size=30, shuffle=False))
    np.testing.assert_allclose(batch.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(batch.std(axis=(0, 1, 2)), 1, atol=1e-4)
    with pytest.warns(UserWarning, match="zca_whitening overrides"):
        zca = ImageDataGenerator(zca_whitening=True)
    small = RNG.random((10, 2, 2, 1)).astype(np.float32)
    zca.fit(small)
    flat = (small - small.mean(axis=(0, 1, 2), keepdims=True)[0]).reshape(10, -1).astype(np.float64)
    u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
    np.testing.assert_allclose(zca.zca_whitening_matrix, (u * (np.sqrt(10) / (s + 1e-6))) @ u.T, rtol=1e-4)


def test_flow_batches_orders_and_subsets() -> None:
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    y = np.arange(10, dtype=np.int64)
    ordered = ImageDataGenerator().flow(x, y, batch_size=4, shuffle=False)
    assert len(ordered) == 3 and [list(ordered[i][1]) for i in range(3)] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
    ]
    assert ordered[0][0].dtype == np.float32 and ordered[0][1].dtype == np.int64
    one, two = (ImageDataGenerator().flow(x, y, batch_size=10, seed=5) for _ in range(2))
    first = next(one)[1]
    np.testing.assert_array_equal(first, next(two)[1])
    assert sorted(first) == list(range(10)) and list(first) != list(next(one)[1])  # a new order each pass
    split = ImageDataGenerator(validation_split=0.3)
    assert split.flow(x, y, subset="validation", shuffle=False).n == 3
    assert list(split.flow(x, y, subset="training", shuffle=False, batch_size=7)[0][1]) == list(range(3, 10))


def test_flow_from_directory_reads_classes_in_keras_order(tmp_path, capsys) -> None:
    for name, count in (("dogs", 3), ("cats", 2), ("empty", 0)):
        (tmp_path / name).mkdir()
        for k in range(count):
            save_img(tmp_path / name / f"{k}.png", RNG.random((6, 5, 3)) * 255, scale=False)
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    gen = ImageDataGenerator(rescale=1 / 255)
    it = gen.flow_from_directory(tmp_path, target_size=(4, 4), batch_size=5, shuffle=False)
    assert "Found 5 images belonging to 3 classes." in capsys.readouterr().out
    assert it.class_indices == {"cats": 0, "dogs": 1, "empty": 2}
    assert it.filenames == ["cats/0.png", "cats/1.png", "dogs/0.png", "dogs/1.png", "dogs/2.png"]
    x, y = it[0]
    assert x.shape == (5, 4, 4, 3) and 0 <= x.min() and x.max() <= 1
    np.testing.assert_array_equal(y, np.eye(3, dtype=np.float32)[[0, 0, 1, 1, 1]])
    sparse = gen.flow_from_directory(
        tmp_path, target_size=(4, 4), class_mode="sparse", color_mode="grayscale", shuffle=False
    )
    xs, ys = sparse[0]
    assert xs.shape == (5, 4, 4, 1) and list(ys) == [0, 0, 1, 1, 1]
    split = ImageDataGenerator(validation_split=0.5).flow_from_directory(
        tmp_path, target_size=(4, 4), subset="validation", shuffle=False
    )
    assert split.filenames == ["cats/0.png", "dogs/0.png"]
    image = load_img(tmp_path / "dogs" / "1.png")
    assert img_to_array(image).shape == (6, 5, 3)


def test_a_model_trains_on_augmented_batches_and_saves_them(tmp_path) -> None:
    x = RNG.random((24, 8, 8, 1)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[np.arange(24) % 2]
    gen = ImageDataGenerator(rotation_range=10, width_shift_range=0.1, horizontal_flip=True)
    model = Sequential(
        [Conv2D(2, 3, activation="relu", input_shape=(8, 8, 1)), Flatten(), Dense(2, activation="softmax")]
    )
    model.compile("sgd", "categorical_crossentropy")
    before = model.get_weights()
    history = model.fit(
        gen.flow(x, y, batch_size=8, seed=1, save_to_dir=str(tmp_path), save_prefix="aug"),
        epochs=2,
        verbose=0,
    )
    assert len(history.history["loss"]) == 2
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert len(list(tmp_path.glob("aug_*.png"))) == 48
