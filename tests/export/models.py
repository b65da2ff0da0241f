"""Small models shared by the export and command tests."""

from __future__ import annotations

from graphc.keras.layers import Dense, Dropout
from graphc.keras.models import Sequential


def small_mlp(dropout: float = 0.0) -> Sequential:
    """Dense(16, relu) -> [Dropout] -> Dense(3, softmax), SGD, categorical cross-entropy and accuracy."""
    layers = [Dense(16, activation="relu", input_shape=(4,))]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(3, activation="softmax"))
    model = Sequential(layers)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    return model
