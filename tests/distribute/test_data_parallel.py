"""Data-parallel training on 2 MPI ranks of this machine (mpirun in a subprocess, so a crash or a
hang fails a test instead of the run): the weights after every optimizer's steps equal a single
process's on the same global batches; ranks agree on logs and decisions; rank 0 alone writes
files; a rank that dies, hangs or builds another model stops the job with a clear error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from graphc.keras import backend, layers, models

pytest.importorskip("mpi4py")
WORKER = Path(__file__).with_name("mpi_worker.py")
MPIRUN = shutil.which("mpirun", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
pytestmark = pytest.mark.skipif(MPIRUN is None, reason="no mpirun (pip install 'graphc[mpi]')")
sys.path.insert(0, str(WORKER.parent))
import mpi_worker  # noqa: E402


def _run(mode: str, out: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MPIRUN, "-n", "2", sys.executable, str(WORKER), mode, str(out)],
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})


def test_every_optimizer_matches_a_single_process_on_the_same_global_batches(tmp_path: Path) -> None:
    run = _run("equal", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    saved = np.load(tmp_path / "equal.npz")
    x, y = mpi_worker.data()
    for name, make in mpi_worker.OPTIMIZERS.items():
        backend.clear_session()
        net = mpi_worker.model()
        net.set_weights([saved[f"{name}/initial/{i}"] for i in range(4)])  # rank 0's: what fit broadcast
        net.compile(make(), "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = net.fit(x, y, batch_size=2 * mpi_worker.BATCH, epochs=2, shuffle=False, verbose=0)
        for i, weight in enumerate(net.get_weights()):
            np.testing.assert_allclose(saved[f"{name}/final/{i}"], weight, rtol=2e-4, atol=2e-5,
                                       err_msg=f"{name} weight {i}")
        np.testing.assert_allclose(saved[f"{name}/loss"], history.history["loss"], rtol=1e-5, err_msg=name)


def test_batch_statistics_and_validation_logs_agree_across_ranks(tmp_path: Path) -> None:
    run = _run("batchnorm", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    rank0, rank1 = np.load(tmp_path / "bn0.npz"), np.load(tmp_path / "bn1.npz")
    assert set(rank0.files) == set(rank1.files)
    for key in rank0.files:  # weights, BN moving statistics (averaged each epoch) and val_loss
        np.testing.assert_array_equal(rank0[key], rank1[key], err_msg=key)
    # the validation loss is the mean over both ranks' validation sets (20 and 21 samples)
    x, y = mpi_worker.data()
    backend.clear_session()
    net = models.Sequential([layers.Dense(6, input_shape=(5,)), layers.BatchNormalization(),
                             layers.Activation("relu"), layers.Dense(3, activation="softmax")])
    net.set_weights([rank0[f"arr_{i}"] for i in range(8)])
    net.compile("adam", "sparse_categorical_crossentropy")
    both = np.concatenate([np.arange(20), np.arange(21)])
    assert rank0["val_loss"][-1] == pytest.approx(net.evaluate(x[both], y[both], verbose=0), rel=1e-5)


def test_rank_zero_writes_the_files_and_every_rank_stops_together(tmp_path: Path) -> None:
    run = _run("files", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "log0.csv").exists() and (tmp_path / "model0.keras").exists()
    assert not (tmp_path / "log1.csv").exists() and not (tmp_path / "model1.keras").exists()
    # EarlyStopping(patience=0, min_delta huge) stops after epoch 2 on both ranks: the same logs
    assert (tmp_path / "epochs0.txt").read_text() == (tmp_path / "epochs1.txt").read_text() == "2"


def test_ranks_with_different_models_fail_at_the_start(tmp_path: Path) -> None:
    run = _run("mismatch", tmp_path)
    assert run.returncode != 0
    assert "every rank must build the same model" in run.stderr


@pytest.mark.parametrize("mode", ["die", "hang"])
def test_a_rank_that_dies_or_hangs_stops_the_job_within_the_timeout(tmp_path: Path, mode: str) -> None:
    run = _run(mode, tmp_path, timeout=60, GRAPHC_DISTRIBUTED_TIMEOUT="3")
    assert run.returncode != 0
    if mode == "hang":
        assert "did not complete within 3 s" in run.stderr


def test_horovod_api_collectives_callbacks_and_loops(tmp_path: Path) -> None:
    run = _run("api", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    rank0, rank1 = np.load(tmp_path / "api0.npz"), np.load(tmp_path / "api1.npz")
    for seen in (rank0, rank1):
        np.testing.assert_array_equal(seen["allreduce"], [0.5, 5.0])  # mean of [0, 0] and [1, 10]
        assert float(seen["allreduce_sum"]) == 3.0
        np.testing.assert_array_equal(seen["broadcast"], [6.0, 7.0])  # rank 1's
        np.testing.assert_array_equal(seen["allgather"], [[0, 0], [1, 1], [1, 1]])
        # Horovod's warmup: lr = 0.4 / 2 * (e * (2 - 1) / 2 + 1), e = epoch + (batch + 1) / 4 steps;
        # then the schedule's constant factor 0.1 from epoch 2
        warmup = [0.2 * (e / 2 + 1) for e in np.arange(1, 9) / 4]
        np.testing.assert_allclose(seen["rates"], warmup + [0.04] * 4, rtol=1e-6)
        assert bool(seen["reloaded_distributed"])
    # a train_on_batch loop after broadcast_variables keeps the ranks equal
    np.testing.assert_array_equal(rank0["loop_weights"], rank1["loop_weights"])
