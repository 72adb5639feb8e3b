"""Metrics bound to fixed true values, for scoring many predictions of the same rows.

Greedy ensemble selection and the nested replay of the search (:mod:`tools.search.honest`)
score hundreds of blends of out-of-fold predictions. scikit-learn's metrics validate
and re-encode the (often text) labels on every call; on 36,000 rows that made one
ensemble selection take 11 s. :func:`bind_metric` encodes the labels once and
computes the common metrics with numpy, to the same values as
:meth:`tools.metrics.MetricSpec.compute` (tested); other metrics fall back to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

from tools.metrics import MetricSpec

BoundMetric = Callable[[np.ndarray], float]
"""Predictions (class probabilities ``n x k``, or values) -> the metric, natural units;
NaN where the metric is undefined on these rows."""


def bind_metric(spec: MetricSpec, y_true: Any, classes: Sequence[Any] | None) -> BoundMetric:
    """``spec`` on the rows of ``y_true``, as a function of the predictions alone.

    Classification predictions are probabilities with columns in ``classes`` order;
    labels are their argmax, as :func:`tools.search.ensemble.select_ensemble` reads them.
    """
    y = np.asarray(y_true)
    if classes is None:
        return _regression(spec, y.astype(np.float64))
    labels = np.asarray(classes)
    index = {value: i for i, value in enumerate(labels.tolist())}
    codes = np.fromiter((index.get(v, -1) for v in y.tolist()), dtype=np.int64, count=len(y))
    if (codes < 0).any():
        return _fallback(spec, y, labels)
    fast = _classification(spec, codes, len(labels))
    return fast if fast is not None else _fallback(spec, y, labels)


def _fallback(spec: MetricSpec, y: np.ndarray, labels: np.ndarray | None) -> BoundMetric:
    def score(predictions: np.ndarray) -> float:
        try:
            if labels is None:
                return float(spec.compute(y, predictions, None, classes=None))
            predicted = labels[np.argmax(predictions, axis=1)]
            return float(spec.compute(y, predicted, predictions, classes=labels))
        except ValueError:
            return math.nan

    return score


def _regression(spec: MetricSpec, y: np.ndarray) -> BoundMetric:
    if spec.name == "root_mean_squared_error":
        return lambda p: float(np.sqrt(np.mean((y - np.asarray(p, dtype=np.float64)) ** 2)))
    if spec.name == "mean_absolute_error":
        return lambda p: float(np.mean(np.abs(y - np.asarray(p, dtype=np.float64))))
    total = float(np.sum((y - y.mean()) ** 2))
    if spec.name == "r2" and total > 0:
        return lambda p: 1.0 - float(np.sum((y - np.asarray(p, dtype=np.float64)) ** 2)) / total
    return _fallback(spec, y, None)


def _classification(spec: MetricSpec, codes: np.ndarray, n_classes: int) -> BoundMetric | None:
    n = len(codes)
    rows = np.arange(n)
    present = np.unique(codes)
    if spec.name == "log_loss":
        eps = np.finfo(np.float64).eps

        def log_loss(p: np.ndarray) -> float:
            picked = np.clip(np.asarray(p, dtype=np.float64)[rows, codes], eps, 1 - eps)
            return float(-np.mean(np.log(picked)))

        return log_loss
    if spec.name == "accuracy":
        return lambda p: float(np.mean(np.argmax(p, axis=1) == codes))
    if spec.name == "balanced_accuracy":
        masks = [codes == c for c in present]

        def balanced(p: np.ndarray) -> float:
            predicted = np.argmax(p, axis=1)
            return float(
                np.mean([np.mean(predicted[m] == c) for m, c in zip(masks, present, strict=True)])
            )

        return balanced
    if n_classes != 2:
        return None
    positive = codes == 1
    n_positive = int(positive.sum())
    if spec.name == "f1":

        def f1(p: np.ndarray) -> float:
            predicted = np.argmax(p, axis=1) == 1
            denominator = int(predicted.sum()) + n_positive
            return (
                0.0 if denominator == 0 else 2.0 * float(np.sum(predicted & positive)) / denominator
            )

        return f1
    if spec.name == "roc_auc":
        n_negative = n - n_positive
        if n_positive == 0 or n_negative == 0:
            return lambda p: math.nan

        def roc_auc(p: np.ndarray) -> float:
            ranks = rankdata(np.asarray(p, dtype=np.float64)[:, 1])
            return float(
                (ranks[positive].sum() - n_positive * (n_positive + 1) / 2)
                / (n_positive * n_negative)
            )

        return roc_auc
    return None
