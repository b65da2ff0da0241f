"""`graphc compile`: a saved model in, a deployable folder out; errors as messages and exit code 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from graphc_runtime.deploy import load

from graphc.cli import main
from graphc.keras.layers import LSTM, Dense
from graphc.keras.models import Sequential

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")


def test_compile_a_saved_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    model.save(tmp_path / "m.h5")
    out = tmp_path / "out"
    argv = ["compile", str(tmp_path / "m.h5"), str(out), "--name", "tiny", "--target", "generic",
            "--weights", "file", "--with-training"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "x86-64" in printed and "libtiny.so" in printed and "tiny.weights" in printed
    assert {p.name for p in out.iterdir()} >= {"libtiny.so", "tiny.o", "tiny.h", "tiny.manifest.json",
                                                "tiny.weights"}
    deployed = load(out)
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_allclose(deployed.predict(x), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert set(deployed.train_step(x, np.ones((4, 2), np.float32))) == {"loss"}


def test_compile_a_saved_stateful_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """batch_input_shape and stateful=True survive the .h5; the build carries and resets the states."""
    model = Sequential([LSTM(3, stateful=True, batch_input_shape=(2, 4, 2)), Dense(1)])
    model.save(tmp_path / "m.h5")
    assert main(["compile", str(tmp_path / "m.h5"), str(tmp_path / "out"), "--name", "rnn"]) == 0
    assert "stateful: every call takes batch 2; the context carries 2 states" in capsys.readouterr().out
    deployed = load(tmp_path / "out")
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 4, 2)
    first = deployed.predict(x)
    np.testing.assert_array_equal(first, model.predict_on_batch(x))
    np.testing.assert_array_equal(deployed.predict(x), model.predict_on_batch(x))
    deployed.reset_states()
    np.testing.assert_array_equal(deployed.predict(x), first)


def test_compile_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(tmp_path / "missing.h5"), str(tmp_path / "out")]) == 1
    assert "no file" in capsys.readouterr().err
    (tmp_path / "bad.h5").write_bytes(b"\0" * 64)
    assert main(["compile", str(tmp_path / "bad.h5"), str(tmp_path / "out")]) == 1
    assert "not a readable HDF5 file" in capsys.readouterr().err


def test_the_output_folder_may_be_given_with_o(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = Sequential([Dense(2, input_shape=(3,))])
    model.save(tmp_path / "m.h5")
    assert main(["compile", str(tmp_path / "m.h5"), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "libmodel.so").is_file()
    assert main(["compile", str(tmp_path / "m.h5"), str(tmp_path / "a"), "-o", str(tmp_path / "b")]) == 2
    assert "once" in capsys.readouterr().err
