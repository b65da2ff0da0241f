"""YAML model configs: Keras 2's to_yaml / model_from_yaml, read with the safe loader only."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from graphc.keras import backend
from graphc.keras.layers import Dense, Dropout
from graphc.keras.models import Sequential, model_from_json, model_from_yaml


def _model() -> Sequential:
    backend.clear_session()
    return Sequential([Dense(4, activation="relu", input_shape=(3,)), Dropout(0.2, noise_shape=(None, 4)),
                       Dense(2, activation="softmax", name="probabilities")])


def test_yaml_round_trip_rebuilds_the_same_model() -> None:
    model = _model()
    text = model.to_yaml()
    assert yaml.safe_load(text) == yaml.safe_load(model.to_json())  # the JSON config, as YAML
    rebuilt = model_from_yaml(text)
    rebuilt.set_weights(model.get_weights())
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    assert model_from_json(model.to_json()).get_config() == rebuilt.get_config()


def test_yaml_that_would_run_code_is_refused(tmp_path) -> None:
    marker = tmp_path / "ran"
    hostile = f"!!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ValueError, match="not valid YAML"):
        model_from_yaml(hostile)
    assert not marker.exists()


def test_yaml_of_another_shape_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="class_name"):
        model_from_yaml("- just\n- a list\n")
