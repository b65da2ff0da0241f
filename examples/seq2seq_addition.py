"""Keras's character-level sequence-to-sequence recipe on a task that needs no download: read
"12+45" and write "57". An LSTM encoder returns its final states (`return_state=True`); an LSTM
decoder starts from them (`initial_state=...`) and is trained with teacher forcing; then, as in
the Keras tutorial, separate encoder and decoder models built from the same layers decode greedily
one character at a time, feeding each prediction and the decoder's states back in.

    .venv/bin/python examples/seq2seq_addition.py [--epochs 30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from graphc import keras
from graphc.keras import layers
from graphc.keras.utils import set_random_seed

DIGITS = 2
CHARS = "0123456789+ "
QUESTION_LEN = 2 * DIGITS + 1
ANSWER_LEN = DIGITS + 1
START, END = "\t", "\n"  # the decoder's start and end marks, as in the Keras tutorial
TARGET_CHARS = "0123456789" + START + END
LATENT = 128


def problems(count: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    a = rng.integers(0, 10 ** DIGITS, size=count)
    b = rng.integers(0, 10 ** DIGITS, size=count)
    # the question reversed, as Keras's addition example does: the digits that make the answer's first
    # characters are then read last, close to the decoder's start
    questions = [f"{x}+{y}".ljust(QUESTION_LEN)[::-1] for x, y in zip(a, b, strict=True)]
    return questions, [str(x + y) for x, y in zip(a, b, strict=True)]


def one_hot(texts: list[str], alphabet: str, length: int) -> np.ndarray:
    out = np.zeros((len(texts), length, len(alphabet)), dtype=np.float32)
    for i, text in enumerate(texts):
        for t, char in enumerate(text[:length]):
            out[i, t, alphabet.index(char)] = 1.0
    return out


def build() -> tuple[keras.Model, keras.Model, keras.Model]:
    """The training model and the inference encoder and decoder, sharing their layers."""
    encoder_inputs = keras.Input((QUESTION_LEN, len(CHARS)))
    _, state_h, state_c = layers.LSTM(LATENT, return_state=True)(encoder_inputs)
    decoder_inputs = keras.Input((ANSWER_LEN + 1, len(TARGET_CHARS)))
    decoder_lstm = layers.LSTM(LATENT, return_sequences=True, return_state=True)
    decoder_dense = layers.Dense(len(TARGET_CHARS), activation="softmax")
    sequence, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    model = keras.Model([encoder_inputs, decoder_inputs], decoder_dense(sequence))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

    encoder = keras.Model(encoder_inputs, [state_h, state_c])
    step_input = keras.Input((1, len(TARGET_CHARS)))
    h_in, c_in = keras.Input((LATENT,)), keras.Input((LATENT,))
    step, h_out, c_out = decoder_lstm(step_input, initial_state=[h_in, c_in])
    decoder = keras.Model([step_input, h_in, c_in], [decoder_dense(step), h_out, c_out])
    return model, encoder, decoder


def decode(encoder: keras.Model, decoder: keras.Model, questions: np.ndarray) -> list[str]:
    """Greedy decoding of a batch: start mark in, one character out per step, states fed back."""
    h, c = encoder.predict(questions, verbose=0)
    token = np.zeros((len(questions), 1, len(TARGET_CHARS)), dtype=np.float32)
    token[:, 0, TARGET_CHARS.index(START)] = 1.0
    answers = [""] * len(questions)
    done = np.zeros(len(questions), dtype=bool)
    for _ in range(ANSWER_LEN + 1):
        probabilities, h, c = decoder.predict([token, h, c], verbose=0)
        chosen = probabilities[:, 0].argmax(axis=-1)
        for i, index in enumerate(chosen):
            if not done[i]:
                if TARGET_CHARS[index] == END:
                    done[i] = True
                else:
                    answers[i] += TARGET_CHARS[index]
        token = np.zeros_like(token)
        token[np.arange(len(questions)), 0, chosen] = 1.0
    return answers


def run(epochs: int = 30, train_count: int = 10000, seed: int = 7, verbose: int = 2) -> tuple[float, float]:
    """Returns (exact-answer accuracy on 1,000 new problems, seconds of training)."""
    set_random_seed(seed)
    rng = np.random.default_rng(seed)
    questions, answers = problems(train_count, rng)
    x_encoder = one_hot(questions, CHARS, QUESTION_LEN)
    x_decoder = one_hot([START + a + END for a in answers], TARGET_CHARS, ANSWER_LEN + 1)
    y = one_hot([a + END for a in answers], TARGET_CHARS, ANSWER_LEN + 1)  # one step ahead
    model, encoder, decoder = build()
    start = time.perf_counter()
    model.fit([x_encoder, x_decoder], y, batch_size=128, epochs=epochs, validation_split=0.1, verbose=verbose)
    seconds = time.perf_counter() - start
    test_questions, test_answers = problems(1000, rng)
    got = decode(encoder, decoder, one_hot(test_questions, CHARS, QUESTION_LEN))
    accuracy = float(np.mean([g == a for g, a in zip(got, test_answers, strict=True)]))
    for question, answer in list(zip(test_questions, got, strict=True))[:3]:
        print(f"{question[::-1].strip()} = {answer}")
    return accuracy, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    accuracy, seconds = run(args.epochs)
    print(f"seq2seq addition: {100 * accuracy:.1f}% of 1,000 new sums exactly right after {args.epochs} "
          f"epochs ({seconds:.1f} s of training)")


if __name__ == "__main__":
    main()
