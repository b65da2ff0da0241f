"""Run under mpirun by test_data_parallel.py: `mpi_worker.py MODE OUT_DIR`.

equal:    every optimizer trains 2 epochs on this rank's slice of each global batch (rank 1's data is
          shorter, so it runs empty steps); rank 0 saves the initial and final weights and the logs.
batchnorm: a model with BatchNormalization and validation; every rank saves its weights.
files:    CSVLogger and ModelCheckpoint named by rank; EarlyStopping on the averaged val_loss.
api:      allreduce/broadcast/allgather, the learning-rate callbacks, broadcast_variables with a
          train_on_batch loop, load_model; rank 0 saves what it saw.
mismatch: rank 1 builds a wider model.
die:      rank 1 kills itself during the second batch.
hang:     rank 1 sleeps during the second batch.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

import graphc.distribute as hvd
from graphc.keras import Sequential, callbacks, layers, optimizers, utils

OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "rmsprop": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: optimizers.Adagrad(0.05),
    "adadelta": lambda: optimizers.Adadelta(1.0),
    "adam": lambda: optimizers.Adam(0.01, amsgrad=True),
    "adamax": lambda: optimizers.Adamax(0.01),
    "nadam": lambda: optimizers.Nadam(0.01, clipnorm=1.0),
}
BATCH = 6  # per rank; the global batch is BATCH * size


def data(count: int = 70) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(count, 5)).astype(np.float32)
    return x, rng.integers(0, 3, size=count).astype(np.float32)


def model(width: int = 8) -> Sequential:
    return Sequential([layers.Dense(width, activation="tanh", input_shape=(5,), kernel_regularizer="l2"),
                       layers.Dense(3, activation="softmax")])


def shard(count: int, rank: int, size: int) -> np.ndarray:
    """This rank's rows of every global batch, in order."""
    step = BATCH * size
    return np.concatenate([np.arange(start, min(start + step, count))[rank * BATCH:(rank + 1) * BATCH]
                           for start in range(0, count, step)])


def equal(out: Path) -> None:
    x, y = data()
    index = shard(len(x), hvd.rank(), hvd.size())
    results = {}
    for name, make in OPTIMIZERS.items():
        utils.set_random_seed(hvd.rank())  # different initial weights: fit must broadcast rank 0's
        net = model()
        initial = net.get_weights()
        net.compile(hvd.DistributedOptimizer(make()), "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = net.fit(x[index], y[index], batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        for i, weight in enumerate(initial):
            results[f"{name}/initial/{i}"] = weight
        for i, weight in enumerate(net.get_weights()):
            results[f"{name}/final/{i}"] = weight
        results[f"{name}/loss"] = np.array(history.history["loss"])
    if hvd.rank() == 0:
        np.savez(out / "equal.npz", **results)


def batchnorm(out: Path) -> None:
    x, y = data()
    utils.set_random_seed(hvd.rank())
    net = Sequential([layers.Dense(6, input_shape=(5,)), layers.BatchNormalization(),
                      layers.Activation("relu"), layers.Dense(3, activation="softmax")])
    net.compile(hvd.DistributedOptimizer(optimizers.Adam(0.01)), "sparse_categorical_crossentropy")
    index = shard(len(x), hvd.rank(), hvd.size())
    history = net.fit(x[index], y[index], batch_size=BATCH, epochs=2, validation_data=(x[:20 + hvd.rank()],
                      y[:20 + hvd.rank()]), verbose=0)
    np.savez(out / f"bn{hvd.rank()}.npz", *net.get_weights(), val_loss=np.array(history.history["val_loss"]))


def files(out: Path) -> None:
    x, y = data()
    net = model()
    net.compile(hvd.DistributedOptimizer(optimizers.SGD(0.01)), "sparse_categorical_crossentropy")
    rank = hvd.rank()
    history = net.fit(x, y, batch_size=BATCH, epochs=30, verbose=0, validation_data=(x[rank::2], y[rank::2]),
                      callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0),
                                 hvd.callbacks.MetricAverageCallback(),
                                 callbacks.EarlyStopping(patience=0, min_delta=1e9),
                                 callbacks.CSVLogger(str(out / f"log{rank}.csv")),
                                 callbacks.ModelCheckpoint(str(out / f"model{rank}.keras"))])
    (out / f"epochs{rank}.txt").write_text(str(len(history.history["loss"])))


def api(out: Path) -> None:
    rank, size = hvd.rank(), hvd.size()
    seen = {"allreduce": hvd.allreduce(np.array([rank, 10.0 * rank])),
            "allreduce_sum": hvd.allreduce(float(rank + 1), op=hvd.Sum),
            "broadcast": hvd.broadcast(np.array([rank + 5.0, 7.0]), root_rank=1),
            "allgather": hvd.allgather(np.full((rank + 1, 2), rank))}
    x, y = data(48)
    utils.set_random_seed(rank)
    net = model()
    net.compile(hvd.DistributedOptimizer(optimizers.SGD(0.1, momentum=0.9)),
                "sparse_categorical_crossentropy")
    hvd.broadcast_variables(net, root_rank=0)
    for start in range(rank * 4, 48, 8):
        net.train_on_batch(x[start:start + 4], y[start:start + 4])
    seen["loop_weights"] = np.concatenate([w.ravel() for w in net.get_weights()])
    rates = []
    probe = callbacks.LambdaCallback(on_batch_begin=lambda batch, logs: rates.append(
        float(net.optimizer.learning_rate)))
    warmup = hvd.callbacks.LearningRateWarmupCallback(initial_lr=0.4, warmup_epochs=2)
    schedule = hvd.callbacks.LearningRateScheduleCallback(initial_lr=0.4, multiplier=0.1, start_epoch=2)
    net.fit(x[rank::size], y[rank::size], batch_size=6, epochs=3, verbose=0,
            callbacks=[warmup, schedule, probe])
    seen["rates"] = np.array(rates)
    net.save(out / "api.keras")
    loaded = hvd.load_model(out / "api.keras")
    seen["reloaded_distributed"] = np.array(getattr(loaded.optimizer, "collective", None) is not None)
    np.savez(out / f"api{rank}.npz", **seen)


def mismatch(out: Path) -> None:
    x, y = data()
    net = model(width=8 + hvd.rank())
    net.compile(hvd.DistributedOptimizer(optimizers.SGD(0.01)), "sparse_categorical_crossentropy")
    net.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)


def failing(out: Path, mode: str) -> None:
    x, y = data()
    net = model()
    net.compile(hvd.DistributedOptimizer(optimizers.SGD(0.01)), "sparse_categorical_crossentropy")

    def stop(batch: int, logs: dict) -> None:
        if hvd.rank() == 1 and batch == 1:
            if mode == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(600)

    net.fit(x, y, batch_size=BATCH, epochs=1, verbose=0,
            callbacks=[callbacks.LambdaCallback(on_batch_begin=stop)])


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    hvd.init()
    if mode in ("die", "hang"):
        failing(out, mode)
    else:
        {"equal": equal, "batchnorm": batchnorm, "files": files, "mismatch": mismatch, "api": api}[mode](out)


if __name__ == "__main__":
    main()
