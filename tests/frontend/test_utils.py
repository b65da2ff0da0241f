"""keras.utils helpers against hand-written expectations and the K3 docstring examples."""

import numpy as np
import pytest

from graphc.frontend.utils import normalize, pad_sequences, to_categorical


def test_to_categorical_rows_and_float64():
    result = to_categorical([0, 2, 1, 2])
    np.testing.assert_array_equal(result, np.eye(3)[[0, 2, 1, 2]])
    assert result.dtype == np.float64


def test_to_categorical_shapes():
    assert to_categorical(np.array([[1], [0]])).shape == (2, 2)  # trailing 1 dropped
    assert to_categorical(np.array([[1, 0, 2], [2, 2, 0]])).shape == (2, 3, 3)
    assert to_categorical([3], num_classes=5).tolist() == [[0, 0, 0, 1, 0]]
    np.testing.assert_array_equal(to_categorical(np.array([1.0, 0.0])), [[0, 1], [1, 0]])
    assert to_categorical(2, num_classes=3).tolist() == [0, 0, 1]


def test_to_categorical_errors():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\] for num_classes=3, got 3"):
        to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="got -1"):
        to_categorical([0, -1, 1])
    with pytest.raises(ValueError, match="integer class labels"):
        to_categorical(["a", "b"])
    with pytest.raises(ValueError, match="num_classes"):
        to_categorical([], num_classes=None)


def test_normalize_rows_to_unit_norm():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(normalize(x, order=1), [[3 / 7, 4 / 7], [0, 0], [1, 0]])
    np.testing.assert_allclose(normalize(x, axis=0), x / np.array([np.sqrt(10), 4.0]))
    with pytest.raises(ValueError, match="axis"):
        normalize(x, axis=2)


SEQUENCES = [[1], [2, 3], [4, 5, 6]]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
    ({"value": -1}, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
    ({"padding": "post"}, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
    ({"maxlen": 2}, [[0, 1], [2, 3], [5, 6]]),
    ({"maxlen": 2, "truncating": "post"}, [[0, 1], [2, 3], [4, 5]]),
    ({"maxlen": 4, "padding": "post"}, [[1, 0, 0, 0], [2, 3, 0, 0], [4, 5, 6, 0]]),
])
def test_pad_sequences_k3_examples(kwargs, expected):
    result = pad_sequences(SEQUENCES, **kwargs)
    assert result.dtype == np.int32
    np.testing.assert_array_equal(result, expected)


def test_pad_sequences_other_cases():
    result = pad_sequences([[], [1.5, 2.5]], dtype="float32", value=0.5)
    np.testing.assert_array_equal(result, [[0.5, 0.5], [1.5, 2.5]])
    assert result.dtype == np.float32
    assert pad_sequences(SEQUENCES, maxlen=0).shape == (3, 0)
    vectors = pad_sequences([np.ones((1, 2)), np.ones((2, 2))], dtype="float32")
    np.testing.assert_array_equal(vectors[0], [[0, 0], [1, 1]])
    assert pad_sequences([]).shape == (0, 0)


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match='Padding type "middle" not understood'):
        pad_sequences(SEQUENCES, padding="middle")
    with pytest.raises(ValueError, match='Truncating type "x" not understood'):
        pad_sequences(SEQUENCES, truncating="x")
    with pytest.raises(ValueError, match="Found non-iterable: 3"):
        pad_sequences([[1], 3])
    with pytest.raises(ValueError, match="set `dtype=object`"):
        pad_sequences([["a"]], value="pad")
    with pytest.raises(ValueError, match="maxlen"):
        pad_sequences(SEQUENCES, maxlen=-1)
