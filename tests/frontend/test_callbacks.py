"""Callbacks driven by hand on a fake model; expected values and messages follow the K3 sources."""

import math
import re
from types import SimpleNamespace

import numpy as np
import pytest

from graphc.frontend.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgbarLogger,
    TerminateOnNaN,
)

ANSI = re.compile(r"\x1b\[\d+m")


class FakeModel:
    """The attributes callbacks use: weights, optimizer, stop flag, save functions."""

    def __init__(self, learning_rate: float = 0.01) -> None:
        self.stop_training = False
        self.optimizer = SimpleNamespace(learning_rate=learning_rate)
        self.weights = [np.zeros(2)]
        self.saved: list[tuple[str, str]] = []
        self.restored: list[list[np.ndarray]] = []
        self.metrics_names = ["loss"]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.restored.append(weights)
        self.weights = [w.copy() for w in weights]

    def save_weights(self, path):
        self.saved.append(("weights", path))

    def save(self, path):
        self.saved.append(("model", path))


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, dict(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs)))


def run_epochs(callbacks, model, values, key="val_loss"):
    """Drives fit's epoch hooks; epoch e reports values[e] and the model's weights become [e, e]."""
    callback_list = CallbackList(callbacks, model=model, epochs=len(values), steps=1, verbose=0)
    callback_list.on_train_begin()
    for epoch, value in enumerate(values):
        callback_list.on_epoch_begin(epoch)
        model.weights = [np.full(2, float(epoch))]
        callback_list.on_epoch_end(epoch, {key: value})
        if model.stop_training:
            break
    callback_list.on_train_end()
    return epoch


# -- CallbackList and History ----------------------------------------------------------------

def test_history_records_epoch_logs_and_attaches_to_model():
    model = FakeModel()
    callback_list = CallbackList(None, add_history=True, model=model)
    history = callback_list.callbacks[0]
    callback_list.on_train_begin()
    callback_list.on_epoch_end(0, {"accuracy": 0.5, "loss": 0.7})
    callback_list.on_epoch_end(1, {"accuracy": 0.6, "loss": 0.6})
    assert isinstance(history, History)
    assert history.history == {"accuracy": [0.5, 0.6], "loss": [0.7, 0.6]}
    assert history.epoch == [0, 1]
    assert model.history is history and history.model is model


def test_default_callbacks_come_after_the_users_in_k3_order():
    user = Recorder()
    callback_list = CallbackList([user], add_history=True, add_progbar=True, model=FakeModel(),
                                 epochs=2, steps=3, verbose=0)
    assert [type(c) for c in callback_list.callbacks] == [Recorder, History, ProgbarLogger]
    assert all(c.params == {"epochs": 2, "steps": 3, "verbose": 0} for c in callback_list.callbacks)
    existing = History()
    assert CallbackList([existing], add_history=True).callbacks == [existing]


def test_history_sees_the_learning_rate_written_by_the_scheduler():
    model = FakeModel(learning_rate=0.1)
    callback_list = CallbackList([LearningRateScheduler(lambda epoch, lr: lr / 2)], add_history=True,
                                 model=model)
    callback_list.on_train_begin()
    for epoch in range(2):
        callback_list.on_epoch_begin(epoch)
        callback_list.on_epoch_end(epoch, {"loss": 1.0})
    assert model.history.history == {"loss": [1.0, 1.0], "learning_rate": [0.05, 0.025]}


def test_batch_logs_are_sorted_python_floats_and_reach_on_batch_end():
    recorder = Recorder()
    callback_list = CallbackList([recorder])
    callback_list.on_train_batch_end(0, {"loss": np.float32(0.25), "accuracy": np.float64(0.5)})
    name, batch, logs = recorder.calls[0]
    assert (name, batch) == ("batch_end", 0)
    assert list(logs) == ["accuracy", "loss"]
    assert all(type(v) is float for v in logs.values()) and logs["loss"] == 0.25


def test_callback_list_rejects_non_callbacks():
    with pytest.raises(TypeError, match=r"callbacks\[1\] must be a Callback instance, got int"):
        CallbackList([Recorder(), 3])


def test_single_callback_is_accepted():
    recorder = Recorder()
    assert CallbackList(recorder).callbacks == [recorder]


# -- ProgbarLogger ----------------------------------------------------------------------------

def run_fit_display(epochs, steps, verbose, capsys):
    callback_list = CallbackList(None, add_progbar=True, epochs=epochs, steps=steps, verbose=verbose)
    callback_list.on_train_begin()
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        for step in range(steps):
            callback_list.on_train_batch_end(step, {"loss": 0.7, "accuracy": 0.5})
        callback_list.on_test_begin()  # validation inside fit is silent
        callback_list.on_test_batch_end(0, {"loss": 9.0})
        callback_list.on_test_end({"loss": 9.0})
        callback_list.on_epoch_end(epoch, {"accuracy": 0.5375, "loss": 0.6957, "val_accuracy": 0.5,
                                           "val_loss": 0.6752})
    callback_list.on_train_end()
    return ANSI.sub("", capsys.readouterr().out)


def final_lines(text):
    return [line.split("\r")[-1] for line in text.split("\n") if line]


STEP = r"\d+(s|ms|us)/step"


def test_progbar_logger_fit_two_epochs(capsys):
    lines = final_lines(run_fit_display(2, 3, 1, capsys))
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    bar = (r"3/3 ━{20} \d+s " + STEP
           + " - accuracy: 0.5375 - loss: 0.6957 - val_accuracy: 0.5000 - val_loss: 0.6752")
    assert re.fullmatch(bar, lines[1]) and re.fullmatch(bar, lines[3])


def test_progbar_logger_single_epoch_has_no_epoch_line(capsys):
    text = run_fit_display(1, 2, 1, capsys)
    assert "Epoch" not in text
    assert len(final_lines(text)) == 1


def test_progbar_logger_verbose2_one_line_per_epoch(capsys):
    text = run_fit_display(2, 4, 2, capsys)
    lines = text.split("\n")
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and lines[4] == ""
    assert re.fullmatch(r"4/4 - \d+s - " + STEP + " - accuracy: 0.5375 - loss: 0.6957 - val_accuracy: 0.5000 "
                        r"- val_loss: 0.6752", lines[1])


def test_progbar_logger_evaluate_and_predict(capsys):
    callback_list = CallbackList(None, add_progbar=True, epochs=1, steps=2, verbose=1)
    callback_list.on_test_begin()
    callback_list.on_test_batch_end(0, {"loss": 0.5})
    callback_list.on_test_batch_end(1, {"loss": 0.4})
    callback_list.on_test_end({"loss": 0.4})
    callback_list.on_predict_begin()
    callback_list.on_predict_batch_end(0, {"outputs": 1.0})
    callback_list.on_predict_batch_end(1, {"outputs": 1.0})
    callback_list.on_predict_end()
    lines = final_lines(ANSI.sub("", capsys.readouterr().out))
    assert re.fullmatch(r"2/2 ━{20} \d+s " + STEP + " - loss: 0.4000", lines[0])
    assert re.fullmatch(r"2/2 ━{20} \d+s " + STEP, lines[1])


# -- EarlyStopping ----------------------------------------------------------------------------

def test_early_stopping_patience_and_restore(capsys):
    model = FakeModel()
    stopper = EarlyStopping(patience=2, verbose=1, restore_best_weights=True)
    last = run_epochs([stopper], model, [1.0, 0.9, 0.95, 0.97, 0.5])
    assert last == 3 and stopper.stopped_epoch == 3 and stopper.best == 0.9
    assert capsys.readouterr().out == ("Epoch 4: early stopping\n"
                                       "Restoring model weights from the end of the best epoch: 2.\n")
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])


def test_early_stopping_patience_zero_stops_at_the_first_non_improvement():
    model = FakeModel()
    assert run_epochs([EarlyStopping()], model, [1.0, 0.9, 0.9, 0.1]) == 2
    assert model.restored == []


def test_early_stopping_accuracy_is_maximized_in_auto_mode():
    assert run_epochs([EarlyStopping(monitor="accuracy", patience=1)], FakeModel(), [0.5, 0.6, 0.55, 0.9],
                      key="accuracy") == 2


def test_early_stopping_min_delta():
    # 0.95 is not 0.1 better than 1.0, so it is no improvement; with min_delta=0 training goes on.
    assert run_epochs([EarlyStopping(min_delta=0.1)], FakeModel(), [1.0, 0.95, 0.5]) == 1
    assert run_epochs([EarlyStopping()], FakeModel(), [1.0, 0.95, 0.5]) == 2


def test_early_stopping_baseline_keeps_patience_running():
    values = [0.8, 0.9, 0.9, 0.9]
    assert run_epochs([EarlyStopping(patience=2, baseline=0.5)], FakeModel(), values) == 1
    assert run_epochs([EarlyStopping(patience=2)], FakeModel(), values) == 2


def test_early_stopping_start_from_epoch():
    assert run_epochs([EarlyStopping(start_from_epoch=2)], FakeModel(), [1.0, 2.0, 3.0, 4.0, 5.0]) == 3


def test_early_stopping_missing_metric_warns_and_continues():
    with pytest.warns(UserWarning, match="`val_loss` which is not available. Available metrics are: loss"):
        assert run_epochs([EarlyStopping()], FakeModel(), [1.0, 2.0], key="loss") == 1


def test_early_stopping_unknown_direction_and_mode():
    with pytest.raises(ValueError, match="monitor=val_weird"):
        run_epochs([EarlyStopping(monitor="val_weird")], FakeModel(), [1.0], key="val_weird")
    with pytest.warns(UserWarning, match="mode 'sideways' is unknown"):
        stopper = EarlyStopping(mode="sideways")
    assert stopper.mode == "auto"
    assert run_epochs([EarlyStopping(monitor="val_weird", mode="max")], FakeModel(), [1.0, 0.5],
                      key="val_weird") == 1


def test_early_stopping_uses_a_metric_direction_from_the_model():
    model = FakeModel()
    model.metrics = [SimpleNamespace(name="compile_metrics",
                                     metrics=[SimpleNamespace(name="score", _direction="up")])]
    assert run_epochs([EarlyStopping(monitor="score")], model, [1.0, 2.0, 1.5], key="score") == 2


# -- LearningRateScheduler ----------------------------------------------------------------------

def test_scheduler_two_argument_form_and_message(capsys):
    model = FakeModel(learning_rate=0.1)
    run_epochs([LearningRateScheduler(lambda epoch, lr: lr * 0.5, verbose=1)], model, [1.0, 1.0, 1.0])
    assert model.optimizer.learning_rate == pytest.approx(0.0125)
    assert capsys.readouterr().out == ("\nEpoch 1: LearningRateScheduler setting learning rate to 0.05.\n"
                                       "\nEpoch 2: LearningRateScheduler setting learning rate to 0.025.\n"
                                       "\nEpoch 3: LearningRateScheduler setting learning rate to 0.0125.\n")


def test_scheduler_one_argument_form_sees_zero_based_epochs():
    model = FakeModel()
    seen = []

    def schedule(epoch):
        seen.append(epoch)
        return 0.1 / (1 + epoch)

    logs = {}
    scheduler = LearningRateScheduler(schedule)
    scheduler.set_model(model)
    for epoch in range(3):
        scheduler.on_epoch_begin(epoch)
    scheduler.on_epoch_end(2, logs)
    assert seen == [0, 1, 2]
    assert model.optimizer.learning_rate == pytest.approx(0.1 / 3)
    assert logs == {"learning_rate": pytest.approx(0.1 / 3)}


def test_step_decay_schedule_of_the_tutorials():
    model = FakeModel(learning_rate=0.1)
    scheduler = LearningRateScheduler(lambda epoch: 0.1 * 0.5 ** math.floor((1 + epoch) / 10))
    scheduler.set_model(model)
    rates = []
    for epoch in range(21):
        scheduler.on_epoch_begin(epoch)
        rates.append(model.optimizer.learning_rate)
    assert rates[8] == 0.1 and rates[9] == 0.05 and rates[19] == 0.025


def test_scheduler_rejects_non_float_results():
    scheduler = LearningRateScheduler(lambda epoch: 1)
    scheduler.set_model(FakeModel())
    with pytest.raises(ValueError, match="should be a float. Got: 1"):
        scheduler.on_epoch_begin(0)
    with pytest.raises(TypeError, match="callable"):
        LearningRateScheduler(0.1)


# -- ModelCheckpoint ----------------------------------------------------------------------------

def test_checkpoint_save_best_only_messages_and_paths(tmp_path, capsys):
    model = FakeModel()
    pattern = str(tmp_path / "ckpt" / "w-{epoch:02d}-{val_loss:.2f}.weights.h5")
    checkpoint = ModelCheckpoint(pattern, verbose=1, save_best_only=True, save_weights_only=True)
    run_epochs([checkpoint], model, [0.5, 0.6, 0.4])
    first = str(tmp_path / "ckpt" / "w-01-0.50.weights.h5")
    third = str(tmp_path / "ckpt" / "w-03-0.40.weights.h5")
    assert model.saved == [("weights", first), ("weights", third)]
    assert (tmp_path / "ckpt").is_dir()
    assert capsys.readouterr().out == (
        f"\nEpoch 1: val_loss improved from None to 0.50000, saving model to {first}\n"
        f"\nEpoch 1: finished saving model to {first}\n"
        "\nEpoch 2: val_loss did not improve from 0.50000\n"
        f"\nEpoch 3: val_loss improved from 0.50000 to 0.40000, saving model to {third}\n"
        f"\nEpoch 3: finished saving model to {third}\n")


def test_checkpoint_every_epoch_saves_the_model(tmp_path, capsys):
    model = FakeModel()
    run_epochs([ModelCheckpoint(str(tmp_path / "m-{epoch}.keras"), verbose=1)], model, [0.5, 0.6])
    assert model.saved == [("model", str(tmp_path / "m-1.keras")), ("model", str(tmp_path / "m-2.keras"))]
    assert capsys.readouterr().out.startswith(f"\nEpoch 1: saving model to {tmp_path / 'm-1.keras'}\n")


def test_checkpoint_accuracy_is_maximized_and_threshold_applies(tmp_path):
    model = FakeModel()
    checkpoint = ModelCheckpoint(str(tmp_path / "best.h5"), monitor="val_accuracy", save_best_only=True,
                                 initial_value_threshold=0.55)
    run_epochs([checkpoint], model, [0.5, 0.6, 0.58, 0.7], key="val_accuracy")
    assert len(model.saved) == 2 and checkpoint.best == 0.7


def test_checkpoint_save_freq_in_batches(tmp_path):
    model = FakeModel()
    checkpoint = ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.weights.h5"), save_freq=2,
                                 save_weights_only=True)
    callback_list = CallbackList([checkpoint], model=model)
    for epoch in range(2):
        callback_list.on_epoch_begin(epoch)
        for batch in range(3):
            callback_list.on_train_batch_end(batch, {"loss": 1.0})
        callback_list.on_epoch_end(epoch, {"loss": 1.0})
    names = [path.rsplit("/", 1)[-1] for _, path in model.saved]
    # 6 batches in all, counted across the epoch boundary: saves after the 2nd, 4th and 6th.
    assert names == ["e1-b2.weights.h5", "e2-b1.weights.h5", "e2-b3.weights.h5"]


def test_checkpoint_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="must end in `.keras`, `.h5` or `.weights.h5`"):
        ModelCheckpoint(str(tmp_path / "model.ckpt"))
    ModelCheckpoint(str(tmp_path / "weights-{epoch:02d}-{loss:.4f}.hdf5"))  # Keras 2's tutorials
    with pytest.raises(ValueError, match="Unrecognized save_freq: often"):
        ModelCheckpoint(str(tmp_path / "m.keras"), save_freq="often")
    checkpoint = ModelCheckpoint(str(tmp_path / "m-{val_acc:.2f}.keras"))
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        run_epochs([checkpoint], FakeModel(), [0.5])


def test_checkpoint_missing_monitor_warns_and_saves(tmp_path):
    model = FakeModel()
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        run_epochs([ModelCheckpoint(str(tmp_path / "m.keras"), save_best_only=True)], model, [1.0],
                   key="loss")
    assert len(model.saved) == 1


# -- LambdaCallback, CSVLogger, TerminateOnNaN --------------------------------------------------

def test_lambda_callback_hooks():
    seen = []
    callback = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(("epoch", epoch, logs["loss"])),
                              on_train_batch_end=lambda batch, logs: seen.append(("batch", batch)),
                              on_test_end=lambda logs: seen.append(("test_end",)))
    callback_list = CallbackList([callback])
    callback_list.on_train_batch_end(4, {"loss": 1.0})
    callback_list.on_epoch_end(1, {"loss": 2.0})
    callback_list.on_test_end()
    assert seen == [("batch", 4), ("epoch", 1, 2.0), ("test_end",)]
    with pytest.raises(TypeError, match="unknown hook 'on_lunch'"):
        LambdaCallback(on_lunch=print)


def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    model = FakeModel()
    model.metrics_names = ["loss", "val_loss"]

    def train(logger, epochs):
        callback_list = CallbackList([logger], model=model)
        callback_list.on_train_begin()
        for epoch in epochs:
            callback_list.on_epoch_end(epoch, {"loss": 0.5 + epoch, "accuracy": 0.25, "vec": [1, 2]})
        callback_list.on_train_end()

    train(CSVLogger(path), [0, 1])
    assert path.read_bytes().decode() == ('epoch,accuracy,loss,vec,val_loss\r\n'
                                '0,0.25,0.5,"""[1, 2]""",NA\r\n1,0.25,1.5,"""[1, 2]""",NA\r\n')
    train(CSVLogger(path, separator=";", append=True), [2])
    assert path.read_text().splitlines()[-1] == '2;0.25;2.5;"""[1, 2]""";NA'
    assert path.read_text().count("epoch") == 1


def test_terminate_on_nan(capsys):
    model = FakeModel()
    callback_list = CallbackList([TerminateOnNaN()], model=model)
    callback_list.on_train_batch_end(2, {"loss": 1.0})
    assert not model.stop_training
    callback_list.on_train_batch_end(3, {"loss": float("nan")})
    assert model.stop_training
    assert capsys.readouterr().out == "Batch 3: Invalid loss, terminating training\n"
    strict = TerminateOnNaN(raise_error=True)
    strict.set_model(FakeModel())
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 0"):
        strict.on_train_batch_end(0, {"loss": float("inf")})
