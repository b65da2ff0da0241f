"""Saving and loading models: Keras HDF5 weight and model files, architecture JSON.

Files are data: loading reads JSON and arrays, builds layers from graphc's own table, and
never imports, unpickles or evaluates anything named in a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
from graphc_runtime import atomic

from graphc.frontend.saving.config import (
    custom_object_scope,
    model_config,
    model_from_config,
    model_from_json,
    model_from_yaml,
    model_to_json,
    model_to_yaml,
    register_model_class,
)
from graphc.frontend.saving.host import SavableModel
from graphc.frontend.saving.keras_archive import keras_path, load_keras, save_keras
from graphc.frontend.saving.model_h5 import load_h5_model, open_h5, save_h5_model
from graphc.frontend.saving.training_config import compile_from, training_config
from graphc.frontend.saving.weights_h5 import read_weights, write_object_tree, write_weights

__all__ = [
    "compile_from", "custom_object_scope", "load_model", "load_weights", "model_config", "model_from_config",
    "model_from_json", "model_from_yaml", "model_to_json", "model_to_yaml", "register_model_class",
    "save_model", "save_weights", "training_config",
]

_WEIGHTS_SUFFIXES = (".h5", ".hdf5")
KERAS_3_WEIGHTS = ".weights.h5"


def save_model(model: SavableModel, filepath: str | os.PathLike[str], overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    """A .keras archive (Keras 3's format) or a full-model HDF5 file (.h5/.hdf5), by the suffix."""
    path = keras_path(filepath)
    if path is None:
        save_h5_model(model, filepath, overwrite=overwrite, include_optimizer=include_optimizer)
        return
    if path.exists() and not overwrite:
        raise FileExistsError(f"save: {path} exists and overwrite=False")
    save_keras(model, path, include_optimizer=include_optimizer)


def load_model(filepath: str | os.PathLike[str], custom_objects: dict[str, Any] | None = None,
               compile: bool = True) -> SavableModel:  # noqa: A002 - Keras's argument name
    """Rebuild a model from a .keras archive or a full-model .h5 file; only JSON and arrays are read."""
    path = keras_path(filepath)
    with custom_object_scope(custom_objects):
        if path is None:
            return load_h5_model(filepath, compile=compile)
        if not path.is_file():
            raise FileNotFoundError(f"load_model: no file {path}")
        return load_keras(path, compile=compile)


def save_weights(model: SavableModel, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
    """Keras 3's object-tree layout for `.weights.h5` names (the only ones Keras 3 writes), the
    Keras 2 layout for other .h5 names (which Keras 2 and Keras 3 both read)."""
    path = Path(filepath)
    if path.suffix not in _WEIGHTS_SUFFIXES:
        raise ValueError(f"save_weights: graphc writes HDF5 weights; the file name must end in .h5 or "
                         f".weights.h5, got {path.name!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"save_weights: {path} exists and overwrite=False")
    with atomic.replacing(path) as temp, h5py.File(temp, "w") as f:
        if path.name.endswith(KERAS_3_WEIGHTS):
            write_object_tree(f, model)
        else:
            write_weights(f, model)


def load_weights(model: SavableModel, filepath: str | os.PathLike[str], by_name: bool = False,
                 skip_mismatch: bool = False) -> None:
    """Weights from a Keras weights file or a full-model file (its `model_weights` group)."""
    path = Path(filepath)
    if not path.is_file():
        raise FileNotFoundError(f"load_weights: no file {path}")
    if not model.built:
        raise ValueError(f"load_weights: model {model.name!r} is not built; give it an input shape first")
    with open_h5(path, "load_weights") as f:
        read_weights(f, model, by_name=by_name, skip_mismatch=skip_mismatch, source=str(path))
