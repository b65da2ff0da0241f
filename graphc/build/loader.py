"""File -> model, for every command (`graphc compile`, `inspect`, `export`) and compile_model.

A saved model (.h5, .keras) or an architecture (.json, .yaml: fresh weights) is read as data: no code
from it runs. A Python file is the user's code (like a script they would run), executed with
runpy under a name other than "__main__", so its command-line block does not run. It either
defines a function building the model (named explicitly, or one of BUILDER_NAMES) or a
module-level `model`.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

from graphc.frontend.models import Model
from graphc.frontend.saving import load_model as load_saved
from graphc.frontend.saving import model_from_json, model_from_yaml

BUILDER_NAMES = ("build_model", "make_model", "create_model", "get_model")


def split_target(target: str) -> tuple[str, str | None]:
    """"file.py:function" -> ("file.py", "function"); "file.py" -> ("file.py", None)."""
    path, sep, function = target.rpartition(":")
    if sep and path.endswith(".py") and function.isidentifier():
        return path, function
    return target, None


def resolve_model(source: Model | str | os.PathLike[str], caller: str = "compile_model") -> Model:
    """A Model as is, else the model a file names: `file.h5`, `file.keras`, `file.json`, `file.yaml`,
    `file.py` or `file.py:function`."""
    if isinstance(source, Model):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"{caller}: expected a Model or a file path, got {type(source).__name__}")
    path, function = split_target(os.fspath(source))
    return load_model(path, function)


def load_model(path: str | Path, function: str | None = None) -> Model:
    """The model saved in `path` (.h5, .keras), described by it (.json, .yaml) or built by it (.py: its
    builder function or module-level `model`)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no file {str(file)!r}: the model file does not exist")
    if file.suffix != ".py":
        if function is not None:
            raise ValueError(f"{file}: a saved model has no function {function!r} to call")
        return _load_data(file)
    return _run_builder(file, function)


def _load_data(file: Path) -> Model:
    if file.suffix in (".h5", ".hdf5", ".keras"):
        return load_saved(file)
    if file.suffix == ".json":
        return model_from_json(file.read_text())
    if file.suffix in (".yaml", ".yml"):
        return model_from_yaml(file.read_text())
    raise ValueError(f"{file.name} is neither a saved model (.h5, .keras), an architecture (.json, .yaml) "
                     "nor a Python file (.py)")


def _run_builder(file: Path, function: str | None) -> Model:
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)
    try:
        namespace = runpy.run_path(str(file), run_name="__graphc_model__")
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    if function is not None:
        if not callable(namespace.get(function)):
            found = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_"))
            raise ValueError(f"{file}: no function {function!r}; functions defined there: {found}")
        model = namespace[function]()
        source = f"{function}()"
    else:
        builders = [name for name in BUILDER_NAMES if callable(namespace.get(name))]
        if builders:
            model, source = namespace[builders[0]](), f"{builders[0]}()"
        elif isinstance(namespace.get("model"), Model):
            model, source = namespace["model"], "model"
        else:
            raise ValueError(f"{file}: name the function that builds the model (file.py:function or "
                             f"--function), or define one of {BUILDER_NAMES} or a module-level `model`")
    if not isinstance(model, Model):
        raise TypeError(f"{file}: {source} must return a graphc Model, got {type(model).__name__}")
    return model
