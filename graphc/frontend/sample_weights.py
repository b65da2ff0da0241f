"""fit/evaluate's sample_weight and class_weight as the weighted programs take them: one float32
weight per sample, and one such array per output for a model with several outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc.frontend.model_inputs import ModelInputs
from graphc.frontend.programs import sample_weight_name


def sample_weights(y: Any, sample_weight: Any, class_weight: Any, what: str,
                   outputs: Sequence[str] = ()) -> np.ndarray | ModelInputs | None:
    """The weights of labels `y`: from sample_weight, or from class_weight by each label's class (the
    argmax of a one-hot row; classes it does not name weigh 1, as in Keras 3). For several outputs
    (y a ModelInputs over `outputs`) one array per output: a single array weighs every output, a list
    in output order or a dict by output name gives each output its own (None, or a name left out,
    weighs 1)."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError(f"{what}: give sample_weight or class_weight, not both (as Keras)")
    if isinstance(y, ModelInputs):
        if class_weight is not None:
            raise ValueError(f"{what}: class_weight is only supported for models with a single output "
                             "(as Keras); give sample_weight instead")
        if sample_weight is None or isinstance(sample_weight, ModelInputs):
            return sample_weight
        parts = _per_output(sample_weight, outputs, what)
        return ModelInputs([np.ones(len(y), dtype=np.float32) if part is None
                            else _one_per_sample(part, len(y), f"{what} (output {name!r})")
                            for part, name in zip(parts, outputs, strict=True)])
    if class_weight is not None:
        sample_weight = _by_class(y, class_weight, what)
    if sample_weight is None:
        return None
    return _one_per_sample(sample_weight, len(y), what)


def weight_feeds(weights: np.ndarray | ModelInputs | None) -> dict[str, np.ndarray]:
    """The weighted programs' sample-weight inputs (none for an unweighted batch)."""
    if weights is None:
        return {}
    arrays = weights.arrays if isinstance(weights, ModelInputs) else (weights,)
    return {sample_weight_name(index, len(arrays)): array for index, array in enumerate(arrays)}


def _per_output(sample_weight: Any, outputs: Sequence[str], what: str) -> list[Any]:
    if isinstance(sample_weight, Mapping):
        unknown = sorted(set(sample_weight) - set(outputs))
        if unknown:
            raise ValueError(f"{what}: sample_weight names outputs {unknown}; the model's outputs are "
                             f"{list(outputs)}")
        return [sample_weight.get(name) for name in outputs]
    if isinstance(sample_weight, (list, tuple)) and all(part is None or np.ndim(part) >= 1
                                                        for part in sample_weight):
        if len(sample_weight) != len(outputs):
            raise ValueError(f"{what}: sample_weight has {len(sample_weight)} arrays; the model has "
                             f"{len(outputs)} outputs {list(outputs)}")
        return list(sample_weight)
    return [sample_weight] * len(outputs)


def _by_class(y: np.ndarray, class_weight: Any, what: str) -> np.ndarray:
    if not isinstance(class_weight, Mapping):
        raise ValueError(f"{what}: class_weight must be a dict {{class index: weight}}, got {class_weight!r}")
    classes = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y))
    table = {int(k): float(v) for k, v in class_weight.items()}
    return np.array([table.get(int(c), 1.0) for c in classes], dtype=np.float32)


def _one_per_sample(sample_weight: Any, count: int, what: str) -> np.ndarray:
    weights = np.asarray(sample_weight, dtype=np.float32)
    if weights.ndim == 2 and weights.shape[1] == 1:
        weights = weights[:, 0]
    if weights.shape != (count,):
        raise ValueError(f"{what}: sample_weight must hold one weight per sample ({count}), got shape "
                         f"{weights.shape}")
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"{what}: sample_weight must be finite")
    return np.ascontiguousarray(weights)
