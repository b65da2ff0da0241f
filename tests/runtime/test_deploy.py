"""The deployment runtime loads an AOT folder with numpy alone: no compiler packages, even a fresh venv."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from graphc.build.aot import compile_model
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
X = np.linspace(-2, 2, 24, dtype=np.float32).reshape(4, 6)

# Runs in a child process: refuses every compiler-side package, loads the folder, prints predictions.
CHILD = r"""
import importlib.abc, json, sys
BLOCKED = {"graphc", "llvmlite", "networkx", "graphviz", "h5py", "yaml"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} must not be imported by the deployment runtime")
sys.meta_path.insert(0, Block())
import numpy as np
from graphc_runtime.deploy import load
model = load(sys.argv[1])
x = np.array(json.loads(sys.argv[2]), dtype=np.float32)
print(json.dumps(model.predict(x).tolist()))
print(sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    model = Sequential([Dense(8, activation="relu", input_shape=(6,)), Dense(3, activation="softmax")])
    out = tmp_path_factory.mktemp("deploy") / "build"
    compile_model(model, out, name="clf")
    return out, model.predict(X, verbose=0)


def _run_child(python: str, out: Path, env_path: str | None) -> list[str]:
    env = {"PYTHONPATH": env_path} if env_path else {}
    done = subprocess.run([python, "-c", CHILD, str(out), json.dumps(X.tolist())], capture_output=True,
                          text=True, check=False, env={"PATH": "/usr/bin:/bin", **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_runtime_imports_only_numpy(built: tuple[Path, np.ndarray]) -> None:
    out, expected = built
    predictions, leaked = _run_child(sys.executable, out, str(RUNTIME))
    np.testing.assert_array_equal(np.array(json.loads(predictions), dtype=np.float32), expected)
    assert leaked == "[]"


@pytest.mark.slow
def test_fresh_virtualenv_with_numpy_and_the_runtime(built: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    out, expected = built
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "numpy"], check=True)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    shutil.copytree(RUNTIME / "graphc_runtime", Path(site) / "graphc_runtime",
                    ignore=shutil.ignore_patterns("__pycache__"))
    listing = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                             check=True).stdout
    assert {p["name"].lower() for p in json.loads(listing)} <= {"numpy", "pip", "setuptools"}
    predictions, leaked = _run_child(python, out, None)
    np.testing.assert_array_equal(np.array(json.loads(predictions), dtype=np.float32), expected)
