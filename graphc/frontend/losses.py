"""Keras losses as graph builders, with K3 formulas on the TensorFlow backend.

Loss functions return per-sample values of shape `y_pred.shape[:-1]`; `Loss` objects reduce
them to the batch loss. Crossentropies on the direct output of a sigmoid/softmax activation use
its logits instead (TF backend `_get_logits`), so they neither clip nor saturate.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from graphc.frontend import activations
from graphc.ir.graph import Node
from graphc.ops import builders as b

EPSILON = 1e-7


# -- shape handling -------------------------------------------------------------------------------
def _align(name: str, y_true: Node, y_pred: Node) -> Node:
    """y_true with y_pred's shape, after Keras's squeeze/expand of a trailing axis of size 1."""
    if y_true.shape == y_pred.shape:
        return y_true
    rank_t, rank_p = y_true.type.rank, y_pred.type.rank
    if rank_t + 1 == rank_p and y_pred.shape[-1] == 1 and y_true.shape == y_pred.shape[:-1]:
        return b.reshape(y_true, y_pred.shape)
    if rank_t == rank_p + 1 and y_true.shape[-1] == 1 and y_true.shape[:-1] == y_pred.shape:
        return b.reshape(y_true, y_pred.shape)
    raise ValueError(f"{name}: y_true and y_pred must have the same shape, got y_true {_fmt(y_true)} "
                     f"and y_pred {_fmt(y_pred)}")


def _sparse_labels(name: str, y_true: Node, y_pred: Node) -> Node:
    """Class indices of shape y_pred.shape[:-1]; a trailing axis of size 1 is squeezed."""
    want = y_pred.shape[:-1]
    if y_true.shape == want:
        return y_true
    if y_true.shape == want + (1,):
        return b.reshape(y_true, want)
    raise ValueError(f"{name}: y_true must hold class indices of shape {want} (or {want + (1,)}) for "
                     f"y_pred {_fmt(y_pred)}, got {_fmt(y_true)}")


def _fmt(node: Node) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in node.shape) + ")"


def _mean_last(x: Node) -> Node:
    return b.reduce_mean(x, (-1,)) if x.type.rank else x


def _check_smoothing(name: str, label_smoothing: float) -> float:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: `label_smoothing` must be in [0, 1], got {label_smoothing!r}")
    return float(label_smoothing)


def _logits(y_pred: Node, from_logits: bool, kind: str, name: str) -> tuple[Node, bool]:
    """The pre-activation and True when y_pred came straight out of a `kind` activation."""
    cached = y_pred.meta.get("logits")
    if cached is None or cached[0] != kind:
        return y_pred, from_logits
    if from_logits:
        warnings.warn(f'"`{name}` received `from_logits=True`, but the `output` argument was produced '
                      f"by a {kind} activation and thus does not represent logits. Was this intended?",
                      stacklevel=3)
    return cached[1], True


# -- per-sample functions -------------------------------------------------------------------------
def mean_squared_error(y_true: Node, y_pred: Node) -> Node:
    y_true = _align("mean_squared_error", y_true, y_pred)
    return _mean_last(b.square(y_pred - y_true))


def mean_absolute_error(y_true: Node, y_pred: Node) -> Node:
    y_true = _align("mean_absolute_error", y_true, y_pred)
    return _mean_last(b.abs_(y_pred - y_true))


def mean_absolute_percentage_error(y_true: Node, y_pred: Node) -> Node:
    y_true = _align("mean_absolute_percentage_error", y_true, y_pred)
    ratio = b.abs_((y_true - y_pred) / b.maximum(b.abs_(y_true), EPSILON))
    return 100.0 * _mean_last(ratio)


def mean_squared_logarithmic_error(y_true: Node, y_pred: Node) -> Node:
    y_true = _align("mean_squared_logarithmic_error", y_true, y_pred)
    first = b.log(b.maximum(y_pred, EPSILON) + 1.0)
    second = b.log(b.maximum(y_true, EPSILON) + 1.0)
    return _mean_last(b.square(first - second))


def _hinge_labels(y_true: Node) -> Node:
    """2y - 1 when every label of the batch is 0 or 1 (K3 `convert_binary_labels_to_hinge`)."""
    zero_or_one = b.equal(y_true, 0.0) + b.equal(y_true, 1.0)
    any_other = b.reduce_max(1.0 - zero_or_one)
    return b.select(any_other, y_true, 2.0 * y_true - 1.0)


def hinge(y_true: Node, y_pred: Node) -> Node:
    y_true = _hinge_labels(_align("hinge", y_true, y_pred))
    return _mean_last(b.maximum(1.0 - y_true * y_pred, 0.0))


def squared_hinge(y_true: Node, y_pred: Node) -> Node:
    y_true = _hinge_labels(_align("squared_hinge", y_true, y_pred))
    return _mean_last(b.square(b.maximum(1.0 - y_true * y_pred, 0.0)))


def sigmoid_cross_entropy_with_logits(labels: Node, logits: Node) -> Node:
    """max(z, 0) - z*y + log(1 + e^-|z|), written as TF does so the gradient at z = 0 is exact."""
    nonneg = b.greater_equal(logits, 0.0)
    relu_logits = b.select(nonneg, logits, 0.0)
    neg_abs = b.select(nonneg, -logits, logits)
    return relu_logits - logits * labels + b.log(1.0 + b.exp(neg_abs))


def binary_crossentropy(y_true: Node, y_pred: Node, from_logits: bool = False,
                        label_smoothing: float = 0.0) -> Node:
    y_true = _align("binary_crossentropy", y_true, y_pred)
    smoothing = _check_smoothing("binary_crossentropy", label_smoothing)
    if smoothing:
        y_true = y_true * (1.0 - smoothing) + 0.5 * smoothing
    z, from_logits = _logits(y_pred, from_logits, "sigmoid", "binary_crossentropy")
    if from_logits:
        return _mean_last(sigmoid_cross_entropy_with_logits(y_true, z))
    p = b.clip(y_pred, EPSILON, 1.0 - EPSILON)
    return _mean_last(-(y_true * b.log(p) + (1.0 - y_true) * b.log(1.0 - p)))


def categorical_crossentropy(y_true: Node, y_pred: Node, from_logits: bool = False,
                             label_smoothing: float = 0.0) -> Node:
    """-sum(y log p) over the classes; probabilities are renormalised, then clipped."""
    if y_pred.type.rank == 0 or y_true.shape != y_pred.shape:
        raise ValueError(f"categorical_crossentropy: y_true and y_pred must have the same shape (at least "
                         f"rank 1), got y_true {_fmt(y_true)} and y_pred {_fmt(y_pred)}")
    if y_pred.shape[-1] == 1:
        warnings.warn("In loss categorical_crossentropy, expected y_pred.shape to be (batch_size, "
                      f"num_classes) with num_classes > 1. Received: y_pred.shape={_fmt(y_pred)}. "
                      "Consider using 'binary_crossentropy' if you only have 2 classes.",
                      SyntaxWarning, stacklevel=2)
    smoothing = _check_smoothing("categorical_crossentropy", label_smoothing)
    if smoothing:
        y_true = y_true * (1.0 - smoothing) + smoothing / _class_count(y_pred)
    z, from_logits = _logits(y_pred, from_logits, "softmax", "categorical_crossentropy")
    if from_logits:
        return -b.reduce_sum(y_true * activations.log_softmax(z), (-1,))
    p = b.clip(y_pred / b.reduce_sum(y_pred, (-1,), keepdims=True), EPSILON, 1.0 - EPSILON)
    return -b.reduce_sum(y_true * b.log(p), (-1,))


def sparse_categorical_crossentropy(y_true: Node, y_pred: Node, from_logits: bool = False) -> Node:
    """Crossentropy with class indices: log(clip(p)) is fed to a softmax crossentropy, as TF does."""
    if y_pred.type.rank == 0:
        raise ValueError("sparse_categorical_crossentropy: y_pred must have rank >= 1, got a scalar")
    labels = _sparse_labels("sparse_categorical_crossentropy", y_true, y_pred)
    z, from_logits = _logits(y_pred, from_logits, "softmax", "sparse_categorical_crossentropy")
    if not from_logits:
        z = b.log(b.clip(y_pred, EPSILON, 1.0 - EPSILON))
    one_hot = b.one_hot(labels, _class_count(y_pred))
    return -b.reduce_sum(one_hot * activations.log_softmax(z), (-1,))


def _class_count(y_pred: Node) -> int:
    classes = y_pred.shape[-1]
    if classes is None:
        raise ValueError(f"the class axis of y_pred {_fmt(y_pred)} must not be the batch axis")
    return classes


# -- Loss objects ---------------------------------------------------------------------------------
_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum", "none", None)
# How a loss object called on values that are not graph nodes (tape tensors in a custom training
# loop, arrays) computes: installed by graphc.frontend.recording, which sits above this module.
_value_call: Callable[..., Any] | None = None


def set_value_call(call: Callable[..., Any]) -> None:
    global _value_call
    _value_call = call


class Loss:
    """A loss function plus its arguments and the reduction that makes the batch loss.

    With no sample weights every mean-style reduction is sum(values) / number of values.
    """

    fn: Callable[..., Node]
    sparse = False

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None,
                 **fn_kwargs: Any) -> None:
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: `reduction` must be one of {_REDUCTIONS}, "
                             f"got {reduction!r}")
        self.reduction = reduction
        self.name = name or self.fn.__name__
        self.fn_kwargs = fn_kwargs

    def per_sample(self, y_true: Node, y_pred: Node) -> Node:
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """The batch loss: a graph node for nodes; for other values (tape tensors, arrays) what the
        installed value call gives, as Keras computes a loss object called on tensors."""
        if not (isinstance(y_true, Node) and isinstance(y_pred, Node)) and _value_call is not None:
            return _value_call(self, y_true, y_pred, sample_weight)
        if sample_weight is not None:
            return self.weighted(y_true, y_pred, sample_weight)
        values = self.per_sample(y_true, y_pred)
        if self.reduction in ("none", None):
            return values
        if self.reduction == "sum":
            return b.reduce_sum(values)
        return b.reduce_mean(values)

    def weighted(self, y_true: Node, y_pred: Node, sample_weight: Node) -> Node:
        """The batch loss with one weight per sample (Keras 3's reduce_weighted_values): the per-sample
        values times the weights, summed, then divided by the batch size ("sum_over_batch_size", and
        "mean"), by the weights' sum ("mean_with_sample_weight"), or not at all ("sum")."""
        values = self.per_sample(y_true, y_pred)
        if values.type.rank != 1:
            raise ValueError(f"sample_weight: the loss {self.name!r} gives values of shape {values.shape} "
                             "per batch, expected one value per sample")
        weighted = values * sample_weight
        if self.reduction == "sum":
            return b.reduce_sum(weighted)
        if self.reduction == "mean_with_sample_weight":
            return b.reduce_sum(weighted) / b.reduce_sum(sample_weight)
        return b.reduce_mean(weighted)

    def label_shape(self, pred_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """The shape of the labels the training graph takes for predictions of `pred_shape`."""
        return tuple(pred_shape[:-1]) if self.sparse else tuple(pred_shape)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction, **self.fn_kwargs}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class LossFunctionWrapper(Loss):
    """A user's per-sample function `fn(y_true, y_pred) -> Node` as a Loss."""

    def __init__(self, fn: Callable[..., Node], reduction: str | None = "sum_over_batch_size",
                 name: str | None = None, **fn_kwargs: Any) -> None:
        self.fn = fn
        super().__init__(reduction, name or getattr(fn, "__name__", "loss"), **fn_kwargs)


class MeanSquaredError(Loss):
    fn = staticmethod(mean_squared_error)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None) -> None:
        super().__init__(reduction, name)


class MeanAbsoluteError(Loss):
    fn = staticmethod(mean_absolute_error)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None) -> None:
        super().__init__(reduction, name)


class MeanAbsolutePercentageError(Loss):
    fn = staticmethod(mean_absolute_percentage_error)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None) -> None:
        super().__init__(reduction, name)


class MeanSquaredLogarithmicError(Loss):
    fn = staticmethod(mean_squared_logarithmic_error)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None) -> None:
        super().__init__(reduction, name)


class Hinge(Loss):
    fn = staticmethod(hinge)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None) -> None:
        super().__init__(reduction, name)


class SquaredHinge(Loss):
    fn = staticmethod(squared_hinge)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None) -> None:
        super().__init__(reduction, name)


class BinaryCrossentropy(Loss):
    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction: str | None = "sum_over_batch_size", name: str | None = None) -> None:
        super().__init__(reduction, name, from_logits=bool(from_logits),
                         label_smoothing=_check_smoothing("BinaryCrossentropy", label_smoothing))


class CategoricalCrossentropy(Loss):
    fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction: str | None = "sum_over_batch_size", name: str | None = None) -> None:
        super().__init__(reduction, name, from_logits=bool(from_logits),
                         label_smoothing=_check_smoothing("CategoricalCrossentropy", label_smoothing))


class SparseCategoricalCrossentropy(Loss):
    fn = staticmethod(sparse_categorical_crossentropy)
    sparse = True

    def __init__(self, from_logits: bool = False, reduction: str | None = "sum_over_batch_size",
                 name: str | None = None) -> None:
        super().__init__(reduction, name, from_logits=bool(from_logits))


_CLASSES: tuple[type[Loss], ...] = (
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
    Hinge, SquaredHinge, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
)
_BY_NAME: dict[str, type[Loss]] = {}
for _cls in _CLASSES:
    _BY_NAME[_cls.__name__] = _cls
    _BY_NAME[_cls.fn.__name__] = _cls
for _alias, _target in {"mse": "mean_squared_error", "mae": "mean_absolute_error",
                        "mape": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
                        "bce": "binary_crossentropy"}.items():
    _BY_NAME[_alias] = _BY_NAME[_alias.upper()] = _BY_NAME[_target]
_BY_FUNCTION: dict[Callable[..., Node], type[Loss]] = {cls.fn: cls for cls in _CLASSES}
KNOWN_NAMES = tuple(sorted(_BY_NAME))


def get(identifier: Any) -> Loss:
    """A Loss from a Keras name or alias, a Loss instance or class, a per-sample function or a config."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"unknown loss {identifier!r}; known losses: {', '.join(KNOWN_NAMES)}")
        return _BY_NAME[identifier]()
    if isinstance(identifier, type) and issubclass(identifier, Loss) and identifier is not Loss:
        return identifier()
    if isinstance(identifier, dict):
        return _from_dict(identifier)
    if callable(identifier):
        known = _BY_FUNCTION.get(identifier)
        return known() if known is not None else LossFunctionWrapper(identifier)
    raise ValueError(f"cannot interpret {identifier!r} as a loss; known losses: {', '.join(KNOWN_NAMES)}")


def _from_dict(config: dict[str, Any]) -> Loss:
    name = config.get("class_name")
    if name not in _BY_NAME:
        raise ValueError(f"unknown loss class {name!r} in config; known losses: {', '.join(KNOWN_NAMES)}")
    args = dict(config.get("config") or {})
    try:
        return _BY_NAME[name](**args)
    except TypeError as err:
        raise ValueError(f"bad config for loss {name!r}: {args} ({err})") from None


def serialize(loss: Loss) -> dict[str, Any]:
    """The K3 form: {"module", "class_name", "config", "registered_name"}."""
    if type(loss) not in _CLASSES:
        raise ValueError(f"cannot serialize loss {loss!r}: only the built-in losses have a Keras name")
    return {"module": "keras.losses", "class_name": type(loss).__name__, "config": loss.get_config(),
            "registered_name": None}
