"""Keras metrics: per-sample graph functions, compile-time name resolution, and numpy-side means.

Inside `fit` a metric is a graph function giving one value per sample, averaged by the caller; a
weighted metric (`WeightedMean`) gives the batch's weighted sum and weight total instead, since a
weighted mean over the epoch is a ratio of sums. The stateful classes (`Mean`, `BinaryAccuracy`,
...) are the standalone Keras objects; they run the same graph functions through the reference
interpreter, so each formula is written once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc.frontend import losses
from graphc.frontend.compile_metrics import identifier_name
from graphc.frontend.confusion_metrics import BY_STRING as CONFUSION_BY_STRING
from graphc.frontend.confusion_metrics import ConfusionMetric
from graphc.frontend.eager import EagerArray
from graphc.ir.graph import Graph, Node
from graphc.ir.types import Dim, TensorType
from graphc.ops import builders as b

MetricFn = Callable[..., Node]


# -- per-sample graph functions -------------------------------------------------------------------
def _match_ranks(y_true: Node, y_pred: Node) -> tuple[Node, Node]:
    """K3 `squeeze_or_expand_to_same_rank`: fix a rank difference of one at a trailing 1."""
    rank_t, rank_p = y_true.type.rank, y_pred.type.rank
    if rank_t == rank_p + 1 and y_true.shape[-1] == 1:
        if rank_p == 1:
            return y_true, b.reshape(y_pred, y_pred.shape + (1,))
        return b.reshape(y_true, y_true.shape[:-1]), y_pred
    if rank_p == rank_t + 1 and y_pred.shape[-1] == 1:
        if rank_t == 1:
            return b.reshape(y_true, y_true.shape + (1,)), y_pred
        return y_true, b.reshape(y_pred, y_pred.shape[:-1])
    return y_true, y_pred


def accuracy(y_true: Node, y_pred: Node) -> Node:
    """1.0 where y_true == y_pred exactly (keras.metrics.Accuracy), elementwise."""
    y_true, y_pred = _match_ranks(y_true, y_pred)
    return b.equal(y_true, y_pred)


def binary_accuracy(y_true: Node, y_pred: Node, threshold: float = 0.5) -> Node:
    """1.0 where y_true == (y_pred > threshold), elementwise; a prediction equal to it counts as 0."""
    y_true, y_pred = _match_ranks(y_true, y_pred)
    return b.equal(y_true, b.greater(y_pred, float(threshold)))


def categorical_accuracy(y_true: Node, y_pred: Node) -> Node:
    """1.0 where argmax(y_true) == argmax(y_pred); ties pick the first maximum, as argmax does."""
    if y_true.shape != y_pred.shape or y_pred.type.rank == 0:
        raise ValueError(f"categorical_accuracy: y_true and y_pred must have the same shape, got "
                         f"{y_true.shape} and {y_pred.shape}")
    return b.equal(b.argmax(y_true, -1), b.argmax(y_pred, -1))


def _class_indices(y_true: Node, y_pred: Node, metric: str) -> Node:
    """Sparse labels of y_pred's leading shape ((N, 1) labels are squeezed), or a clear error."""
    want = y_pred.shape[:-1]
    if y_true.shape == want + (1,):
        y_true = b.reshape(y_true, want)
    if y_pred.type.rank == 0 or y_true.shape != want:
        raise ValueError(f"{metric}: y_true must have shape {want} for y_pred {y_pred.shape}, got "
                         f"{y_true.shape}")
    return y_true


def sparse_categorical_accuracy(y_true: Node, y_pred: Node) -> Node:
    """1.0 where the class index y_true equals argmax(y_pred); (N, 1) labels are squeezed."""
    return b.equal(_class_indices(y_true, y_pred, "sparse_categorical_accuracy"), b.argmax(y_pred, -1))


def top_k_categorical_accuracy(y_true: Node, y_pred: Node, k: int = 5) -> Node:
    """1.0 where the class argmax(y_true) is among the k highest predictions (one-hot labels)."""
    if y_true.shape != y_pred.shape or y_pred.type.rank == 0:
        raise ValueError(f"top_k_categorical_accuracy: y_true and y_pred must have the same shape, got "
                         f"{y_true.shape} and {y_pred.shape}")
    return _in_top_k(b.argmax(y_true, -1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true: Node, y_pred: Node, k: int = 5,
                                      from_sorted_ids: bool = False) -> Node:
    """1.0 where the class index y_true is among the k highest predictions; with from_sorted_ids,
    y_pred holds class ids best first and y_true must be one of its first k."""
    y_true = _class_indices(y_true, y_pred, "sparse_top_k_categorical_accuracy")
    if not from_sorted_ids:
        return _in_top_k(y_true, y_pred, k)
    first, want = min(int(k), y_pred.shape[-1]), y_pred.shape[:-1]
    best = b.slice_(y_pred, (0,) * y_pred.type.rank, (*want, first))
    return b.reduce_max(b.equal(b.reshape(y_true, (*want, 1)), best), (-1,))


def _in_top_k(target: Node, y_pred: Node, k: int) -> Node:
    """TensorFlow's in_top_k: fewer than k predictions strictly above the target's, so classes tied at
    the k-th place all count as in the top k."""
    classes = y_pred.shape[-1]
    if classes is None:
        raise ValueError(f"top-k accuracy: the class axis of y_pred {y_pred.shape} must not be the batch "
                         "axis")
    at_target = b.reduce_sum(b.one_hot(target, classes) * y_pred, (-1,), keepdims=True)
    above = b.reduce_sum(b.greater(y_pred, at_target), (-1,))
    return 1.0 - b.greater_equal(above, float(k))


mean_squared_error = losses.mean_squared_error
mean_absolute_error = losses.mean_absolute_error
mean_absolute_percentage_error = losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = losses.mean_squared_logarithmic_error
binary_crossentropy = losses.binary_crossentropy
categorical_crossentropy = losses.categorical_crossentropy
sparse_categorical_crossentropy = losses.sparse_categorical_crossentropy
hinge = losses.hinge
squared_hinge = losses.squared_hinge

_FUNCTIONS: dict[str, MetricFn] = {
    fn.__name__: fn
    for fn in (accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
               top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
               mean_absolute_error, mean_absolute_percentage_error,
               mean_squared_logarithmic_error, binary_crossentropy, categorical_crossentropy,
               sparse_categorical_crossentropy, hinge, squared_hinge)
}
_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
            "mape": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
            "bce": "binary_crossentropy"}
_ALIASES.update({alias.upper(): target for alias, target in _ALIASES.items()})


# -- compile-time resolution ----------------------------------------------------------------------
def _kind(y_true_shape: Sequence[Dim], y_pred_shape: Sequence[Dim]) -> str:
    """K3 `is_binary_or_sparse_categorical`: 'binary', 'sparse' or 'categorical'."""
    pred_last = tuple(y_pred_shape)[-1:]
    if pred_last == (1,):
        return "binary"
    sparse = len(y_true_shape) < len(y_pred_shape) or (
        tuple(y_true_shape)[-1:] == (1,) and pred_last not in ((), (None,)) and pred_last[0] > 1)
    return "sparse" if sparse else "categorical"


_ACCURACY_BY_KIND = {"binary": binary_accuracy, "sparse": sparse_categorical_accuracy,
                     "categorical": categorical_accuracy}
_CROSSENTROPY_BY_KIND = {"binary": "binary_crossentropy", "sparse": "sparse_categorical_crossentropy",
                         "categorical": "categorical_crossentropy"}


class Metric:
    """A compiled metric: its log name and a graph function giving one value per sample."""

    def __init__(self, name: str, fn: MetricFn, **fn_kwargs: Any) -> None:
        self.name = name
        self.fn = fn
        self.fn_kwargs = fn_kwargs

    def __call__(self, y_true: Node, y_pred: Node) -> Node:
        """Shape (N,) for batched predictions: Keras's mean over all but the first axis."""
        values = self.fn(y_true, y_pred, **self.fn_kwargs)
        if values.type.rank > 1:
            values = b.reduce_mean(values, tuple(range(1, values.type.rank)))
        return values

    def __repr__(self) -> str:
        return f"<Metric {self.name}: {self.fn.__name__}>"


def resolve(identifier: Any, y_true_shape: Sequence[Dim],
            y_pred_shape: Sequence[Dim]) -> Metric | ConfusionMetric:
    """The metric for a compile() entry, given the label data and prediction shapes (K3 rules)."""
    if isinstance(identifier, (Metric, ConfusionMetric)):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, ConfusionMetric):
        return identifier()
    if isinstance(identifier, str) and identifier in CONFUSION_BY_STRING:
        return CONFUSION_BY_STRING[identifier]()
    if isinstance(identifier, MeanMetricWrapper):
        return Metric(identifier.name, identifier.fn, **identifier.fn_kwargs)
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return Metric(identifier, _ACCURACY_BY_KIND[_kind(y_true_shape, y_pred_shape)])
        name = _ALIASES.get(identifier, identifier)
        if name not in _FUNCTIONS:
            known = ", ".join(sorted({"accuracy", "acc", *_FUNCTIONS, *_ALIASES}))
            raise ValueError(f"unknown metric {identifier!r}; known metrics: {known}")
        return Metric(identifier, _FUNCTIONS[name])
    if isinstance(identifier, Mean):
        raise ValueError(f"metric {identifier.name!r} has no per-sample function to compile; use a "
                         "MeanMetricWrapper-based metric, a name or a function")
    if isinstance(identifier, type) and issubclass(identifier, MeanMetricWrapper):
        return resolve(identifier(), y_true_shape, y_pred_shape)
    if isinstance(identifier, losses.Loss):
        return Metric(identifier.name, identifier.per_sample)
    if callable(identifier):
        return Metric(getattr(identifier, "__name__", "metric"), identifier)
    raise ValueError(f"cannot interpret {identifier!r} as a metric")


class WeightedMean:
    """A compiled metric of `weighted_metrics` that Keras averages with a Mean: a batch gives
    sum(w * value) and sum(w) (the sample count when unweighted); fit adds them up and logs their
    ratio, Keras's sample-weighted mean over the epoch (not a mean of batch means)."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric
        self.name = metric.name

    def count_nodes(self, y_true: Node, y_pred: Node, sample_weight: Node | None = None) -> dict[str, Node]:
        values = self.metric(y_true, y_pred)
        if values.type.rank == 0:
            values = b.broadcast_to(values, (None,))
        if sample_weight is None:
            return {"total": b.reduce_sum(values), "count": b.reduce_sum(values * 0.0 + 1.0)}
        return {"total": b.reduce_sum(values * sample_weight), "count": b.reduce_sum(sample_weight)}

    @staticmethod
    def result_from(counts: dict[str, np.ndarray]) -> float:
        count = float(counts["count"])
        return float(counts["total"]) / count if count else 0.0

    def __repr__(self) -> str:
        return f"<WeightedMean {self.name}: {self.metric.fn.__name__}>"


def weighted(metric: Metric | ConfusionMetric) -> WeightedMean | ConfusionMetric:
    """A resolved metric as `weighted_metrics` compiles it: counts take the weights as they are."""
    return metric if isinstance(metric, ConfusionMetric) else WeightedMean(metric)


def resolve_loss_alias(identifier: str, y_true_shape: Sequence[Dim], y_pred_shape: Sequence[Dim]) -> str:
    """'crossentropy'/'ce' become the binary, sparse or categorical crossentropy by the K3 shape rule."""
    if identifier not in ("crossentropy", "ce"):
        return identifier
    return _CROSSENTROPY_BY_KIND[_kind(y_true_shape, y_pred_shape)]


# -- standalone stateful metrics -------------------------------------------------------------------
class Mean:
    """total += sum(values * weights), count += sum(weights) (or the sample count); result total/count."""

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        self.name = name
        self.dtype = dtype
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=np.float64)
            values, weight = _squeeze_or_expand(values, weight)
            if values.ndim > weight.ndim:
                values = values.mean(axis=tuple(range(weight.ndim, values.ndim)))
            try:
                weight = np.broadcast_to(weight, values.shape)
            except ValueError:
                raise ValueError(f"{self.name}: sample_weight of shape {np.shape(sample_weight)} does not "
                                 f"match values of shape {values.shape}") from None
            values = values * weight
            if weight.ndim > 1:
                weight = weight.mean(axis=tuple(range(1, weight.ndim)))
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        self.total += float(np.sum(values))
        if sample_weight is not None:
            self.count += float(np.sum(weight))
        else:
            self.count += values.shape[0] if values.ndim >= 1 else 1

    def result(self) -> EagerArray:
        """A float32 scalar with `.numpy()`, as Keras returns a tensor (`train_acc.result().numpy()`)."""
        return np.asarray(self.total / self.count if self.count else 0.0, dtype=np.float32).view(EagerArray)

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> float:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}


def _squeeze_or_expand(values: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if weight.ndim == values.ndim + 1 and weight.shape[-1] == 1:
        weight = weight[..., 0]
    elif values.ndim == weight.ndim + 1 and values.shape[-1] == 1:
        values = values[..., 0]
    return values, weight


class MeanMetricWrapper(Mean):
    """The mean of a per-sample metric function over every batch seen since the last reset."""

    def __init__(self, fn: MetricFn, name: str | None = None, dtype: Any = None, **fn_kwargs: Any) -> None:
        super().__init__(name or fn.__name__, dtype)
        self.fn = fn
        self.fn_kwargs = fn_kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        super().update_state(self.values(y_true, y_pred), sample_weight)

    def values(self, y_true: Any, y_pred: Any) -> np.ndarray:
        """The metric function evaluated by the reference interpreter on concrete arrays."""
        from graphc.interpreter import evaluate

        y_true = np.asarray(y_true, dtype=np.float32)
        y_pred = np.asarray(y_pred, dtype=np.float32)
        graph = Graph(self.name)
        t = graph.input("y_true", TensorType(y_true.shape))
        p = graph.input("y_pred", TensorType(y_pred.shape))
        graph.outputs["values"] = self.fn(t, p, **self.fn_kwargs)
        outputs, _ = evaluate(graph, {"y_true": y_true, "y_pred": y_pred})
        return outputs["values"]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.fn_kwargs}


class Accuracy(MeanMetricWrapper):
    def __init__(self, name: str = "accuracy", dtype: Any = None) -> None:
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name: str = "binary_accuracy", dtype: Any = None, threshold: float = 0.5) -> None:
        super().__init__(binary_accuracy, name, dtype, threshold=float(threshold))


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(sparse_categorical_accuracy, name, dtype)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(mean_squared_error, name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(mean_absolute_error, name, dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(top_k_categorical_accuracy, name, dtype, k=int(k))


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype: Any = None,
                 from_sorted_ids: bool = False) -> None:
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=int(k),
                         from_sorted_ids=bool(from_sorted_ids))


# -- saved compile configurations -------------------------------------------------------------------
_SAVED_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError,
                *CONFUSION_BY_STRING.values())
}


def serialize(identifier: Any) -> Any:
    """A compile() metric entry as Keras 3 saves it: names stay names, the metric objects whose
    class graphc knows become {"module", "class_name", "config", "registered_name"} (so their
    arguments survive a save; a class is saved as its default object), anything else its name."""
    if isinstance(identifier, type) and _SAVED_CLASSES.get(identifier.__name__) is identifier:
        identifier = identifier()
    if not isinstance(identifier, str) and _SAVED_CLASSES.get(type(identifier).__name__) is type(identifier):
        return {"module": "keras.metrics", "class_name": type(identifier).__name__,
                "config": identifier.get_config(), "registered_name": None}
    return identifier_name(identifier)


def deserialize(entry: Any) -> Any:
    """A saved metric entry for compile(): a name, or an object of a known class rebuilt from its
    config; other configs (tf.keras's MeanMetricWrapper entries) by their metric's name."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        config = dict(entry.get("config") or {})
        cls = _SAVED_CLASSES.get(str(entry.get("class_name")))
        if cls is not None:  # arguments of other Keras versions that graphc's class lacks are left out
            accepted = inspect.signature(cls).parameters
            return cls(**{key: value for key, value in config.items() if key in accepted})
        if isinstance(config.get("name"), str):
            return config["name"]
    raise ValueError(f"cannot read metric {entry!r}")
