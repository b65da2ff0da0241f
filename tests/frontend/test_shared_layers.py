"""Models that share layers share their weights, as Keras's do: an encoder extracted from a trained
autoencoder (or seq2seq inference models) sees the later training of the model it came from, and
get_weights and saving read the values training writes, whichever model compiled last."""

from __future__ import annotations

import numpy as np

from graphc.keras import Input, Model, backend, layers

RNG = np.random.default_rng(12)
X = RNG.normal(size=(32, 6)).astype(np.float32)


def test_a_sub_model_and_its_parent_share_one_value_per_weight() -> None:
    backend.clear_session()
    inputs = Input((6,))
    code = layers.Dense(3, activation="tanh", name="code")(inputs)
    autoencoder = Model(inputs, layers.Dense(6, name="decode")(code))
    autoencoder.compile("adam", "mse")
    autoencoder.fit(X, X, epochs=2, batch_size=8, verbose=0)
    encoder = Model(inputs, code)
    before = encoder.predict(X, verbose=0)
    autoencoder.fit(X, X, epochs=2, batch_size=8, verbose=0)  # trains after the encoder compiled
    kernel, bias = autoencoder.get_layer("code").get_weights()
    after = encoder.predict(X, verbose=0)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, np.tanh(X @ kernel + bias), rtol=1e-5, atol=1e-6)
    decode_kernel, decode_bias = autoencoder.get_layer("decode").get_weights()
    np.testing.assert_allclose(autoencoder.predict(X, verbose=0), after @ decode_kernel + decode_bias,
                               rtol=1e-5, atol=1e-5)
    encoder.get_layer("code").set_weights([np.zeros_like(kernel), np.zeros_like(bias)])
    np.testing.assert_allclose(autoencoder.predict(X, verbose=0), np.broadcast_to(decode_bias, X.shape),
                               rtol=1e-6)


def test_recompiling_keeps_the_trained_values() -> None:
    backend.clear_session()
    model = Model(inputs := Input((6,)), layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    model.fit(X, X[:, :1], epochs=1, verbose=0)
    trained = model.get_weights()
    model.compile("adam", "mse")
    np.testing.assert_array_equal(model.get_weights()[0], trained[0])
    model.fit(X, X[:, :1], epochs=1, verbose=0)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(model.predict(X, verbose=0), X @ kernel + bias, rtol=1e-5, atol=1e-6)
