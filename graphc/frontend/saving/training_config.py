"""compile() arguments as the `training_config` JSON of a full-model file, and back."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from graphc.frontend import losses as losses_mod
from graphc.frontend import metrics as metrics_mod
from graphc.frontend import optimizers as optimizers_mod
from graphc.frontend.saving.host import SavableModel


def training_config(model: SavableModel) -> dict[str, Any] | None:
    """The Keras 3 form; None when the model is not compiled or its loss has no Keras name."""
    if not model.compiled:
        return None
    try:
        loss = _per_output(model.loss, _serialized_loss)
    except ValueError:
        warnings.warn(f"model {model.name!r}: the loss {model.loss!r} has no Keras name, so the file has no "
                      "training configuration; compile the loaded model yourself", stacklevel=3)
        return None
    optimizer = optimizers_mod.serialize(model.optimizer)
    weighted = model._weighted_metric_ids
    return {"loss": loss, "loss_weights": _per_output(model._loss_weights, float),
            "metrics": _saved_metrics(model._metric_ids),
            "weighted_metrics": _saved_metrics(weighted) if _any_metric(weighted) else None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False,
            "optimizer_config": {"class_name": optimizer["class_name"], "config": optimizer["config"]}}


def _saved_metrics(metrics: list[Any] | dict[str, list[Any]]) -> Any:
    """One list, or by output name for several outputs, as Keras 3 writes them."""
    if isinstance(metrics, dict):
        return {name: [metrics_mod.serialize(m) for m in ids] for name, ids in metrics.items()}
    return [metrics_mod.serialize(m) for m in metrics]


def _any_metric(metrics: list[Any] | dict[str, list[Any]]) -> bool:
    return any(metrics.values()) if isinstance(metrics, dict) else bool(metrics)


def _serialized_loss(loss: Any) -> Any:
    return loss if isinstance(loss, str) else losses_mod.serialize(losses_mod.get(loss))


def _per_output(value: Any, serialize: Callable[[Any], Any]) -> Any:
    """A compile() argument given once, as a list in output order or as a dict by output name."""
    if value is None:
        return None
    if isinstance(value, dict) and not ({"class_name", "config"} <= set(value)):
        return {str(name): serialize(each) for name, each in value.items()}
    if isinstance(value, (list, tuple)):
        return [serialize(each) for each in value]
    return serialize(value)


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
        model.compile(optimizer=optimizer, loss=config.get("loss"), loss_weights=config.get("loss_weights"),
                      metrics=_metrics(config.get("metrics"), len(model.outputs)),
                      weighted_metrics=_metrics(config.get("weighted_metrics"), len(model.outputs)))
    except (ValueError, TypeError, NotImplementedError) as err:
        warnings.warn(f"model {model.name!r}: the file's training configuration could not be restored "
                      f"({err}); the model is loaded uncompiled", stacklevel=3)


def _metrics(metrics: Any, outputs: int) -> Any:
    """The file's metrics for compile(): one list for a single output, else a dict by output name or
    one list per output (tf.keras nests them so: [[m1, m2], [m3]])."""
    if outputs > 1 and isinstance(metrics, dict):
        return {str(name): _entries(ids if isinstance(ids, list) else [ids])
                for name, ids in metrics.items()}
    if outputs > 1 and isinstance(metrics, list) and len(metrics) == outputs and all(
            isinstance(ids, list) for ids in metrics):
        return [_entries(ids) for ids in metrics]
    return _entries(metrics or [])


def _entries(metrics: Any) -> list[Any]:
    return [metrics_mod.deserialize(m) for m in _flatten(metrics)]


def _flatten(metrics: Any) -> list[Any]:
    """tf.keras nests a single output's metrics: [[m1, m2]]."""
    if isinstance(metrics, dict):
        metrics = list(metrics.values())
    flat = []
    for item in metrics:
        flat.extend(_flatten(item) if isinstance(item, list) else [item])
    return flat
