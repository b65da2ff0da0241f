"""Model files are data, checked before use: declared shapes, storage, layer classes; building is linear."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from graphc.frontend.layers.base import Layer
from graphc.frontend.saving import model_from_json
from graphc.keras import backend
from graphc.keras.layers import Dense, Input
from graphc.keras.models import Model, Sequential, load_model


def _model() -> Sequential:
    backend.clear_session()
    model = Sequential([Dense(2, input_shape=(2,), name="dense")])
    model.compile(optimizer="adam", loss="mse")
    return model


def _weights_file(path, kernel_kwargs: dict) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"dense"]
        group = f.create_group("dense")
        group.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        group.create_dataset("dense/kernel:0", **kernel_kwargs)
        group.create_dataset("dense/bias:0", data=np.zeros(2, np.float32))


def test_a_huge_declared_shape_is_refused_before_any_data_is_read(tmp_path) -> None:
    path = tmp_path / "huge.h5"
    _weights_file(path, {"shape": (60000, 60000), "dtype": "float32", "chunks": (1000, 1000)})
    assert path.stat().st_size < 100_000  # 13.4 GiB declared, nothing stored
    with pytest.raises(ValueError, match=r"'dense/kernel'.*\(2, 2\).*\(60000, 60000\)"):
        _model().load_weights(path)


def test_a_huge_optimizer_slot_is_refused_before_it_is_read(tmp_path) -> None:
    model = _model()
    model.train_on_batch(np.ones((4, 2), np.float32), np.zeros((4, 2), np.float32))
    path = tmp_path / "m.h5"
    model.save(path)
    with h5py.File(path, "r+") as f:
        group = f["optimizer_weights"]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
        name = [n for n in names if "iteration" not in n][0]
        del group[name]
        group.create_dataset(name, shape=(60000, 60000), dtype="float32", chunks=(1000, 1000))
    with pytest.raises(ValueError, match=r"optimizer weight .*\(60000, 60000\)"):
        load_model(path)


def test_external_storage_is_refused(tmp_path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    path = tmp_path / "external.h5"
    _weights_file(path, {"shape": (2, 2), "dtype": "float32", "external": [(str(secret), 0, 16)]})
    model = _model()
    before = model.get_weights()
    with pytest.raises(ValueError, match="external"):
        model.load_weights(path)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_virtual_datasets_are_refused(tmp_path) -> None:
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as f:
        f.create_dataset("data", data=np.arange(4, dtype=np.float32).reshape(2, 2))
    path = tmp_path / "virtual.h5"
    layout = h5py.VirtualLayout(shape=(2, 2), dtype="float32")
    layout[...] = h5py.VirtualSource(str(source), "data", shape=(2, 2))
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"dense"]
        group = f.create_group("dense")
        group.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        group.create_virtual_dataset("dense/kernel:0", layout)
        group.create_dataset("dense/bias:0", data=np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="virtual"):
        _model().load_weights(path)


def test_every_unknown_layer_class_is_named_with_its_layers() -> None:
    layers = [{"class_name": "ConvLSTM2D", "config": {"name": "conv_a"}},
              {"class_name": "Attention", "config": {"name": "pool"}},
              {"class_name": "ConvLSTM2D", "config": {"name": "conv_b"}},
              {"class_name": "Dense", "config": {"name": "out", "units": 2}}]
    with pytest.raises(ValueError) as info:
        model_from_json(json.dumps({"class_name": "Sequential", "config": {"layers": layers}}))
    message = str(info.value)
    for needle in ("'ConvLSTM2D'", "'conv_a'", "'conv_b'", "'Attention'", "'pool'"):
        assert needle in message, message


def test_building_thousands_of_layers_calls_each_layer_once(monkeypatch) -> None:
    calls = []
    original = Layer.__call__

    def counting(self, *args, **kwargs):
        calls.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Layer, "__call__", counting)
    backend.clear_session()
    count = 3000
    model = Sequential([Dense(2, input_shape=(2,))] + [Dense(2) for _ in range(count - 1)])
    assert len(calls) == count and model.output_shape == (None, 2)
    calls.clear()
    x = inputs = Input((2,))
    for _ in range(count):
        x = Dense(2)(x)
    functional = Model(inputs, x)  # traced without recursion: deeper than Python's recursion limit
    assert len(functional.layers) == count + 1 and len(calls) == count


def test_a_layer_that_cannot_be_added_leaves_the_model_as_it_was() -> None:
    backend.clear_session()
    model = Sequential([Input((3,)), Dense(2)])
    with pytest.raises(ValueError):
        model.add(Dense(2, name="dense"))  # the name is taken
    model.add(Dense(4, name="fresh"))
    assert [layer.name for layer in model.layers] == ["dense", "fresh"] and model.output_shape == (None, 4)
