"""The Keras 2 HDF5 weights layout (`model.save_weights('w.h5')`), written and read.

Reading follows Keras's loaders: `layer_names` and each layer's `weight_names` give the order
and the dataset paths, and names are never parsed. A full-model file's `model_weights` group
and Keras 3's object-tree `.weights.h5` layout are accepted too.
"""

from __future__ import annotations

from collections.abc import Sequence

import h5py
import numpy as np

import graphc
from graphc.frontend.layers.base import Layer, Weight
from graphc.frontend.layers.model_step import object_tree_keys
from graphc.frontend.saving.attributes import read_string_list, write_string, write_string_list
from graphc.frontend.saving.host import SavableModel

# The layout is tf.keras 2.21's; these strings tell Keras readers that no legacy conversion applies.
KERAS_VERSION = "2.21.0"
BACKEND = "tensorflow"


def legacy_weights(layer: Layer) -> list[Weight]:
    """A layer's weights in the order Keras's HDF5 writers save them (tf.keras's and Keras 3's
    `_legacy_weights`): trainable ones first, which differs from layer order in a wrapped model
    (TimeDistributed(model)'s BatchNormalization statistics come after every kernel)."""
    weights = layer.weights
    return [w for w in weights if w.trainable] + [w for w in weights if not w.trainable]


def write_weights(group: h5py.Group, model: SavableModel) -> None:
    """One group per model layer (weightless ones too), datasets at their tf.keras variable names
    (`dense/kernel:0`)."""
    layers = model.layers
    write_string_list(group.attrs, "layer_names", [layer.name for layer in layers])
    write_string(group.attrs, "backend", BACKEND)
    write_string(group.attrs, "keras_version", KERAS_VERSION)
    write_string(group.attrs, "graphc_version", graphc.__version__)
    for layer in layers:
        layer_group = group.create_group(layer.name)
        weights = legacy_weights(layer)
        names = [f"{weight.path}:0" for weight in weights]
        write_string_list(layer_group.attrs, "weight_names", names)
        for name, weight in zip(names, weights, strict=True):
            layer_group.create_dataset(name, data=weight.numpy())
    top = group.create_group("top_level_model_weights")
    write_string_list(top.attrs, "weight_names", [])


def read_weights(group: h5py.Group, model: SavableModel, by_name: bool = False, skip_mismatch: bool = False,
                 source: str = "file") -> None:
    """Set the model's weights from a weights group; nothing is assigned unless every check passes."""
    if read_string_list(group.attrs, "layer_names") is None:
        if "model_weights" in group:
            group = group["model_weights"]
        elif "layers" in group:
            _assign(_read_object_tree(group, model, source), skip_mismatch, source)
            return
        else:
            raise ValueError(f"{source}: not a Keras weights file (no 'layer_names' attribute and no "
                             "'model_weights' or 'layers' group)")
    saved = _saved_layers(group, source)
    if by_name:
        pairs = _pair_by_name(model, saved, source)
    else:
        pairs = _pair_in_order(model, saved, source)
    _assign(pairs, skip_mismatch, source)


Pair = tuple[Layer, str, list[Weight], list[h5py.Dataset]]  # the weights in the file's order


def _saved_layers(group: h5py.Group, source: str) -> list[tuple[str, list[h5py.Dataset]]]:
    """(layer name, datasets in weight_names order) for every saved layer that has weights.

    Datasets, not arrays: no data is read before every declared shape matched the model's
    weights (a 28 KB file may declare a chunked 60000 x 60000 dataset).
    """
    result = []
    for name in read_string_list(group.attrs, "layer_names") or []:
        if name not in group:
            raise ValueError(f"{source}: layer {name!r} is listed in 'layer_names' but has no group")
        layer_group = group[name]
        names = read_string_list(layer_group.attrs, "weight_names")
        if names is None:
            raise ValueError(f"{source}: layer group {name!r} has no 'weight_names' attribute")
        arrays = []
        for weight in names:
            if weight not in layer_group or not isinstance(layer_group[weight], h5py.Dataset):
                raise ValueError(f"{source}: layer {name!r} lists weight {weight!r}, which is not in the "
                                 "file")
            arrays.append(checked_dataset(layer_group[weight], f"{name}/{weight}", source))
        if arrays:
            result.append((name, arrays))
    return result


def checked_dataset(dataset: h5py.Dataset, what: str, source: str) -> h5py.Dataset:
    """A numeric dataset stored in this file: external or virtual storage would read other files."""
    if dataset.dtype.kind not in "fiu":
        raise ValueError(f"{source}: weight {what!r} has dtype {dataset.dtype}, expected a float array")
    if dataset.external is not None:
        raise ValueError(f"{source}: weight {what!r} is stored in external files {dataset.external}; "
                         "graphc reads only data stored inside the HDF5 file")
    if dataset.is_virtual:
        raise ValueError(f"{source}: weight {what!r} is a virtual dataset mapping other files; graphc "
                         "reads only data stored inside the HDF5 file")
    return dataset


def _pair_in_order(model: SavableModel, saved: list[tuple[str, list[h5py.Dataset]]],
                   source: str) -> list[Pair]:
    layers = [layer for layer in model.layers if layer.weights]
    if len(layers) != len(saved):
        raise ValueError(
            f"{source}: the file has weights for {len(saved)} layers {[s[0] for s in saved]}, model "
            f"{model.name!r} has {len(layers)} layers with weights {[layer.name for layer in layers]}"
        )
    return [(layer, name, legacy_weights(layer), arrays)
            for layer, (name, arrays) in zip(layers, saved, strict=True)]


def _pair_by_name(model: SavableModel, saved: list[tuple[str, list[h5py.Dataset]]],
                  source: str) -> list[Pair]:
    by_name = dict(saved)
    return [(layer, layer.name, legacy_weights(layer), by_name[layer.name]) for layer in model.layers
            if layer.weights and layer.name in by_name]


def write_object_tree(f: h5py.Group, model: SavableModel,
                      optimizer: tuple[str, Sequence[np.ndarray]] | None = None) -> None:
    """Keras 3's `.weights.h5` (and a .keras archive's model.weights.h5): an empty vars group for
    weightless layers, optimizer/vars (name, values) when given, and /vars named after the model."""
    layers = f.create_group("layers")
    for layer, key in object_tree_keys(model.layers):
        for subpath, name, weights in layer.saved_weight_groups():
            variables = layers.create_group("/".join(filter(None, (key, subpath, "vars"))))
            variables.attrs["name"] = name
            for index, weight in enumerate(weights):
                variables.create_dataset(str(index), data=weight.numpy())
    if optimizer is not None:
        name, values = optimizer
        variables = f.create_group("optimizer").create_group("vars")
        variables.attrs["name"] = name
        for index, value in enumerate(values):
            variables.create_dataset(str(index), data=value)
    f.create_group("vars").attrs["name"] = model.name


def _read_object_tree(group: h5py.Group, model: SavableModel, source: str) -> list[Pair]:
    """Keras 3's `.weights.h5`: /layers/<snake_case class, made unique>/vars/0, 1, ..."""
    pairs = []
    for layer, key in object_tree_keys(model.layers):
        if not layer.weights:
            continue
        arrays = []
        for subpath, _, weights in layer.saved_weight_groups():
            if not weights:
                continue
            path = "/".join(filter(None, ("layers", key, subpath, "vars")))
            if path not in group:
                raise ValueError(f"{source}: no group {path!r} for layer {layer.name!r}")
            variables = group[path]
            for index in range(len(variables)):
                if str(index) not in variables:
                    raise ValueError(f"{source}: {path!r} has no dataset {str(index)!r}")
                arrays.append(checked_dataset(variables[str(index)], f"{path}/{index}", source))
        pairs.append((layer, key, layer.weights, arrays))
    return pairs


def _assign(pairs: Sequence[Pair], skip_mismatch: bool, source: str) -> None:
    checked = []
    for layer, saved_name, weights, arrays in pairs:
        if len(arrays) != len(weights):
            if skip_mismatch:
                continue
            raise ValueError(f"{source}: layer {layer.name!r} expects {len(weights)} weights, the file's "
                             f"layer {saved_name!r} has {len(arrays)}")
        bad = [(w, a) for w, a in zip(weights, arrays, strict=True) if a.shape != w.shape]
        if bad:
            if skip_mismatch:
                continue
            weight, array = bad[0]
            raise ValueError(f"{source}: weight {weight.path!r} of layer {layer.name!r} has shape "
                             f"{weight.shape}, the file's {saved_name!r} has shape {array.shape}")
        checked.append((layer, weights, arrays))
    values = []
    for layer, weights, datasets in checked:
        by_weight = {id(w): np.asarray(d[()], dtype=np.float32)
                     for w, d in zip(weights, datasets, strict=True)}
        values.append((layer, [by_weight[id(w)] for w in layer.weights]))  # back in the layer's order
    for layer, arrays in values:
        layer.set_weights(arrays)

