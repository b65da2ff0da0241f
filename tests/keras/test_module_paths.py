"""The Keras 2 module paths tutorials import from resolve to the same classes as Keras 3's."""

from __future__ import annotations

import importlib

import pytest

from graphc.keras import layers, utils


@pytest.mark.parametrize(
    "module, names",
    [
        ("graphc.keras.layers.core", ["Dense", "Dropout", "Flatten", "Activation", "Reshape", "Permute"]),
        (
            "graphc.keras.layers.convolutional",
            [
                "Conv2D",
                "Convolution2D",
                "MaxPooling2D",
                "ZeroPadding2D",
                "UpSampling2D",
                "Cropping2D",
                "Conv1D",
            ],
        ),
        ("graphc.keras.layers.pooling", ["MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D"]),
        ("graphc.keras.layers.normalization", ["BatchNormalization"]),
    ],
)
def test_keras_2_layer_modules(module: str, names: list[str]) -> None:
    loaded = importlib.import_module(module)
    for name in names:
        assert getattr(loaded, name) is getattr(layers, name)


def test_np_utils_to_categorical() -> None:
    from graphc.keras.utils import np_utils

    assert np_utils.to_categorical is utils.to_categorical
    assert np_utils.to_categorical([0, 2], 3).tolist() == [[1, 0, 0], [0, 0, 1]]


def test_preprocessing_paths() -> None:
    from graphc.keras.preprocessing import image, sequence

    assert image.ImageDataGenerator.__name__ == "ImageDataGenerator"
    assert sequence.pad_sequences([[1, 2]], maxlen=3).tolist() == [[0, 1, 2]]


def test_recurrent_and_merge_paths() -> None:
    from graphc.keras import layers
    from graphc.keras.layers.merge import concatenate
    from graphc.keras.layers.recurrent import LSTM

    assert LSTM is layers.LSTM and concatenate is layers.concatenate


def test_legacy_optimizers() -> None:
    from graphc.keras import optimizers
    from graphc.keras.optimizers.legacy import SGD, Adam

    assert SGD is optimizers.SGD and Adam is optimizers.Adam


@pytest.mark.parametrize("statement, name", [
    ("from graphc.keras.layers import ConvLSTM2D", "keras.layers.ConvLSTM2D"),
    ("from graphc.keras.layers.recurrent import ConvLSTM2D", "keras.layers.recurrent.ConvLSTM2D"),
    ("from graphc.keras.layers import Attention", "keras.layers.Attention"),
    ("from graphc.keras.callbacks import TensorBoard", "keras.callbacks.TensorBoard"),
])
def test_missing_keras_names_say_they_are_not_supported_yet(statement: str, name: str) -> None:
    with pytest.raises(ImportError, match=f"{name} is not supported by graphc yet"):
        exec(statement, {})  # noqa: S102 - the import statement itself is what is tested


def test_unknown_names_stay_attribute_errors() -> None:
    with pytest.raises(AttributeError):
        _ = layers.NoSuchLayer
