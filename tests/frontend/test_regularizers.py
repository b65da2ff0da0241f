"""Regularizer penalties through the interpreter against the K3 formulas."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.frontend import regularizers as reg
from graphc.interpreter import evaluate
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType

W = np.array([[0.5, -1.5, 2.0], [-0.25, 0.0, 3.0]], dtype=np.float32)


def penalty(regularizer, w: np.ndarray = W) -> float:
    g = Graph()
    node = g.state("w", TensorType(w.shape), trainable=True)
    out = regularizer(node)
    assert out.shape == ()
    g.outputs["p"] = out
    return float(evaluate(g, {}, {"w": w})[0]["p"])


@pytest.mark.parametrize("regularizer, expected", [
    (reg.L1(), 0.01 * np.abs(W).sum()),
    (reg.L2(), 0.01 * np.square(W).sum()),
    (reg.l2(0.001), 0.001 * np.square(W).sum()),
    (reg.L1(l1=0.3), 0.3 * np.abs(W).sum()),
    (reg.L1L2(l1=0.1, l2=0.2), 0.1 * np.abs(W).sum() + 0.2 * np.square(W).sum()),
    (reg.l1_l2(l2=0.5), 0.5 * np.square(W).sum()),
    (reg.L1L2(), 0.0),
    (reg.L2(l=0.04), 0.04 * np.square(W).sum()),
])
def test_penalty_matches_formula(regularizer, expected):
    assert penalty(regularizer) == pytest.approx(expected, rel=1e-6)


def test_get_forms():
    assert reg.get(None) is None
    assert isinstance(reg.get("l2"), reg.L2) and reg.get("l2").l2 == 0.01
    assert reg.get("l1_l2").get_config() == {"l1": 0.0, "l2": 0.0}
    instance = reg.L1(0.2)
    assert reg.get(instance) is instance
    k224 = reg.get({"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.001}})
    assert isinstance(k224, reg.L1L2) and k224.get_config() == {"l1": 0.0, "l2": 0.001}
    k3 = reg.get(reg.serialize(reg.L2(0.003)))
    assert isinstance(k3, reg.L2) and k3.l2 == pytest.approx(0.003)
    assert reg.serialize(None) is None
    assert reg.serialize(reg.L1(0.5)) == {"module": "keras.regularizers", "class_name": "L1",
                                          "config": {"l1": 0.5}, "registered_name": None}


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        reg.get("l3")
    with pytest.raises(ValueError, match="`l2` must be a non-negative float"):
        reg.L2(-1.0)
    with pytest.raises(ValueError, match="`l1` must be a non-negative float"):
        reg.L1L2(l1="a")
    with pytest.raises(TypeError, match="unexpected keyword"):
        reg.L1(alpha=0.1)
    with pytest.raises(ValueError, match="unknown regularizer class 'L3'"):
        reg.get({"class_name": "L3", "config": {}})
