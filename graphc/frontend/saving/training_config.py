"""compile() arguments as the `training_config` JSON of a full-model file, and back."""

from __future__ import annotations

import warnings
from typing import Any

from graphc.frontend import losses as losses_mod
from graphc.frontend import optimizers as optimizers_mod
from graphc.frontend.saving.host import SavableModel


def training_config(model: SavableModel) -> dict[str, Any] | None:
    """The Keras 3 form; None when the model is not compiled or its loss has no Keras name."""
    if not model.compiled:
        return None
    try:
        loss = model.loss if isinstance(model.loss, str) else losses_mod.serialize(losses_mod.get(model.loss))
    except ValueError:
        warnings.warn(f"model {model.name!r}: the loss {model.loss!r} has no Keras name, so the file has no "
                      "training configuration; compile the loaded model yourself", stacklevel=3)
        return None
    optimizer = optimizers_mod.serialize(model.optimizer)
    return {"loss": loss, "loss_weights": None, "metrics": [_metric_name(m) for m in model._metric_ids],
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False,
            "optimizer_config": {"class_name": optimizer["class_name"], "config": optimizer["config"]}}


def _metric_name(metric: Any) -> str:
    if isinstance(metric, str):
        return metric
    return getattr(metric, "name", None) or getattr(metric, "__name__", None) or str(metric)


def compile_from(model: SavableModel, config: Any) -> None:
    """compile() with a file's training_config (Keras 2.2.4, tf.keras or Keras 3 forms).

    A configuration graphc cannot rebuild leaves the model uncompiled, with a warning, as
    Keras does for custom objects it cannot find.
    """
    try:
        if not isinstance(config, dict):
            raise ValueError(f"expected a dict, got {type(config).__name__}")
        # "optimizer" in a .keras archive's compile_config, "optimizer_config" in .h5 files
        optimizer_config = dict(config.get("optimizer_config") or config.get("optimizer") or {})
        name = str(optimizer_config.get("class_name", ""))
        optimizer_config["class_name"] = name.removeprefix("Custom>")
        optimizer = optimizers_mod.deserialize(optimizer_config)
        metrics = [_metric_entry(m) for m in _flatten(config.get("metrics") or [])]
        model.compile(optimizer=optimizer, loss=config.get("loss"), metrics=metrics)
    except (ValueError, TypeError, NotImplementedError) as err:
        warnings.warn(f"model {model.name!r}: the file's training configuration could not be restored "
                      f"({err}); the model is loaded uncompiled", stacklevel=3)


def _flatten(metrics: Any) -> list[Any]:
    """tf.keras nests metrics per output: [[m1, m2]]; one output here."""
    if isinstance(metrics, dict):
        metrics = list(metrics.values())
    flat = []
    for item in metrics:
        flat.extend(_flatten(item) if isinstance(item, list) else [item])
    return flat


def _metric_entry(metric: Any) -> str:
    if isinstance(metric, str):
        return metric
    if isinstance(metric, dict):  # tf.keras: {"class_name": "MeanMetricWrapper", "config": {"name": ...}}
        name = (metric.get("config") or {}).get("name")
        if isinstance(name, str):
            return name
    raise ValueError(f"cannot read metric {metric!r}")
