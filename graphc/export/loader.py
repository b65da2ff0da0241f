"""Loading a model from the user's own Python file (or a saved .h5 model), for `graphc inspect`/`export`.

The file is the user's code (like a script they would run), executed with runpy under a
name other than "__main__", so its command-line block does not run. It either defines a
function building the model (named explicitly, or one of BUILDER_NAMES) or a module-level
`model`.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

BUILDER_NAMES = ("build_model", "make_model", "create_model", "get_model")


def split_target(target: str) -> tuple[str, str | None]:
    """"file.py:function" -> ("file.py", "function"); "file.py" -> ("file.py", None)."""
    path, sep, function = target.rpartition(":")
    if sep and path.endswith(".py") and function.isidentifier():
        return path, function
    return target, None


def load_model(path: str | Path, function: str | None = None) -> Any:
    """Run `path` and return the model its builder function (or module-level `model`) gives.

    A .h5 file is read as a saved Keras model instead (data only: no code from it runs)."""
    from graphc.frontend.models import Model
    from graphc.frontend.saving import load_model as load_saved

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no file {str(file)!r}: the model file does not exist")
    if file.suffix in (".h5", ".hdf5"):
        if function is not None:
            raise ValueError(f"{file}: a saved model has no function {function!r} to call")
        return load_saved(file)
    if file.suffix != ".py":
        raise ValueError(f"{file.name} is neither a saved model (.h5) nor a Python file (.py)")
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
