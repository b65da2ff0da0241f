"""Metrics kept as confusion counts: Precision, Recall, AUC and the four counts, as Keras 3 keeps them.

A mean of per-batch ratios is not the ratio over the epoch, so these metrics are not averaged:
the compiled step outputs each batch's true/false positive/negative counts per threshold (sums
over every label element), fit adds them up, and the result is computed from the totals, with
Keras's formulas (divide_no_nan: 0 where a denominator is 0; AUC by Keras's Riemann sums and
Davis & Goadrich's interpolation for the PR curve). Standalone, `update_state`/`result` do the same
with numpy. A prediction counts as positive where it is strictly above the threshold; a label is
positive where it is not 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.frontend.eager import EagerArray
from graphc.ir.graph import Node
from graphc.ops import builders as b

COUNTS = ("tp", "fp", "tn", "fn")
EPSILON = 1e-7


def _divide_no_nan(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.divide(a, c, out=np.zeros_like(a, dtype=np.float64), where=c != 0)


class ConfusionMetric:
    """Counts at `thresholds`; subclasses say what they make of them."""

    default_name = "confusion"

    def __init__(self, thresholds: Any = None, name: str | None = None, dtype: Any = None) -> None:
        values = [0.5] if thresholds is None else np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
        self.thresholds = np.asarray(values, dtype=np.float64)
        if self.thresholds.ndim != 1 or np.any((self.thresholds < 0) | (self.thresholds > 1)):
            if not isinstance(self, AUC):
                raise ValueError(f"{type(self).__name__}: thresholds must lie in [0, 1], got {thresholds!r}")
        self.name = name or self.default_name
        self.dtype = dtype
        self._user_thresholds = thresholds
        self.reset_state()

    # -- compiled: per-batch counts in the graph ------------------------------------------------
    def count_nodes(self, y_true: Node, y_pred: Node) -> dict[str, Node]:
        """(T,) sums over the batch of each count, for one compiled step."""
        if y_true.type.rank == y_pred.type.rank - 1:
            y_true = b.reshape(y_true, (*y_true.shape, 1))
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: labels of shape {y_true.shape} do not match predictions "
                             f"{y_pred.shape}")
        rank = y_pred.type.rank
        thresholds = y_pred.graph.constant(self.thresholds.astype(np.float32))
        expand = (*y_pred.shape, 1)
        positive = b.greater(b.reshape(y_pred, expand), thresholds)
        truth = b.reshape(1.0 - b.equal(y_true, 0.0), expand)
        axes = tuple(range(rank))
        tp = b.reduce_sum(truth * positive, axes)
        fp = b.reduce_sum((1.0 - truth) * positive, axes)
        labelled = b.reduce_sum(truth + 0.0 * positive, axes)
        elements = b.reduce_sum(positive * 0.0 + 1.0, axes)
        return {"tp": tp, "fp": fp, "fn": labelled - tp, "tn": elements - labelled - fp}

    def result_from(self, counts: dict[str, np.ndarray]) -> float:
        raise NotImplementedError

    # -- standalone: Keras's stateful object ------------------------------------------------------
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true = np.asarray(y_true, dtype=np.float64)
        y_pred = np.asarray(y_pred, dtype=np.float64)
        if y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: y_true {y_true.shape} and y_pred {y_pred.shape} do not match")
        weight = np.ones_like(y_pred) if sample_weight is None else np.broadcast_to(
            np.asarray(sample_weight, dtype=np.float64).reshape(-1, *([1] * (y_pred.ndim - 1))), y_pred.shape)
        positive = y_pred.reshape(-1, 1) > self.thresholds
        truth = (y_true.reshape(-1, 1) != 0)
        w = weight.reshape(-1, 1)
        self._counts["tp"] += (w * (truth & positive)).sum(axis=0)
        self._counts["fp"] += (w * (~truth & positive)).sum(axis=0)
        self._counts["fn"] += (w * (truth & ~positive)).sum(axis=0)
        self._counts["tn"] += (w * (~truth & ~positive)).sum(axis=0)

    def result(self) -> np.ndarray:
        return np.asarray(np.float32(self.result_from(self._counts))).view(EagerArray)

    def reset_state(self) -> None:
        self._counts = {key: np.zeros(len(self.thresholds)) for key in COUNTS}

    reset_states = reset_state  # Keras 2's name

    def __call__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "thresholds": self._user_thresholds}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _scalar(values: np.ndarray) -> float:
    return float(values[0])


class Precision(ConfusionMetric):
    default_name = "precision"

    def __init__(self, thresholds: Any = None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        if top_k is not None or class_id is not None:
            raise NotImplementedError(f"{type(self).__name__}: top_k and class_id are not supported yet")
        super().__init__(thresholds, name, dtype)

    def result_from(self, counts: dict[str, np.ndarray]) -> float:
        return _scalar(_divide_no_nan(counts["tp"], counts["tp"] + counts["fp"]))


class Recall(Precision):
    default_name = "recall"

    def result_from(self, counts: dict[str, np.ndarray]) -> float:
        return _scalar(_divide_no_nan(counts["tp"], counts["tp"] + counts["fn"]))


class _Count(ConfusionMetric):
    KEY = "tp"

    def result_from(self, counts: dict[str, np.ndarray]) -> float:
        return _scalar(counts[self.KEY])


class TruePositives(_Count):
    default_name, KEY = "true_positives", "tp"


class FalsePositives(_Count):
    default_name, KEY = "false_positives", "fp"


class TrueNegatives(_Count):
    default_name, KEY = "true_negatives", "tn"


class FalseNegatives(_Count):
    default_name, KEY = "false_negatives", "fn"


class AUC(ConfusionMetric):
    """Area under the ROC or PR curve from counts at `num_thresholds` thresholds (Keras's: 0 - 1e-7,
    evenly spaced ones inside (0, 1), 1 + 1e-7)."""

    default_name = "auc"

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC",
                 summation_method: str = "interpolation", name: str | None = None, dtype: Any = None,
                 thresholds: Any = None, multi_label: bool = False, num_labels: int | None = None,
                 label_weights: Any = None, from_logits: bool = False) -> None:
        if multi_label or label_weights is not None or from_logits:
            raise NotImplementedError("AUC: multi_label, label_weights and from_logits are not supported yet")
        self.curve, self.summation_method = str(curve).upper(), str(summation_method).lower()
        if self.curve not in ("ROC", "PR") or self.summation_method not in ("interpolation", "minoring",
                                                                             "majoring"):
            raise ValueError(f"AUC: curve must be ROC or PR and summation_method interpolation, minoring or "
                             f"majoring, got {curve!r}, {summation_method!r}")
        if thresholds is not None:
            inner = sorted(float(t) for t in np.atleast_1d(thresholds))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be > 1, got {num_thresholds}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.num_thresholds = len(inner) + 2
        super().__init__([0.0 - EPSILON, *inner, 1.0 + EPSILON], name, dtype)
        self._user_thresholds = thresholds

    def result_from(self, counts: dict[str, np.ndarray]) -> float:
        tp, fp, tn, fn = (counts[key].astype(np.float64) for key in COUNTS)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return _interpolated_pr_auc(tp, fp, fn)
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "num_thresholds": self.num_thresholds,
                "curve": self.curve, "summation_method": self.summation_method,
                "thresholds": self._user_thresholds, "multi_label": False, "label_weights": None}


def _interpolated_pr_auc(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> float:
    """Keras's `interpolate_pr_auc` (Davis & Goadrich 2006)."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    dp = p[:-1] - p[1:]
    slope = _divide_no_nan(dtp, np.maximum(dp, 0))
    intercept = tp[1:] - slope * p[1:]
    both = (p[:-1] > 0) & (p[1:] > 0)
    ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
    with np.errstate(divide="ignore"):
        logs = np.where(ratio > 0, np.log(np.where(ratio > 0, ratio, 1.0)), 0.0)
    return float(np.sum(_divide_no_nan(slope * (dtp + intercept * logs), np.maximum(tp[1:] + fn[1:], 0))))


CONFUSION_METRICS = {cls.__name__: cls for cls in (Precision, Recall, AUC, TruePositives, FalsePositives,
                                                   TrueNegatives, FalseNegatives)}
BY_STRING = {**CONFUSION_METRICS, "precision": Precision, "recall": Recall, "auc": AUC}
