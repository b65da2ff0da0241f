"""An AOT folder is checked before use: manifests against the library, paths, labels; and threads.

Tampering cases run the loader in a child process, so a crash fails the test and not the run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from graphc_runtime.deploy import load

from graphc.build.aot import compile_model
from graphc.keras import backend
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
ROOT = Path(__file__).resolve().parents[2]
X = np.linspace(-2, 2, 64, dtype=np.float32).reshape(8, 8)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    backend.clear_session()
    model = Sequential([Dense(16, activation="relu", input_shape=(8,)), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    out = tmp_path_factory.mktemp("trust") / "build"
    compile_model(model, out, name="clf", with_training=True)
    return out


def _copy(built: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "copy"
    shutil.copytree(built, folder)
    return folder


def _edit(folder: Path, change) -> None:
    path = folder / "clf.manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


LOADER = """
import sys
import numpy as np
from graphc_runtime.deploy import DeployError, load
try:
    model = load(sys.argv[1])
    model.predict(np.ones((3, 8), np.float32))
except (DeployError, ValueError) as error:
    print("refused:", error)
else:
    print("loaded")
"""


def _load_in_child(folder: Path) -> str:
    done = subprocess.run([sys.executable, "-c", LOADER, str(folder)], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)
    assert done.returncode == 0, f"loader died with {done.returncode}\n{done.stderr[-2000:]}"
    return done.stdout.strip()


TAMPERING = {
    "input_9_features": (lambda m: m["inputs"][0].__setitem__("shape", [None, 9]), "inputs[0].shape[1]"),
    "larger_output": (lambda m: m["outputs"][0].__setitem__("shape", [None, 30]), "outputs[0].shape[1]"),
    "larger_param": (lambda m: m["params"][0].__setitem__("shape", [8, 160]), "params[0].shape[1]"),
    "no_workspace": (lambda m: m["workspace"].__setitem__("per_batch_bytes", 0), "workspace.per_batch_bytes"),
    "label_shape": (lambda m: m["training"]["labels"].__setitem__("shape", [None, 5]), "training.labels"),
    "claims_stateful": (lambda m: m.__setitem__("stateful", {"batch_size": 3, "states": [
        {"name": "dense/states/h", "shape": [3, 16]}]}), "stateful"),
    "absolute_library": (lambda m: m["files"].__setitem__("library", "/usr/lib/x86_64-linux-gnu/libc.so.6"),
                         "files.library"),
    "parent_library": (lambda m: m["files"].__setitem__("library", "../build/libclf.so"), "files.library"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_a_tampered_manifest_is_refused_by_name(built, tmp_path, case) -> None:
    folder = _copy(built, tmp_path)
    change, field = TAMPERING[case]
    _edit(folder, change)
    out = _load_in_child(folder)
    assert out.startswith("refused:") and field in out, out


def test_the_untouched_folder_loads(built) -> None:
    assert _load_in_child(built) == "loaded"


BAD_LABELS = [3.0, -1.0, np.nan, np.inf, 1.5, 1e9]


@pytest.mark.parametrize("bad", BAD_LABELS)
def test_bad_labels_get_an_error_status_before_any_state_is_written(built, bad) -> None:
    with load(built) as model:
        weights = model.get_weights()
        y = np.array([0, 1, 2, 0, 1, 2, 0, 1], np.float32)
        y[5] = bad
        with pytest.raises(ValueError, match="position 5"):
            model.train_step(X, y)
        for before, after in zip(weights, model.get_weights(), strict=True):
            np.testing.assert_array_equal(before, after)
        model.train_step(X, np.zeros(8, np.float32))  # a good batch still trains


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_the_c_api_refuses_a_non_finite_learning_rate(built, value) -> None:
    with load(built) as model:
        status = model._api["set_hyperparameter"](model._live(), b"learning_rate", value)
        assert status == 13  # GRAPHC_MODEL_BAD_VALUE
        assert np.isfinite(model.get_hyperparameter("learning_rate"))
        with pytest.raises(ValueError, match="finite"):
            model.set_hyperparameter("learning_rate", value)


THREADS = """
import sys, threading
import numpy as np
from graphc_runtime.deploy import load
model = load(sys.argv[1])
x = np.linspace(-2, 2, 64 * 8, dtype=np.float32).reshape(64, 8)
sizes = [1, 33, 2, 64, 7]
want = {n: model.predict(x[:n]) for n in sizes}
wrong, errors = [], []
def predicts(seed):
    try:
        for n in np.random.default_rng(seed).choice(sizes, size=1500):
            if not np.array_equal(model.predict(x[:n]), want[n]):
                wrong.append(int(n))
    except BaseException as error:
        errors.append(repr(error))
threads = [threading.Thread(target=predicts, args=(s,)) for s in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors and not wrong, (errors, len(wrong))
print("ok")
"""


def test_a_deployed_model_predicts_from_four_threads(built) -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(THREADS), str(built)], capture_output=True,
                          text=True, timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


@pytest.mark.parametrize("bad", [X + 1j, X.astype(object), X.astype(str)])
def test_non_real_inputs_are_refused(built, bad) -> None:
    with load(built) as model, pytest.raises(TypeError, match="real numbers"):
        model.predict(bad)
