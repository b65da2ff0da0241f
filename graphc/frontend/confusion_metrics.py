"""Metrics kept as confusion counts: Precision, Recall, AUC and the four counts, as Keras 3 keeps them.

A mean of per-batch ratios is not the ratio over the epoch, so these metrics are not averaged: a
batch gives its (sample-weighted) true/false positive/negative counts per threshold, the counts are
added up, and the result is computed from the totals with Keras's formulas (divide_no_nan: 0 where a
denominator is 0; AUC by Keras's Riemann sums and Davis & Goadrich's interpolation for the PR curve).
One graph function, `count_nodes`, gives a batch's counts: the compiled steps output it, and the
standalone objects' `update_state` runs it in the reference interpreter, so the two agree by
construction. A prediction counts as positive where it is strictly above the threshold; a label is
positive where it is not 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.frontend.eager import EagerArray
from graphc.ir.graph import Graph, Node
from graphc.ir.types import Dim, TensorType
from graphc.ops import builders as b

COUNTS = ("tp", "fp", "tn", "fn")
EPSILON = 1e-7
NEG_INF = -1e10  # Keras's value for the predictions top_k leaves out, and Precision's threshold then


def _divide_no_nan(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.divide(a, c, out=np.zeros(np.broadcast(a, c).shape, dtype=np.float64), where=c != 0)


def _user_thresholds(thresholds: Any, default: float, owner: str) -> np.ndarray:
    """Keras's parse_init_thresholds: the given thresholds must lie in [0, 1]; the default may not."""
    if thresholds is None:
        return np.array([default], dtype=np.float64)
    values = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if values.ndim != 1 or np.any((values < 0) | (values > 1)):
        raise ValueError(f"{owner}: thresholds must lie in [0, 1], got {thresholds!r}")
    return values


def _evenly_distributed(thresholds: np.ndarray) -> bool:
    """Keras's is_evenly_distributed_thresholds: then Keras buckets clipped predictions, which is
    the same as clipping them to [0, 1] before comparing."""
    count = len(thresholds)
    return count >= 3 and bool(np.allclose(thresholds, np.arange(count) / (count - 1), atol=EPSILON))


def common_shape(true_shape: tuple[Dim, ...], pred_shape: tuple[Dim, ...], owner: str) -> tuple[Dim, ...]:
    """The shape labels and predictions both take: Keras's squeeze_or_expand_to_same_rank(y_pred,
    y_true) adds or drops a trailing axis of 1, after which they must agree."""
    t, p = tuple(true_shape), tuple(pred_shape)
    if len(p) == len(t) + 1 and p[-1] == 1:
        shape = p if len(t) == 1 else p[:-1]
    elif len(t) == len(p) + 1 and t[-1] == 1:
        shape = t if len(p) == 1 else t[:-1]
    else:
        shape = p
    if _squeezed(t) != _squeezed(shape) or _squeezed(p) != _squeezed(shape):
        raise ValueError(f"{owner}: labels of shape {t} do not match predictions of shape {p}")
    return shape


def _squeezed(shape: tuple[Dim, ...]) -> tuple[Dim, ...]:
    return shape[:-1] if shape[-1:] == (1,) else shape


def _element_weights(sample_weight: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A standalone update's sample_weight as one weight per element, as Keras broadcasts it
    (expand a trailing axis, squeeze it again where the ranks then differ by one)."""
    weights = np.asarray(sample_weight, dtype=np.float32)[..., None]
    if weights.ndim == len(shape) + 1 and weights.shape[-1] == 1:
        weights = weights[..., 0]
    try:
        return np.ascontiguousarray(np.broadcast_to(weights, shape))
    except ValueError:
        raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not broadcast to the "
                         f"labels' shape {shape}") from None


class ConfusionMetric:
    """Counts at `thresholds`; subclasses say which counts they keep and what they make of them."""

    default_name = "confusion"
    KEYS: tuple[str, ...] = COUNTS
    top_k: int | None = None
    class_id: int | None = None
    multi_label = False
    num_labels: int | None = None
    from_logits = False
    label_weights: np.ndarray | None = None

    def __init__(self, thresholds: np.ndarray, name: str | None, dtype: Any, clip: bool = False) -> None:
        self.thresholds = thresholds
        self.clip = clip  # predictions clipped to [0, 1] first (Keras's evenly spaced thresholds)
        self.name = name or self.default_name
        self.dtype = dtype
        self.reset_state()

    # -- one batch's counts, as graph nodes ------------------------------------------------------
    def count_nodes(self, y_true: Node, y_pred: Node, sample_weight: Node | None = None) -> dict[str, Node]:
        """A compiled step's counts: each (T,) (or (labels, T) for a multi-label AUC) summed over the
        batch, each sample's elements weighed by its sample_weight when one is given."""
        shape = common_shape(y_true.shape, y_pred.shape, self.name)
        y_true, y_pred = b.reshape(y_true, shape), b.reshape(y_pred, shape)
        weights = None
        if sample_weight is not None:
            per_sample = b.reshape(sample_weight, (shape[0], *([1] * (len(shape) - 1))))
            weights = b.broadcast_to(per_sample, shape)
        return self._counts_of(y_true, y_pred, weights)

    def _counts_of(self, y_true: Node, y_pred: Node, weights: Node | None) -> dict[str, Node]:
        """Keras's update_confusion_matrix_variables on labels, predictions and element weights of one
        shape: sigmoid (from_logits), top_k, class_id, clipping, label weights, then the counts."""
        if self.from_logits:
            y_pred = b.sigmoid(y_pred)
        if self.top_k is not None:
            y_pred = _keep_top_k(y_pred, self.top_k, self.name)
        if self.class_id is not None:
            y_true, y_pred, weights = (None if x is None else _column(x, self.class_id, self.name)
                                       for x in (y_true, y_pred, weights))
        if self.clip:
            y_pred = b.clip(y_pred, 0.0, 1.0)
        if self.multi_label and (y_pred.type.rank != 2 or self.num_labels not in (None, y_pred.shape[-1])):
            raise ValueError(f"{self.name}: multi_label needs predictions of shape (samples, "
                             f"{self.num_labels or 'labels'}), got {y_pred.shape}")
        if self.label_weights is not None and not self.multi_label:  # multi-label: they weigh the AUCs
            label_weights = y_pred.graph.constant(self.label_weights.astype(np.float32))
            weights = label_weights if weights is None else weights * label_weights
        graph, shape = y_pred.graph, y_pred.shape
        thresholds = graph.constant(self.thresholds.astype(np.float32))
        positive = b.greater(b.reshape(y_pred, (*shape, 1)), thresholds)
        negative = 1.0 - positive
        truth = b.reshape(1.0 - b.equal(y_true, 0.0), (*shape, 1))
        falsity = 1.0 - truth
        if weights is not None:
            weight = b.reshape(weights, (*weights.shape, 1))  # label weights alone: (classes, 1)
            truth, falsity = truth * weight, falsity * weight
        axes = tuple(range(len(shape) - 1 if self.multi_label else len(shape)))  # a label's counts apart
        products = {"tp": (truth, positive), "fp": (falsity, positive), "tn": (falsity, negative),
                    "fn": (truth, negative)}
        return {key: b.reduce_sum(products[key][0] * products[key][1], axes) for key in self.KEYS}

    def result_from(self, counts: dict[str, np.ndarray]) -> Any:
        """The metric of the summed counts: a float, or one value per threshold for several."""
        raise NotImplementedError

    # -- standalone: Keras's stateful object ------------------------------------------------------
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """The batch's counts by the graph function, run by the reference interpreter."""
        from graphc.interpreter import evaluate

        y_true = np.asarray(y_true, dtype=np.float32)
        y_pred = np.asarray(y_pred, dtype=np.float32)
        shape = common_shape(y_true.shape, y_pred.shape, self.name)
        feeds = {"y_true": y_true.reshape(shape), "y_pred": y_pred.reshape(shape)}
        if sample_weight is not None:
            feeds["weights"] = _element_weights(sample_weight, shape)
        graph = Graph(self.name)
        nodes = {name: graph.input(name, TensorType(shape)) for name in feeds}
        graph.outputs.update(self._counts_of(nodes["y_true"], nodes["y_pred"], nodes.get("weights")))
        counts, _ = evaluate(graph, feeds)
        for key in self.KEYS:
            self._counts[key] = self._counts[key] + counts[key].astype(np.float64)

    def result(self) -> np.ndarray:
        return np.asarray(self.result_from(self._counts), dtype=np.float32).view(EagerArray)

    def reset_state(self) -> None:
        self._counts = {key: np.zeros(len(self.thresholds)) for key in self.KEYS}

    reset_states = reset_state  # Keras 2's name

    def __call__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _keep_top_k(y_pred: Node, k: int, owner: str) -> Node:
    """Keras's _filter_top_k: the k largest predictions of each row kept, the others NEG_INF. Of equal
    values the lower index ranks first, as TensorFlow's top_k orders them."""
    classes = y_pred.shape[-1]
    if classes is None or not 1 <= k <= classes:
        raise ValueError(f"{owner}: top_k={k} needs predictions with at least {k} classes, got shape "
                         f"{y_pred.shape}")
    rows = y_pred.shape[:-1]
    mine = b.reshape(y_pred, (*rows, classes, 1))
    other = b.reshape(y_pred, (*rows, 1, classes))
    earlier = y_pred.graph.constant(np.tril(np.ones((classes, classes), dtype=np.float32), -1))
    ahead = b.reduce_sum(b.greater(other, mine) + b.equal(other, mine) * earlier, (-1,))
    kept = 1.0 - b.greater_equal(ahead, float(k))
    return y_pred * kept + (1.0 - kept) * NEG_INF


def _column(x: Node, class_id: int, owner: str) -> Node:
    """x[..., class_id, None]: one class's column, as Keras slices it."""
    classes = x.shape[-1]
    if x.type.rank < 2 or classes is None or not 0 <= class_id < classes:
        raise ValueError(f"{owner}: class_id={class_id} needs predictions of shape (samples, classes) with "
                         f"more than {class_id} classes, got {x.shape}")
    return b.slice_(x, (*([0] * (x.type.rank - 1)), class_id), (*x.shape[:-1], 1))


def _plain(thresholds: Any) -> Any:
    """Thresholds as given, in JSON's types (a saved compile configuration holds them)."""
    return None if thresholds is None else np.asarray(thresholds, dtype=np.float64).tolist()


def _per_threshold(values: np.ndarray) -> Any:
    """Keras's result: a scalar for one threshold, else one value per threshold."""
    return float(values[0]) if len(values) == 1 else values


class Precision(ConfusionMetric):
    """tp / (tp + fp). With top_k only each row's k largest predictions can be positive (the default
    threshold is then NEG_INF: exactly those); with class_id only that class's column counts."""

    default_name = "precision"
    KEYS = ("tp", "fp")

    def __init__(self, thresholds: Any = None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        self.top_k = None if top_k is None else int(top_k)
        self.class_id = None if class_id is None else int(class_id)
        self._init_thresholds = thresholds
        values = _user_thresholds(thresholds, 0.5 if top_k is None else NEG_INF, type(self).__name__)
        super().__init__(values, name, dtype, clip=_evenly_distributed(values))

    def result_from(self, counts: dict[str, np.ndarray]) -> Any:
        return _per_threshold(_divide_no_nan(counts["tp"], counts["tp"] + counts["fp"]))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "thresholds": _plain(self._init_thresholds),
                "top_k": self.top_k, "class_id": self.class_id}


class Recall(Precision):
    """tp / (tp + fn), with Precision's top_k and class_id."""

    default_name = "recall"
    KEYS = ("tp", "fn")

    def result_from(self, counts: dict[str, np.ndarray]) -> Any:
        return _per_threshold(_divide_no_nan(counts["tp"], counts["tp"] + counts["fn"]))


class _Count(ConfusionMetric):
    """One count per threshold (Keras 3's TruePositives, ... take no top_k or class_id)."""

    def __init__(self, thresholds: Any = None, name: str | None = None, dtype: Any = None) -> None:
        self._init_thresholds = thresholds
        values = _user_thresholds(thresholds, 0.5, type(self).__name__)
        super().__init__(values, name, dtype, clip=_evenly_distributed(values))

    def result_from(self, counts: dict[str, np.ndarray]) -> Any:
        return _per_threshold(counts[self.KEYS[0]])

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "thresholds": _plain(self._init_thresholds)}


class TruePositives(_Count):
    default_name, KEYS = "true_positives", ("tp",)


class FalsePositives(_Count):
    default_name, KEYS = "false_positives", ("fp",)


class TrueNegatives(_Count):
    default_name, KEYS = "true_negatives", ("tn",)


class FalseNegatives(_Count):
    default_name, KEYS = "false_negatives", ("fn",)


class AUC(ConfusionMetric):
    """Area under the ROC or PR curve from counts at `num_thresholds` thresholds (Keras's: 0 - 1e-7,
    evenly spaced ones inside (0, 1), 1 + 1e-7). multi_label keeps each label's counts apart and
    averages the labels' areas (weighted by label_weights when given); without it label_weights weigh
    the flattened elements. from_logits applies a sigmoid to the predictions first."""

    default_name = "auc"

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC",
                 summation_method: str = "interpolation", name: str | None = None, dtype: Any = None,
                 thresholds: Any = None, multi_label: bool = False, num_labels: int | None = None,
                 label_weights: Any = None, from_logits: bool = False) -> None:
        self.curve, self.summation_method = str(curve).upper(), str(summation_method).lower()
        if self.curve not in ("ROC", "PR") or self.summation_method not in ("interpolation", "minoring",
                                                                             "majoring"):
            raise ValueError(f"AUC: curve must be ROC or PR and summation_method interpolation, minoring or "
                             f"majoring, got {curve!r}, {summation_method!r}")
        if thresholds is not None:
            inner = sorted(float(t) for t in np.atleast_1d(thresholds))
            evenly = _evenly_distributed(np.array([0.0, *inner, 1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be > 1, got {num_thresholds}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            evenly = True
        if num_labels and not multi_label:
            raise ValueError("AUC: `num_labels` is needed only when `multi_label` is True")
        self.num_thresholds = len(inner) + 2
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self.from_logits = bool(from_logits)
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=np.float64)
        self._init_thresholds = thresholds
        super().__init__(np.array([0.0 - EPSILON, *inner, 1.0 + EPSILON]), name, dtype, clip=evenly)

    def result_from(self, counts: dict[str, np.ndarray]) -> float:
        """Per label along the last (threshold) axis; a multi-label AUC averages the labels' areas."""
        tp, fp, tn, fn = (np.asarray(counts[key], dtype=np.float64) for key in COUNTS)
        if self.curve == "PR" and self.summation_method == "interpolation":
            areas = _interpolated_pr_auc(tp, fp, fn)
        else:
            recall = _divide_no_nan(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _divide_no_nan(fp, fp + tn), recall
            else:
                x, y = recall, _divide_no_nan(tp, tp + fp)
            if self.summation_method == "interpolation":
                heights = (y[..., :-1] + y[..., 1:]) / 2.0
            elif self.summation_method == "minoring":
                heights = np.minimum(y[..., :-1], y[..., 1:])
            else:
                heights = np.maximum(y[..., :-1], y[..., 1:])
            areas = np.sum((x[..., :-1] - x[..., 1:]) * heights, axis=-1)
        if not self.multi_label:
            return float(areas)
        if self.label_weights is None:
            return float(np.mean(areas))
        return float(_divide_no_nan(np.sum(areas * self.label_weights), np.sum(self.label_weights)))

    def get_config(self) -> dict[str, Any]:
        config = {"name": self.name, "dtype": self.dtype, "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self.from_logits}
        if self._init_thresholds is not None:
            config["thresholds"] = [float(t) for t in self.thresholds[1:-1]]
        return config


def _interpolated_pr_auc(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Keras's `interpolate_pr_auc` (Davis & Goadrich 2006), per label along the last axis."""
    dtp = tp[..., :-1] - tp[..., 1:]
    p = tp + fp
    dp = p[..., :-1] - p[..., 1:]
    slope = _divide_no_nan(dtp, np.maximum(dp, 0))
    intercept = tp[..., 1:] - slope * p[..., 1:]
    both = (p[..., :-1] > 0) & (p[..., 1:] > 0)
    ratio = np.where(both, _divide_no_nan(p[..., :-1], np.maximum(p[..., 1:], 0)), 1.0)
    with np.errstate(divide="ignore"):
        logs = np.where(ratio > 0, np.log(np.where(ratio > 0, ratio, 1.0)), 0.0)
    increments = _divide_no_nan(slope * (dtp + intercept * logs), np.maximum(tp[..., 1:] + fn[..., 1:], 0))
    return np.sum(increments, axis=-1)


CONFUSION_METRICS = {cls.__name__: cls for cls in (Precision, Recall, AUC, TruePositives, FalsePositives,
                                                   TrueNegatives, FalseNegatives)}
BY_STRING = {**CONFUSION_METRICS, "precision": Precision, "recall": Recall, "auc": AUC}
