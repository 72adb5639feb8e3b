"""Imbalanced classes: class weights per model family, and an F1 decision threshold.

Class weights (``class_weight="balanced"``) make each class weigh the same in
the loss, whatever its share of rows. Each family spells that differently;
:func:`class_weight_params` translates one option into the family's own
constructor parameters, so the weights are part of the estimator (and of the
exported script). Families without a way to weight classes (naive Bayes,
LDA, kNN, MLP) are left unweighted.

When F1 is the metric of a binary task, the decision threshold matters as
much as the model: :func:`f1_threshold` picks the probability cut that
maximises F1 on out-of-fold probabilities, and :class:`tools.models.TabularModel`
uses a stored ``threshold_`` in ``predict``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

ClassWeight = Literal["none", "balanced"]

IMBALANCED_SHARE = 0.1
"""A classification whose smallest class has less than this share of rows counts as imbalanced."""
_SKLEARN_STYLE = frozenset(
    {"logistic_regression", "random_forest", "extra_trees", "lightgbm", "svm"}
)
WEIGHTED_FAMILIES: frozenset[str] = _SKLEARN_STYLE | {"catboost", "xgboost"}
"""Families that can weight classes."""


def supports_class_weight(family: str, task: str) -> bool:
    """Whether ``family`` can weight classes for ``task`` (XGBoost: binary only)."""
    if task not in {"binary", "multiclass"}:
        return False
    if family == "xgboost":
        return task == "binary"
    return family in WEIGHTED_FAMILIES


def class_weight_params(
    family: str, task: str, class_weight: str | None, codes: np.ndarray
) -> dict[str, Any]:
    """Constructor parameters that weight the classes of ``codes`` (0..k-1) for ``family``.

    Empty when ``class_weight`` is None or ``"none"``, or the family cannot weight classes.
    """
    if class_weight in (None, "none") or not supports_class_weight(family, task):
        return {}
    if class_weight != "balanced":
        raise ValueError(f"unknown class weight {class_weight!r}; use 'balanced' or 'none'")
    if family == "catboost":
        return {"auto_class_weights": "Balanced"}
    if family == "xgboost":
        positives = int(np.sum(codes == 1))
        return {"scale_pos_weight": float((len(codes) - positives) / max(positives, 1))}
    return {"class_weight": "balanced"}


def minority_share(codes: np.ndarray) -> float:
    """The smallest class's share of rows."""
    counts = np.bincount(np.asarray(codes, dtype=np.int64))
    counts = counts[counts > 0]
    return float(counts.min() / counts.sum()) if len(counts) else 1.0


def f1_threshold(is_positive: np.ndarray, proba_positive: np.ndarray) -> tuple[float, float]:
    """The probability cut with the best F1 on these rows, and that F1.

    Predicting positive when ``proba >= cut``. Candidate cuts are the observed
    probabilities; the returned cut is the midpoint between the best one and
    the next lower probability, so it does not sit exactly on a training value.
    """
    truth = np.asarray(is_positive, dtype=bool)
    proba = np.asarray(proba_positive, dtype=np.float64)
    keep = np.isfinite(proba)
    truth, proba = truth[keep], proba[keep]
    n_positive = int(truth.sum())
    if n_positive == 0 or len(proba) == 0:
        return 0.5, 0.0
    order = np.argsort(-proba, kind="stable")
    sorted_proba = proba[order]
    hits = np.cumsum(truth[order])
    predicted = np.arange(1, len(proba) + 1)
    # Only the last row of a run of equal probabilities is a reachable cut.
    last = np.r_[sorted_proba[1:] != sorted_proba[:-1], True]
    f1 = np.where(last, 2 * hits / (predicted + n_positive), -1.0)
    best = int(np.argmax(f1))
    lower = sorted_proba[best + 1] if best + 1 < len(sorted_proba) else 0.0
    cut = float((sorted_proba[best] + lower) / 2)
    return cut, float(f1[best])


def thresholded_f1(
    is_positive: np.ndarray, proba_positive: np.ndarray, folds: np.ndarray | None = None
) -> tuple[float, float, float]:
    """F1 at the cut that would be shipped: ``(mean, std, cut)``.

    The cut is :func:`f1_threshold` on all the rows (the out-of-fold probabilities
    of one candidate); the F1 at that cut is then averaged over ``folds`` (the
    validation fold of each row), as other metrics are, or taken on all rows when
    ``folds`` is None. Rows without a probability are left out.
    """
    truth = np.asarray(is_positive, dtype=bool)
    proba = np.asarray(proba_positive, dtype=np.float64)
    keep = np.isfinite(proba)
    cut, pooled = f1_threshold(truth[keep], proba[keep])
    if folds is None:
        return pooled, 0.0, cut
    fold_of = np.asarray(folds)[keep]
    scores = [
        f1_of(truth[keep][fold_of == fold], proba[keep][fold_of == fold] >= cut)
        for fold in np.unique(fold_of)
    ]
    return float(np.mean(scores)), float(np.std(scores)), cut


def f1_of(truth: np.ndarray, predicted: np.ndarray) -> float:
    """F1 of boolean predictions against boolean truth (0 when neither has a positive)."""
    hits = int(np.sum(truth & predicted))
    total = int(truth.sum()) + int(predicted.sum())
    return 2 * hits / total if total else 0.0


__all__ = [
    "IMBALANCED_SHARE",
    "WEIGHTED_FAMILIES",
    "ClassWeight",
    "class_weight_params",
    "f1_threshold",
    "minority_share",
    "supports_class_weight",
    "thresholded_f1",
]
