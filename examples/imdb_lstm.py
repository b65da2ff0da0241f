"""The tutorials' IMDB sentiment LSTM: Embedding(5000, 32, input_length=500), LSTM(100),
Dense(1, sigmoid); Adam, 3 epochs of batch 64. `--cnn` puts Conv1D(32, 3, same, relu) and
MaxPooling1D(2) before the LSTM (the tutorial's CNN-LSTM, also examples/imdb_cnn_lstm.py).

Data: `keras.datasets.imdb.load_data(num_words=5000)`: Keras's imdb.npz when it is in
$GRAPHC_DATA_DIR or ~/.keras/datasets, else the stand-in built from the movie-review polarity
corpus in $GRAPHC_DATA_DIR/text (1,000 training and 1,000 test reviews; see the README).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from graphc.keras.datasets import imdb
from graphc.keras.layers import LSTM, Conv1D, Dense, Embedding, MaxPooling1D
from graphc.keras.models import Sequential
from graphc.keras.preprocessing import sequence
from graphc.keras.utils import set_random_seed

TOP_WORDS, MAX_REVIEW_LENGTH, EMBEDDING_LENGTH = 5000, 500, 32


def build_model(cnn: bool = False) -> Sequential:
    model = Sequential([Embedding(TOP_WORDS, EMBEDDING_LENGTH, input_length=MAX_REVIEW_LENGTH)])
    if cnn:
        model.add(Conv1D(filters=32, kernel_size=3, padding="same", activation="relu"))
        model.add(MaxPooling1D(pool_size=2))
    model.add(LSTM(100))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def run(cnn: bool = False, epochs: int = 3, verbose: int = 2, seed: int = 7) -> tuple[float, float, int]:
    """Returns (test accuracy, seconds of training, training reviews)."""
    set_random_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the stand-in corpus says so; the README does too
        (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=TOP_WORDS)
    x_train = sequence.pad_sequences(x_train, maxlen=MAX_REVIEW_LENGTH)
    x_test = sequence.pad_sequences(x_test, maxlen=MAX_REVIEW_LENGTH)
    model = build_model(cnn)
    if verbose:
        model.summary()
    start = time.perf_counter()
    model.fit(x_train, np.asarray(y_train), epochs=epochs, batch_size=64, verbose=verbose)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, np.asarray(y_test), verbose=0)
    return float(accuracy), seconds, len(x_train)


def main(cnn: bool = False) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cnn", action="store_true", default=cnn)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args()
    accuracy, seconds, reviews = run(args.cnn, args.epochs, args.verbose)
    print(f"IMDB {'CNN-LSTM' if args.cnn else 'LSTM'}: test accuracy {accuracy:.2%} after {args.epochs} "
          f"epochs on {reviews} reviews ({seconds:.1f} s of training)")


if __name__ == "__main__":
    main()
