"""compile()'s `metrics` and `weighted_metrics`: per output, and the names Keras 3 logs them under.

Keras 3 (`trainers/compile_utils.CompileMetrics.result`) names a metric of a model with several
outputs `<output>_<name>`; a name an earlier metric took gets `_1`, `_2`, ...; a weighted metric
whose name is taken becomes `weighted_<name>` (then `_1`, ...). So `metrics=["accuracy"],
weighted_metrics=["accuracy"]` logs `accuracy` (unweighted) and `weighted_accuracy`, and a metric
only in `weighted_metrics` keeps its plain name.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any


def per_output(metrics: Any, names: list[str], what: str = "metrics") -> dict[str, list[Any]]:
    """compile()'s metrics for a model with several outputs, by output name: a dict by output name,
    a list with one list per output (Keras 3), or one list every output gets (tf.keras)."""
    if isinstance(metrics, dict) and not ({"class_name", "config"} <= set(metrics)):
        unknown = set(metrics) - set(names)
        if unknown:
            raise ValueError(f"compile(): `{what}` names outputs {sorted(unknown)}; the model's outputs are "
                             f"{names}")
        return {name: as_list(metrics.get(name)) for name in names}
    if (isinstance(metrics, (list, tuple)) and len(metrics) == len(names)
            and all(entry is None or isinstance(entry, (list, tuple)) for entry in metrics)):
        return {name: as_list(entry) for name, entry in zip(names, metrics, strict=True)}
    return dict.fromkeys(names, as_list(metrics))


def as_list(metrics: Any) -> list[Any]:
    if metrics is None:
        return []
    if isinstance(metrics, (str, dict)) or not isinstance(metrics, Sequence):
        return [metrics]
    return list(metrics)


def identifier_name(identifier: Any) -> str:
    """The name a compile() entry logs under before it is resolved (a name, an object's name, a
    function's name)."""
    if isinstance(identifier, str):
        return identifier
    return getattr(identifier, "name", None) or getattr(identifier, "__name__", None) or str(identifier)


def log_names(metrics: list[list[str]], weighted: list[list[str]],
              outputs: Sequence[str | None]) -> tuple[list[list[str]], list[list[str]]]:
    """Keras 3's log names of each output's metrics and weighted metrics (outputs: None for a model
    with one output, whose names take no prefix)."""
    taken: dict[str, int] = {}

    def prefixed(output: str | None, name: str) -> str:
        return f"{output}_{name}" if output else name

    def numbered(name: str) -> str:
        if name not in taken:
            taken[name] = 1
            return name
        index = taken[name]
        taken[name] += 1
        return f"{name}_{index}"

    plain = [[numbered(prefixed(output, name)) for name in names] for output, names in zip(outputs, metrics,
                                                                                            strict=True)]
    with_weights = []
    for output, names in zip(outputs, weighted, strict=True):
        logged = []
        for name in names:
            if prefixed(output, name) not in taken:
                logged.append(numbered(prefixed(output, name)))
            else:
                logged.append(numbered(prefixed(output, f"weighted_{name}")))
        with_weights.append(logged)
    return plain, with_weights


def name_metrics(specs: Sequence[Any], outputs: Sequence[str | None]) -> None:
    """Rename each output spec's resolved metrics and weighted metrics to their log names."""
    plain, weighted = log_names([[m.name for m in spec.metrics] for spec in specs],
                                [[m.name for m in spec.weighted_metrics] for spec in specs], outputs)
    for spec, names, weighted_names in zip(specs, plain, weighted, strict=True):
        spec.metrics = [renamed(m, name) for m, name in zip(spec.metrics, names, strict=True)]
        spec.weighted_metrics = [renamed(m, name) for m, name in zip(spec.weighted_metrics, weighted_names,
                                                                     strict=True)]


def renamed(metric: Any, name: str) -> Any:
    """The metric logged under `name`: a copy when that differs from its name, so an object given to
    compile (maybe in both lists) keeps its own."""
    if metric.name == name:
        return metric
    copied = copy.copy(metric)
    copied.name = name
    return copied
