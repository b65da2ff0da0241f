"""Image layers: Keras's numbers on small inputs, channels_first equal to channels_last, Keras 1/2
spellings, the image_data_format setting, configs that round-trip, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from graphc import keras
from graphc.frontend.programs import record_forward
from graphc.interpreter import evaluate
from graphc.ir.graph import Graph
from graphc.keras import backend, layers

RNG = np.random.default_rng(3)


def _model(*stack: layers.Layer, shape: tuple[int, ...]) -> keras.Sequential:
    return keras.Sequential([keras.Input(shape=shape), *stack])


def _predict(model: keras.Sequential, x: np.ndarray) -> np.ndarray:
    return model.predict(x.astype(np.float32), verbose=0)


def test_conv1d_padding_modes_match_the_definition() -> None:
    x = RNG.normal(size=(2, 7, 3)).astype(np.float32)
    for padding, pads in (("valid", (0, 0)), ("same", (1, 1)), ("causal", (2, 0))):
        conv = layers.Conv1D(4, 3, padding=padding)
        model = _model(conv, shape=(7, 3))
        kernel, bias = conv.get_weights()
        padded = np.pad(x, ((0, 0), pads, (0, 0)))
        steps = padded.shape[1] - 2
        expected = np.stack([np.einsum("nkc,kcf->nf", padded[:, t : t + 3], kernel) for t in range(steps)], 1)
        np.testing.assert_allclose(_predict(model, x), expected + bias, rtol=1e-5, atol=1e-5)


def test_same_padding_puts_the_odd_pixel_last_and_pools_skip_padding() -> None:
    """KERAS_REFERENCE_LAYERS.md 2: average pooling divides by the real cells of each window."""
    ramp = np.arange(1, 8, dtype=np.float32).reshape(1, 7, 1)
    pool1 = _model(layers.AveragePooling1D(2, padding="same"), shape=(7, 1))
    np.testing.assert_allclose(_predict(pool1, ramp)[0, :, 0], [1.5, 3.5, 5.5, 7.0])
    grid = np.arange(1, 26, dtype=np.float32).reshape(1, 5, 5, 1)
    pool2 = _model(layers.AveragePooling2D(2, padding="same"), shape=(5, 5, 1))
    np.testing.assert_allclose(_predict(pool2, grid)[0, :, -1, 0], [7.5, 17.5, 25.0])
    negative = -grid
    max_same = _model(layers.MaxPooling2D(2, padding="same"), shape=(5, 5, 1))
    np.testing.assert_allclose(_predict(max_same, negative)[0, -1, -1, 0], -25.0)  # padding never wins


def test_moving_layers_match_numpy() -> None:
    x = RNG.normal(size=(2, 4, 5, 3)).astype(np.float32)
    cases = [
        (layers.ZeroPadding2D(((1, 2), (0, 1))), np.pad(x, ((0, 0), (1, 2), (0, 1), (0, 0)))),
        (layers.Cropping2D(((1, 0), (2, 1))), x[:, 1:, 2:4]),
        (layers.UpSampling2D((2, 3)), x.repeat(2, axis=1).repeat(3, axis=2)),
        (layers.Reshape((-1, 3)), x.reshape(2, 20, 3)),
        (layers.Permute((3, 1, 2)), x.transpose(0, 3, 1, 2)),
        (layers.GlobalMaxPooling2D(), x.max(axis=(1, 2))),
        (layers.GlobalAveragePooling2D(keepdims=True), x.mean(axis=(1, 2), keepdims=True)),
        (layers.MaxPooling2D((2, 2)), x[:, :4, :4].reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4))),
    ]
    for layer, expected in cases:
        np.testing.assert_allclose(
            _predict(_model(layer, shape=(4, 5, 3)), x), expected, rtol=1e-6, err_msg=type(layer).__name__
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda fmt: layers.Conv2D(4, (3, 2), strides=(2, 1), padding="same", data_format=fmt),
        lambda fmt: layers.Conv2D(4, 3, dilation_rate=2, groups=2, data_format=fmt),
        lambda fmt: layers.MaxPooling2D((3, 3), strides=2, padding="same", data_format=fmt),
        lambda fmt: layers.AveragePooling2D(2, data_format=fmt),
        lambda fmt: layers.ZeroPadding2D((1, 2), data_format=fmt),
        lambda fmt: layers.UpSampling2D(2, data_format=fmt),
        lambda fmt: layers.GlobalAveragePooling2D(data_format=fmt),
        lambda fmt: layers.BatchNormalization(axis=-1 if fmt == "channels_last" else 1),
    ],
    ids=["conv", "grouped-dilated", "max-same", "avg", "zero-pad", "upsample", "global-avg", "batchnorm"],
)
def test_channels_first_equals_channels_last(make) -> None:
    x = RNG.normal(size=(2, 7, 6, 4)).astype(np.float32)
    last, first = make("channels_last"), make("channels_first")
    model_last = _model(last, shape=(7, 6, 4))
    model_first = _model(first, shape=(4, 7, 6))
    first.set_weights(last.get_weights())
    out_last = _predict(model_last, x)
    out_first = _predict(model_first, x.transpose(0, 3, 1, 2))
    if out_last.ndim == 4:
        out_first = out_first.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out_first, out_last, rtol=1e-5, atol=1e-6)


def test_depthwise_with_strides_equals_the_unit_stride_result_subsampled() -> None:
    """Strided depthwise runs as a grouped conv2d, unit strides as fused shifted windows."""
    x = RNG.normal(size=(2, 9, 8, 3)).astype(np.float32)
    unit = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")
    strided = layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="valid")
    model_unit, model_strided = _model(unit, shape=(9, 8, 3)), _model(strided, shape=(9, 8, 3))
    strided.set_weights(unit.get_weights())
    np.testing.assert_allclose(
        _predict(model_strided, x),
        _predict(model_unit, x)[:, 1:-1:2, 1:-1:2][:, :4, :3],
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "padding, output_padding, size, crop",
    [("valid", None, 9, 0), ("same", None, 8, 0), ("valid", 1, 10, 0), ("same", 1, 8, 1)],
)
def test_conv2d_transpose_is_the_cropped_full_scatter(padding, output_padding, size, crop) -> None:
    """KERAS_REFERENCE_LAYERS.md 1.3 (n=4, k=3, s=2): every input pixel adds x[i] * kernel at offset
    i*s; 'valid' keeps the (n-1)*s + k positions (+ output_padding zeros), 'same' keeps n*s of them after
    dropping floor((k-s)/2) leading ones (k//2 with output_padding)."""
    layer = layers.Conv2DTranspose(2, 3, strides=2, padding=padding, output_padding=output_padding)
    model = _model(layer, shape=(4, 4, 3))
    layer.set_weights([RNG.normal(size=(3, 3, 2, 3)).astype(np.float32), np.array([0.5, -1.0], np.float32)])
    kernel, bias = layer.get_weights()
    x = RNG.normal(size=(2, 4, 4, 3)).astype(np.float32)
    full = np.zeros((2, 12, 12, 2), np.float32)
    for i in range(4):
        for j in range(4):
            full[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3] += np.einsum("nc,abfc->nabf", x[:, i, j], kernel)
    expected = full[:, crop : crop + size, crop : crop + size] + bias
    np.testing.assert_allclose(_predict(model, x), expected, rtol=1e-5, atol=1e-5)


def test_flatten_channels_first_flattens_in_channels_last_order() -> None:
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    model = _model(layers.Flatten(data_format="channels_first"), shape=(3, 4, 5))
    np.testing.assert_array_equal(_predict(model, x), x.transpose(0, 2, 3, 1).reshape(2, -1))


def test_keras_1_and_2_spellings_map_to_keras_3() -> None:
    with pytest.warns(DeprecationWarning, match="Keras 1"):
        old = layers.Convolution2D(
            8, 3, 3, border_mode="same", subsample=(2, 2), dim_ordering="th", init="he_normal"
        )
    new = layers.Conv2D(8, (3, 3), padding="same", strides=2, data_format="channels_first")
    for key in ("filters", "kernel_size", "padding", "strides", "data_format"):
        assert old.get_config()[key] == new.get_config()[key], key
    assert old.get_config()["kernel_initializer"]["class_name"] == "HeNormal"
    with pytest.warns(DeprecationWarning) as record:
        pool = layers.MaxPooling1D(pool_length=3, stride=1)
    assert {str(w.message).split("`")[1] for w in record} == {"pool_length", "stride"}
    assert (pool.pool_size, pool.strides) == ((3,), (1,))
    assert layers.Conv2D(32, 3, 3).strides == (3, 3), "Keras 3 reads Conv2D(32, 3, 3) as strides 3"


def test_image_data_format_is_the_default_of_new_layers() -> None:
    try:
        backend.set_image_dim_ordering("th")
        assert backend.image_data_format() == "channels_first" and backend.image_dim_ordering() == "th"
        assert layers.Conv2D(2, 3).data_format == "channels_first"
        assert layers.MaxPooling2D().data_format == "channels_first"
        with pytest.raises(ValueError, match="data_format"):
            backend.set_image_data_format("th")
    finally:
        backend.set_image_data_format("channels_last")
    assert layers.Conv2D(2, 3).data_format == "channels_last"


def test_every_image_layer_round_trips_through_json() -> None:
    model = _model(
        layers.ZeroPadding2D(1),
        layers.Conv2D(4, 3, activation="relu", groups=2),
        layers.BatchNormalization(),
        layers.MaxPooling2D(2, padding="same"),
        layers.Cropping2D(((1, 0), (0, 1))),
        layers.UpSampling2D(2),
        layers.SpatialDropout2D(0.3),
        layers.AveragePooling2D(2),
        layers.Conv2D(3, 1),
        layers.Permute((2, 1, 3)),
        layers.Reshape((-1, 3)),
        layers.Conv1D(2, 2, padding="causal"),
        layers.MaxPooling1D(2),
        layers.GlobalAveragePooling1D(),
        layers.Dense(2),
        shape=(9, 8, 2),
    )
    model.set_weights([RNG.normal(size=w.shape).astype(np.float32) for w in model.weights])
    clone = keras.models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    x = RNG.normal(size=(3, 9, 8, 2)).astype(np.float32)
    np.testing.assert_array_equal(_predict(clone, x), _predict(model, x))


def test_spatial_dropout_drops_whole_channels() -> None:
    model = _model(layers.SpatialDropout2D(0.5), shape=(4, 4, 6))
    graph = Graph("train")
    graph.outputs["y"] = record_forward(model, graph, training=True)
    x = np.ones((8, 4, 4, 6), dtype=np.float32)
    y = evaluate(graph, {"x": x}, {"rng/step": np.int64(11)})[0]["y"]
    per_channel = y.reshape(8, 16, 6)
    assert np.all(per_channel == per_channel[:, :1]), "one draw per sample and channel"
    assert set(np.unique(y)) == {0.0, 2.0}


def test_bad_inputs_name_the_layer() -> None:
    with pytest.raises(ValueError, match="conv2d.*rank 4"):
        _model(layers.Conv2D(2, 3, name="conv2d_bad"), shape=(5, 5))
    with pytest.raises(ValueError, match="evenly divisible"):
        layers.Conv2D(5, 3, groups=2)
    with pytest.raises(ValueError, match="does not fit"):
        _model(layers.Conv2D(2, 7), shape=(5, 5, 1))
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2D(2, 3, padding="full")
