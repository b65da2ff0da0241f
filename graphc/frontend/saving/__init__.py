"""Saving and loading models: Keras HDF5 weight and model files, architecture JSON.

Files are data: loading reads JSON and arrays, builds layers from graphc's own table, and
never imports, unpickles or evaluates anything named in a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
from graphc_runtime import atomic

from graphc.frontend.saving.config import (
    model_config,
    model_from_config,
    model_from_json,
    model_from_yaml,
    model_to_json,
    model_to_yaml,
    register_model_class,
)
from graphc.frontend.saving.host import SavableModel
from graphc.frontend.saving.model_h5 import load_model, open_h5, save_model
from graphc.frontend.saving.training_config import compile_from, training_config
from graphc.frontend.saving.weights_h5 import read_weights, write_weights

__all__ = [
    "compile_from", "load_model", "load_weights", "model_config", "model_from_config", "model_from_json",
    "model_from_yaml", "model_to_json", "model_to_yaml", "register_model_class",
    "save_model", "save_weights", "training_config",
]

_WEIGHTS_SUFFIXES = (".h5", ".hdf5")


def save_weights(model: SavableModel, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
    """The Keras 2 layout, also for Keras 3's `.weights.h5` names (which Keras 3 reads as legacy files)."""
    path = Path(filepath)
    if path.suffix not in _WEIGHTS_SUFFIXES:
        raise ValueError(f"save_weights: graphc writes HDF5 weights; the file name must end in .h5 or "
                         f".weights.h5, got {path.name!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"save_weights: {path} exists and overwrite=False")
    with atomic.replacing(path) as temp, h5py.File(temp, "w") as f:
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
