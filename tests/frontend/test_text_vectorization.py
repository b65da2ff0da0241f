"""TextVectorization as Keras 3 builds its vocabulary and encodes texts (run in numpy, before an
int-input model), and the error when it is put inside a model."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.data import Dataset
from graphc.keras import Sequential
from graphc.keras.layers import Dense, Embedding, GlobalAveragePooling1D, TextVectorization

TEXTS = ["The cat sat on the mat.", "The dog sat!", "A cat, a dog, a bird?"]


def test_vocabulary_by_frequency_with_padding_and_oov_first() -> None:
    layer = TextVectorization(max_tokens=6)
    layer.adapt(TEXTS)
    # counts: the 3, a 3, sat 2, cat 2, dog 2; ties in reverse token order (Keras's lexsort, reversed)
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "a", "sat", "dog"]
    assert layer.vocabulary_size() == 6
    ids = layer(["the cat sat", "a bird"])
    assert ids.tolist() == [[2, 1, 4], [3, 1, 0]]  # padded at the end to the longest text
    fixed = TextVectorization(max_tokens=6, output_sequence_length=2, vocabulary=layer.get_vocabulary())
    assert fixed(["the cat sat", "a"]).tolist() == [[2, 1], [3, 0]]


def test_vector_modes() -> None:
    layer = TextVectorization(output_mode="multi_hot")
    layer.adapt(TEXTS)
    vocabulary = layer.get_vocabulary()
    assert vocabulary[0] == "[UNK]"
    counted = TextVectorization(output_mode="count", vocabulary=vocabulary)
    row = counted(["the the cat zebra"])[0]
    assert row[vocabulary.index("the")] == 2 and row[0] == 1 and row.sum() == 4
    assert layer(["the the cat"])[0][vocabulary.index("the")] == 1
    tfidf = TextVectorization(output_mode="tf_idf")
    tfidf.adapt(TEXTS)
    vocab = tfidf.get_vocabulary()
    value = tfidf(["the"])[0][vocab.index("the")]
    assert value == pytest.approx(np.log(1 + 3 / (1 + 2)))  # "the" is in 2 of the 3 texts


def test_adapt_on_a_dataset_and_feeding_a_model() -> None:
    layer = TextVectorization(max_tokens=20, output_sequence_length=5)
    layer.adapt(Dataset.from_tensor_slices(np.array(TEXTS)).batch(2))
    ids = layer(TEXTS)
    model = Sequential([Embedding(20, 4, input_length=5), GlobalAveragePooling1D(), Dense(1)])
    assert model.predict(ids, verbose=0).shape == (3, 1)
    with pytest.raises(TypeError, match="works on strings"):
        Sequential([layer, Dense(1)])
    with pytest.raises(RuntimeError, match="adapt"):
        TextVectorization()(["x"])
