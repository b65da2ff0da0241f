"""The Keras full-model HDF5 file: `model.save('m.h5')` and `load_model('m.h5')`.

Layout: root attributes `model_config` (architecture JSON), `training_config` (compile
arguments JSON), `keras_version`, `backend`; the `model_weights` group in the weights-file
layout; `optimizer_weights` with the optimizer's state when the model has trained. Loading
restores that state (step count and slots such as Adam's moments), so training resumes where
it stopped.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from graphc_runtime import atomic

from graphc.frontend.saving.attributes import read_string, write_string, write_string_list
from graphc.frontend.saving.config import model_config, model_from_config
from graphc.frontend.saving.host import SavableModel
from graphc.frontend.saving.training_config import compile_from, training_config
from graphc.frontend.saving.weights_h5 import (
    BACKEND,
    KERAS_VERSION,
    checked_dataset,
    read_weights,
    write_weights,
)

OPTIMIZER_PREFIX = "optimizer/"
ITERATIONS = "optimizer/iterations"
LEARNING_RATE = "learning_rate"
RNG_STATE = "rng/step"  # the dropout counter: saved so that a resumed run draws the masks it would have
GRAPHC_GROUP, RNG_DATASET = "graphc", "rng_step"  # a group Keras readers ignore


def save_h5_model(model: SavableModel, filepath: str | os.PathLike[str], overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    path = Path(filepath)
    if path.exists() and not overwrite:
        raise FileExistsError(f"save: {path} exists and overwrite=False")
    config = json.dumps(model_config(model))
    train_config = training_config(model) if include_optimizer else None
    with atomic.replacing(path) as temp, h5py.File(temp, "w") as f:
        write_string(f.attrs, "keras_version", KERAS_VERSION)
        write_string(f.attrs, "backend", BACKEND)
        write_string(f.attrs, "model_config", config)
        if train_config is not None:
            write_string(f.attrs, "training_config", json.dumps(train_config))
        write_weights(f.create_group("model_weights"), model)
        if train_config is not None:
            _write_optimizer_state(f, model)


def _write_optimizer_state(f: h5py.File, model: SavableModel) -> None:
    """The optimizer's iteration count and slots (iterations first, then slots in creation order),
    and graphc's dropout counter."""
    engine = model._engine
    if engine is None or not engine.has("train_step"):
        return
    if RNG_STATE in engine.store:
        f.create_group(GRAPHC_GROUP).create_dataset(RNG_DATASET, data=engine.store.read(RNG_STATE))
    names = [name for name in engine.state_names("train_step") if name.startswith(OPTIMIZER_PREFIX)]
    if not names:
        return
    names.sort(key=lambda n: n != ITERATIONS)
    group = f.create_group("optimizer_weights")
    prefix = model.optimizer.name
    saved = [f"{prefix}/{n.removeprefix(OPTIMIZER_PREFIX)}" for n in names]
    write_string_list(group.attrs, "weight_names", saved)
    for name, state in zip(saved, names, strict=True):
        group.create_dataset(name, data=engine.store.read(state))  # never half-way through a step


def load_h5_model(filepath: str | os.PathLike[str], compile: bool = True) -> SavableModel:  # noqa: A002
    """Rebuild a model from a full-model .h5 file; only JSON and arrays are read from it."""
    path = Path(filepath)
    if not path.is_file():
        raise FileNotFoundError(f"load_model: no file {path}")
    with open_h5(path, "load_model") as f:
        raw = read_string(f.attrs, "model_config")
        if raw is None:
            raise ValueError(f"load_model: {path} has no 'model_config' attribute; it is not a full-model "
                             "file (a weights file loads with model.load_weights)")
        try:
            config = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ValueError(f"load_model: {path}: 'model_config' is not valid JSON ({err})") from None
        if "config" not in config and "model_config" in config:
            config = config["model_config"]
        model = model_from_config(config)
        if "model_weights" not in f:
            raise ValueError(f"load_model: {path} has no 'model_weights' group")
        read_weights(f["model_weights"], model, source=str(path))
        raw_training = read_string(f.attrs, "training_config")
        iterations, slots = _saved_optimizer_state(f, model, str(path))
        rng_step = _saved_rng_step(f, str(path))
    if compile and raw_training is not None:
        try:
            compile_from(model, json.loads(raw_training))
        except json.JSONDecodeError as err:
            raise ValueError(f"load_model: {path}: 'training_config' is not valid JSON ({err})") from None
        if model.compiled and iterations is not None:
            model.optimizer.iterations = iterations
        if model.compiled and LEARNING_RATE in slots:  # Keras 3 saves the rate it had reached as a variable
            model.optimizer.learning_rate = float(slots.pop(LEARNING_RATE))
        if model.compiled and (slots or rng_step is not None):
            prefix = f"{model.optimizer.name}/"
            restored = {OPTIMIZER_PREFIX + name.removeprefix(prefix): value for name, value in slots.items()}
            if rng_step is not None:
                restored[RNG_STATE] = rng_step
            model._restore_optimizer_slots(restored)
    return model


def _saved_optimizer_state(f: h5py.File, model: SavableModel,
                           source: str) -> tuple[int | None, dict[str, np.ndarray]]:
    """The saved step count (graphc, tf.keras or Keras 3 names) and the other arrays by saved name."""
    group = f.get("optimizer_weights")
    if not isinstance(group, h5py.Group):
        return None, {}
    iterations, slots = None, {}
    largest = max((int(np.prod(w.shape)) for w in model.weights), default=0)
    for name, dataset in _datasets(group):
        if dataset.dtype.kind not in "fiu":
            continue
        checked_dataset(dataset, f"optimizer_weights/{name}", source)
        if dataset.size > max(largest, 1):  # a slot is never larger than the weight it belongs to
            raise ValueError(f"{source}: optimizer weight {name!r} declares shape {dataset.shape}, larger "
                             f"than any weight of model {model.name!r} (at most {largest} values)")
        leaf = name.rsplit("/", 1)[-1].split(":")[0]
        if leaf in ("iteration", "iterations") and dataset.size == 1:
            iterations = int(np.asarray(dataset[()]).reshape(-1)[0])
        elif leaf == LEARNING_RATE and dataset.size == 1:
            slots[LEARNING_RATE] = np.asarray(dataset[()], dtype=np.float32).reshape(())
        else:
            slots[name] = np.asarray(dataset[()], dtype=np.float32)
    return iterations, slots


def _saved_rng_step(f: h5py.File, source: str) -> np.ndarray | None:
    group = f.get(GRAPHC_GROUP)
    dataset = group.get(RNG_DATASET) if isinstance(group, h5py.Group) else None
    if dataset is None:
        return None
    if not isinstance(dataset, h5py.Dataset) or dataset.shape != () or dataset.dtype.kind not in "iu":
        raise ValueError(f"{source}: {GRAPHC_GROUP}/{RNG_DATASET} must be an integer scalar, got "
                         f"{getattr(dataset, 'dtype', '?')}{getattr(dataset, 'shape', '')}")
    checked_dataset(dataset, f"{GRAPHC_GROUP}/{RNG_DATASET}", source)
    return np.asarray(dataset[()], dtype=np.int64)


def _datasets(group: h5py.Group) -> list[tuple[str, h5py.Dataset]]:
    found: list[tuple[str, h5py.Dataset]] = []
    group.visititems(lambda name, obj: found.append((name, obj)) if isinstance(obj, h5py.Dataset) else None)
    return found


class open_h5:  # noqa: N801 - used like h5py.File
    """h5py.File for reading, turning unreadable or truncated files into a ValueError naming the file."""

    def __init__(self, path: Path, what: str, content: io.BytesIO | None = None) -> None:
        """`content`: the file's bytes in memory (an archive member), `path` then names it."""
        self.path, self.what, self.content = path, what, content

    def __enter__(self) -> h5py.File:
        try:
            self.file = h5py.File(self.content if self.content is not None else self.path, "r")
        except OSError as err:
            raise ValueError(f"{self.what}: {self.path} is not a readable HDF5 file ({err})") from None
        return self.file

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        self.file.close()
        if isinstance(value, OSError) and not isinstance(value, FileNotFoundError):
            raise ValueError(f"{self.what}: {self.path} is corrupt or truncated ({value})") from value
