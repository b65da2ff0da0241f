"""examples/deploy_c: train and compile an MNIST MLP, build the C classifier with cc, run it."""

from __future__ import annotations

import runpy
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from graphc_runtime.deploy import load

from graphc.frontend.datasets import load_mnist_subset
from graphc.keras.models import load_model

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "deploy_c"


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_c_program_classifies_like_the_model(tmp_path: Path) -> None:
    script = runpy.run_path(str(EXAMPLE / "train_and_compile.py"))
    out = script["main"](tmp_path / "build", epochs=1, images=20, verbose=0)
    exe = tmp_path / "classify"
    subprocess.run(["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{out}", "-o", str(exe),
                    str(EXAMPLE / "classify.c"), f"-L{out}", "-lmnist", f"-Wl,-rpath,{out}"], check=True)
    done = subprocess.run([str(exe), str(out / "test-images-idx3-ubyte"), str(out / "test-labels-idx1-ubyte"),
                           "--dump", "--time", "10"], capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    probabilities = np.array([[float(v) for v in line.split(":")[1].split()] for line in lines
                              if line.startswith("probabilities")], dtype=np.float32)
    _, (x_test, y_test) = load_mnist_subset()
    x = x_test[:20] / np.float32(255)
    model = load_model(out / "mnist.h5")
    np.testing.assert_array_equal(probabilities, model.predict(x, verbose=0))
    np.testing.assert_array_equal(probabilities, load(out).predict(x))
    correct = int(np.sum(probabilities.argmax(axis=1) == y_test[:20]))
    assert f"accuracy: {correct}/20" in lines and correct >= 14
    assert lines[0].startswith("image 0: predicted ")
    assert any(line.startswith("batch-1 latency") for line in lines)
