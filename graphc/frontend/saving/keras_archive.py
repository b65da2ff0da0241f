"""Keras 3's native `.keras` archive: `model.save('m.keras')` and `load_model('m.keras')`.

A zip of three stored (uncompressed) entries, in Keras's order: metadata.json, config.json (the
architecture plus build_config and compile_config) and model.weights.h5 in the object-tree layout,
with the optimizer's variables under optimizer/vars. Reading checks the archive's entries and
sizes before it reads any, builds the model from JSON only, and reads the HDF5 part from memory.
"""

from __future__ import annotations

import io
import json
import os
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from graphc_runtime import atomic

from graphc.frontend.saving.config import model_config, model_from_config
from graphc.frontend.saving.host import SavableModel
from graphc.frontend.saving.model_h5 import open_h5
from graphc.frontend.saving.training_config import compile_from, training_config
from graphc.frontend.saving.weights_h5 import (
    checked_dataset,
    read_weights,
    write_object_tree,
)

KERAS_3_VERSION = "3.15.1"  # the Keras release whose archive layout this writes
METADATA, CONFIG, WEIGHTS = "metadata.json", "config.json", "model.weights.h5"
_JSON_LIMIT = 64 << 20  # a config of 64 MB is not a model config
_WEIGHTS_LIMIT = 16 << 30


def save_keras(model: SavableModel, path: Path, include_optimizer: bool = True) -> None:
    config = dict(model_config(model))
    config["build_config"] = {"input_shape": list(model.inputs[0].shape)}
    compiled = training_config(model) if include_optimizer else None
    config["compile_config"] = {}  # as Keras writes it for a model never compiled
    if compiled is not None:
        optimizer = compiled.pop("optimizer_config")
        config["compile_config"] = {**compiled, "optimizer": {"module": "keras.optimizers",
                                                              "registered_name": None, **optimizer}}
    metadata = {"keras_version": KERAS_3_VERSION, "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S")}
    weights = io.BytesIO()
    with h5py.File(weights, "w") as f:
        write_object_tree(f, model, _optimizer_variables(model) if compiled is not None else None)
    with atomic.replacing(path) as temp, zipfile.ZipFile(temp, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(METADATA, json.dumps(metadata))
        archive.writestr(CONFIG, json.dumps(config))
        archive.writestr(WEIGHTS, weights.getvalue())


def _optimizer_variables(model: SavableModel) -> tuple[str, list[np.ndarray]]:
    """Keras 3's optimizer/vars: iteration, learning_rate, then the slots per trainable variable
    (the order graphc's training step keeps them in), once a step has created them."""
    optimizer = model.optimizer
    values = [np.asarray(optimizer.iterations, dtype=np.int64),
              np.asarray(optimizer.learning_rate, dtype=np.float32)]
    engine = model._engine
    if engine is not None and engine.has("train_step"):
        values += [engine.store.read(name) for name, _ in model.optimizer_slots()]
    return optimizer.name, values


def load_keras(path: Path, compile: bool = True) -> SavableModel:  # noqa: A002 - Keras's argument name
    config, weights = _read_archive(path)
    model = model_from_config(config)
    with open_h5(Path(f"{path}:{WEIGHTS}"), "load_model", io.BytesIO(weights)) as f:
        read_weights(f, model, source=f"{path}:{WEIGHTS}")
        saved = _saved_optimizer_variables(f, str(path))
    compile_config = config.get("compile_config")
    if compile and isinstance(compile_config, dict) and compile_config:  # {} when never compiled
        compile_from(model, compile_config)
        if model.compiled and saved:
            _restore_optimizer(model, saved, str(path))
    return model


def _read_archive(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"load_model: {path} is not a readable .keras archive ({err})") from None
    with archive:
        entries = {info.filename: info for info in archive.infolist()}
        for name, limit in ((CONFIG, _JSON_LIMIT), (WEIGHTS, _WEIGHTS_LIMIT)):
            if name not in entries:
                raise ValueError(f"load_model: {path} has no {name!r}; a .keras archive holds "
                                 f"{METADATA}, {CONFIG} and {WEIGHTS}")
            if entries[name].file_size > limit:
                raise ValueError(f"load_model: {path}: {name} declares {entries[name].file_size} bytes, "
                                 f"more than the {limit} a model file may hold")
        try:
            raw_config = archive.read(CONFIG)
            weights = archive.read(WEIGHTS)
        except (zipfile.BadZipFile, OSError, EOFError) as err:  # a CRC mismatch: truncated or altered
            raise ValueError(f"load_model: {path} is corrupt ({err})") from None
    try:
        config = json.loads(raw_config)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"load_model: {path}: {CONFIG} is not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise ValueError(f"load_model: {path}: {CONFIG} must hold a JSON object, got {type(config).__name__}")
    return config, weights


def _saved_optimizer_variables(f: h5py.File, source: str) -> list[np.ndarray]:
    group = f.get("optimizer/vars")
    if not isinstance(group, h5py.Group):
        return []
    arrays = []
    for index in range(len(group)):
        dataset = group.get(str(index))
        if not isinstance(dataset, h5py.Dataset):
            raise ValueError(f"{source}: optimizer/vars has no dataset {index}")
        arrays.append(np.asarray(checked_dataset(dataset, f"optimizer/vars/{index}", source)[()]))
    return arrays


def _restore_optimizer(model: SavableModel, saved: list[np.ndarray], source: str) -> None:
    """Step count and learning rate always; the slots when they match this optimizer's, else a
    warning as Keras gives (the model trains on from zeroed slots)."""
    if len(saved) < 2 or saved[0].size != 1 or saved[1].size != 1:
        warnings.warn(f"{source}: optimizer/vars does not start with the iteration and learning rate; "
                      "the optimizer state was not restored", stacklevel=4)
        return
    model.optimizer.iterations = int(saved[0].reshape(-1)[0])
    if model.optimizer.schedule is None:
        model.optimizer.learning_rate = float(saved[1].reshape(-1)[0])
    slots = saved[2:]
    if not slots:
        return
    expected = model.optimizer_slots()
    names = [name for name, _ in expected]
    if len(expected) != len(slots) or any(s.shape != shape
                                          for s, (_, shape) in zip(slots, expected, strict=True)):
        warnings.warn(f"{source}: the saved optimizer has {len(slots)} slot variables, "
                      f"{type(model.optimizer).__name__} here has {len(names)}; its slots were not restored",
                      stacklevel=4)
        return
    model._restore_optimizer_slots(dict(zip(names, slots, strict=True)))


def keras_path(filepath: str | os.PathLike[str]) -> Path | None:
    path = Path(filepath)
    return path if path.suffix == ".keras" else None
