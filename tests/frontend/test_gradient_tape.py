"""Custom training loops: tf.GradientTape records the forward pass, tape.gradient runs compiled
native code, optimizer.apply_gradients the optimizer's compiled update. The loop takes the steps
train_on_batch takes, compiles once per structure, and behaves as TensorFlow's tape does."""

from __future__ import annotations

import numpy as np
import pytest

import graphc.keras as keras
from graphc import tf
from graphc.data import Dataset
from graphc.frontend import engine
from graphc.keras import layers as L
from graphc.keras import ops

RNG = np.random.default_rng(14)
X = RNG.normal(size=(24, 4)).astype(np.float32)
Y = RNG.integers(0, 3, size=24).astype(np.float32)
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _dense(dropout: float = 0.0) -> keras.Sequential:
    return keras.Sequential([L.Dense(6, activation="tanh", input_shape=(4,), kernel_regularizer="l2"),
                             L.Dropout(dropout), L.Dense(3)])


def _twins(build, optimizer) -> tuple[keras.Model, keras.Model]:
    """Two models with the same weights and random counter; the second compiled for train_on_batch."""
    keras.backend.clear_session()
    loop, compiled = build(), build()
    for model in (loop, compiled):
        model.build((None, 4))  # a subclassed model becomes its graph here
    compiled.set_weights(loop.get_weights())
    compiled.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loop.predict(X[:1], verbose=0)
    compiled._engine_for(X, Y)
    for model in (loop, compiled):
        model._engine.store.assign("rng/step", 5)
    return loop, compiled


def _step(model: keras.Model, optimizer, x: np.ndarray, y: np.ndarray) -> tf.Tensor:
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = LOSS(y, logits) + sum(model.losses)
    grads = tape.gradient(loss, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    return loss


class Residual(keras.Model):
    """A subclassed model with its own call: a residual block, arithmetic on its layers' outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = L.Dense(4, activation="relu")
        self.out = L.Dense(3)

    def call(self, inputs):
        return self.out(inputs + self.hidden(inputs) * 0.5)


def _functional() -> keras.Model:
    inputs = keras.Input((4,))
    hidden = L.Dense(5, activation="sigmoid", kernel_regularizer=keras.regularizers.l1(0.01))(inputs)
    return keras.Model(inputs, L.Dense(3)(L.concatenate([inputs, hidden])))


SGD, ADAM = keras.optimizers.SGD, keras.optimizers.Adam


@pytest.mark.parametrize(("build", "optimizer"), [(_dense, SGD), (_dense, ADAM), (lambda: _dense(0.5), SGD),
                                                  (lambda: _dense(0.5), ADAM), (_functional, ADAM),
                                                  (Residual, SGD)],
                         ids=["l2_dropout0-sgd", "l2_dropout0-adam", "dropout-sgd", "dropout-adam",
                              "functional-adam", "subclassed-sgd"])
def test_the_loop_takes_the_steps_train_on_batch_takes(build, optimizer) -> None:
    loop, compiled = _twins(build, optimizer(0.1))
    opt = optimizer(0.1)
    for start in (0, 8, 16):  # the masks of Dropout(0.5) too: the same counter, the same streams
        loss = _step(loop, opt, X[start:start + 8], Y[start:start + 8])
        assert float(loss) == pytest.approx(compiled.train_on_batch(X[start:start + 8], Y[start:start + 8]),
                                            rel=1e-6)
    for mine, theirs in zip(loop.get_weights(), compiled.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-7)
    assert opt.iterations == 3


@pytest.mark.parametrize("optimizer", [lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                                       lambda: keras.optimizers.Adagrad(0.1),
                                       lambda: keras.optimizers.Nadam(0.01),
                                       lambda: keras.optimizers.RMSprop(0.01, centered=True)],
                         ids=["nesterov", "adagrad", "nadam", "rmsprop"])
def test_every_optimizer_applies_the_update_of_its_compiled_step(optimizer) -> None:
    loop, compiled = _twins(_dense, optimizer())
    opt = optimizer()
    for _ in range(2):
        _step(loop, opt, X, Y)
        compiled.train_on_batch(X, Y)
    for mine, theirs in zip(loop.get_weights(), compiled.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-7)


def test_gradients_equal_finite_differences() -> None:
    keras.backend.clear_session()
    model = _dense()
    x, y = X[:8], RNG.normal(size=(8, 3)).astype(np.float32)

    def loss_of(weights: list[np.ndarray]) -> tuple[float, list[np.ndarray]]:
        model.set_weights(weights)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y)) + tf.add_n(model.losses)
        return float(loss), tape.gradient(loss, model.trainable_weights)

    start = model.get_weights()
    _, grads = loss_of(start)
    eps = 1e-2
    for index, grad in enumerate(grads):
        for position in list(np.ndindex(grad.shape))[:4]:
            up = [w.copy() for w in start]
            down = [w.copy() for w in start]
            up[index][position] += eps
            down[index][position] -= eps
            numeric = (loss_of(up)[0] - loss_of(down)[0]) / (2 * eps)
            assert grad[position] == pytest.approx(numeric, rel=2e-2, abs=2e-4)


def test_compiles_once_per_structure_and_other_batch_sizes_reuse_it(monkeypatch) -> None:
    built = []
    original = engine.build_recorded
    monkeypatch.setattr(engine, "build_recorded",
                        lambda *args, **kwargs: built.append(kwargs["name"]) or original(*args, **kwargs))
    keras.backend.clear_session()
    model = _dense()
    opt = keras.optimizers.Adam(0.01)
    accuracy = keras.metrics.SparseCategoricalAccuracy()
    for _ in range(2):
        for x, y in Dataset.from_tensor_slices((X, Y)).batch(10):  # batches of 10, 10 and 4
            loss = _step(model, opt, x, y)
        accuracy.update_state(y, model(x))
    assert built == ["sequential_tape_tape", "adam_apply_gradients", "sequential_predict"]
    assert opt.iterations == 6 and np.isfinite(float(loss)) and 0 <= accuracy.result() <= 1
    # the weights live where predict, fit and saving read them
    np.testing.assert_allclose(model.predict(X, verbose=0), _forward(model, X), rtol=1e-5, atol=1e-6)


def _forward(model: keras.Model, x: np.ndarray) -> np.ndarray:
    w1, b1, w2, b2 = model.get_weights()
    return np.tanh(x @ w1 + b1) @ w2 + b2


def test_values_are_tensors_and_numpy_and_weights_are_saved(tmp_path) -> None:
    keras.backend.clear_session()
    model = _dense()
    opt = keras.optimizers.SGD(0.5)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = LOSS(y, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss, logits

    loss, logits = train_step(X, Y)
    assert isinstance(loss.numpy(), np.ndarray) and loss.shape == () and logits.shape == (24, 3)
    assert f"{loss:.3f}" == f"{float(loss):.3f}"
    np.testing.assert_allclose(tf.reduce_mean(logits, axis=0).numpy(), logits.numpy().mean(axis=0), rtol=1e-6)
    eager = LOSS(Y, model(X))  # outside a tape, a loss object computes on arrays
    weighted = LOSS(Y, model(X), sample_weight=np.full(24, 2.0, np.float32))
    assert float(weighted) == pytest.approx(2 * float(eager), rel=1e-6)
    model.save_weights(tmp_path / "w.weights.h5")
    again = _dense()
    again.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))


def test_persistent_tapes_give_several_gradients_and_others_one() -> None:
    keras.backend.clear_session()
    model = _dense()
    with tf.GradientTape(persistent=True) as tape:
        logits = model(X)
        first = ops.mean(ops.square(logits))
        second = tf.reduce_sum(logits[:, 1:] * 2.0)
    kernel, bias = model.layers[-1].weights
    d_first = tape.gradient(first, kernel)
    d_second, = tape.gradient(second, [bias])
    hidden = np.tanh(X @ model.layers[0].get_weights()[0] + model.layers[0].get_weights()[1])
    np.testing.assert_allclose(d_first, hidden.T @ (2 * logits.numpy() / logits.numpy().size), rtol=1e-5)
    np.testing.assert_allclose(d_second, [0.0, 2.0 * len(X), 2.0 * len(X)], rtol=1e-6)
    with tf.GradientTape() as tape:
        loss = LOSS(Y, model(X))
    tape.gradient(loss, model.trainable_weights)
    with pytest.raises(RuntimeError, match="non-persistent GradientTape can only be used to compute one set"):
        tape.gradient(loss, model.trainable_weights)


def test_watch_gives_input_gradients_and_unwatched_sources_none() -> None:
    x = tf.constant([[1.0, -2.0], [3.0, 0.5]])
    unwatched = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(x * x) + tf.reduce_sum(unwatched)
    dx, dc = tape.gradient(y, [x, unwatched])
    np.testing.assert_allclose(dx, 2 * x.numpy())
    assert dc is None
    keras.backend.clear_session()
    model = keras.Sequential([L.Dense(2, input_shape=(2,), kernel_initializer="ones")])
    inputs = tf.convert_to_tensor(X[:3, :2])
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        out = model(inputs)
    np.testing.assert_allclose(tape.gradient(out, inputs), np.full((3, 2), 2.0))


def test_nested_sources_none_gradients_and_apply_skips_them() -> None:
    keras.backend.clear_session()
    model = _functional()
    unused = L.Dense(2)
    unused.build((None, 4))
    variable = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        loss = LOSS(Y, model(X)) * variable
    dense = model.layers[-1]
    grads = tape.gradient(loss, {"out": [dense.weights[0]], "other": (unused.weights[0], variable)})
    assert grads["other"][0] is None and grads["out"][0].shape == dense.weights[0].shape
    assert float(grads["other"][1]) == pytest.approx(float(loss) / 2.0, rel=1e-6)
    opt = keras.optimizers.SGD(1.0)
    before = unused.weights[0].numpy()
    with pytest.warns(UserWarning, match="Gradients do not exist for variables"):
        opt.apply_gradients([(grads["out"][0], dense.weights[0]), (None, unused.weights[0]),
                             (grads["other"][1], variable)])
    np.testing.assert_array_equal(unused.weights[0].numpy(), before)
    assert float(variable) == pytest.approx(2.0 - float(loss) / 2.0, rel=1e-6)
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        opt.apply_gradients([(None, unused.weights[0])])


def test_python_control_flow_on_a_recorded_value_is_a_clear_error() -> None:
    keras.backend.clear_session()
    model = _dense()
    with tf.GradientTape() as tape:
        loss = LOSS(Y, model(X))
        with pytest.raises(TypeError, match="Python control flow .* cannot be recorded"):
            if loss > 1.0:
                pass
    with pytest.raises(TypeError, match="target must be a tensor computed under this tape"):
        tape.gradient(np.float32(1.0), model.trainable_weights)
    assert bool(loss > 0.0)  # after the tape, a value like any other


def test_a_non_scalar_target_is_summed_as_tensorflow_does() -> None:
    keras.backend.clear_session()
    model = _dense()
    with tf.GradientTape(persistent=True) as tape:
        logits = model(X)
        total = tf.reduce_sum(logits)
    for mine, summed in zip(tape.gradient(logits, model.trainable_weights),
                            tape.gradient(total, model.trainable_weights), strict=True):
        np.testing.assert_allclose(mine, summed, rtol=1e-6)


def test_batch_normalization_updates_its_statistics_as_train_on_batch_does() -> None:
    def build() -> keras.Sequential:
        return keras.Sequential([L.Dense(5, input_shape=(4,)), L.BatchNormalization(), L.Dense(3)])

    loop, compiled = _twins(build, keras.optimizers.SGD(0.1))
    opt = keras.optimizers.SGD(0.1)
    for _ in range(2):
        _step(loop, opt, X, Y)
        compiled.train_on_batch(X, Y)
    for mine, theirs in zip(loop.get_weights(), compiled.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-7)


def test_tape_options_stop_recording_and_the_keras_spelling() -> None:
    assert keras.GradientTape is tf.GradientTape
    keras.backend.clear_session()
    model = _dense()
    kernel = model.layers[0].weights[0]
    with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
        tape.watch(kernel)
        logits = model(X)
        with tape.stop_recording():
            eager = tf.reduce_sum(logits)  # a value, not on the tape
        loss = tf.reduce_sum(logits * 0.5)
    assert tape.watched_variables() == [kernel]
    grads = tape.gradient(loss, model.trainable_weights, unconnected_gradients="zero")
    assert grads[0].any() and not any(g.any() for g in grads[1:])  # only the watched weight
    assert float(eager) == pytest.approx(float(loss) * 2, rel=1e-5)
    with pytest.raises(TypeError, match="target must be a tensor computed under this tape"):
        tape.gradient(eager, kernel)


def test_two_tapes_open_together_record_one_step_for_each_model() -> None:
    keras.backend.clear_session()
    generator = keras.Sequential([L.Dense(4, input_shape=(2,))])
    critic = keras.Sequential([L.Dense(1, input_shape=(4,))])
    noise = RNG.normal(size=(6, 2)).astype(np.float32)
    with tf.GradientTape() as gen_tape, tf.GradientTape() as critic_tape:
        fake = generator(noise, training=True)
        score = critic(fake, training=True)
        gen_loss = -tf.reduce_mean(score)
        critic_loss = tf.reduce_mean(score) + tf.reduce_mean(tf.square(critic(X[:6], training=True)))
    gen_grads = gen_tape.gradient(gen_loss, generator.trainable_weights)
    critic_grads = critic_tape.gradient(critic_loss, critic.trainable_weights)
    kernel = critic.get_weights()[0][:, 0]
    np.testing.assert_allclose(gen_grads[1], -kernel, rtol=1e-5)
    assert [g.shape for g in critic_grads] == [(4, 1), (1,)]
