"""Small models shared by the export and command tests."""

from __future__ import annotations

from graphc.keras.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
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


def small_cnn() -> Sequential:
    """Conv2D -> BatchNormalization -> MaxPooling2D -> Flatten -> Dense(3, softmax), Adam."""
    model = Sequential([Conv2D(4, 3, padding="same", activation="relu", input_shape=(6, 6, 2)),
                        BatchNormalization(), MaxPooling2D(2), Flatten(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model
