"""Ranking and the winner's numbers: one ranking of candidates, the class weighting choice, the winner's fold-mean metrics and its F1 threshold."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from tools.imbalance import IMBALANCED_SHARE, f1_threshold, minority_share, thresholded_f1
from tools.models.kinds import CLASSIFICATION
from tools.plan import Plan
from tools.search.results import CandidateResult

_WEIGHTED_METRICS = frozenset({"balanced_accuracy", "f1_macro"})
"""Metrics for which ``class_weight="auto"`` weights a rare class."""


def _choose_class_weight(plan: Plan, y: pd.Series, metric: str, notes: list[str]) -> str:
    """The plan's class weighting; "auto" weighs a rare class for label metrics that need it."""
    if plan.task not in CLASSIFICATION or plan.class_weight == "none":
        return "none"
    if plan.class_weight == "balanced":
        notes.append("Classes were weighted equally (balanced class weights) where models allow.")
        return "balanced"
    share = minority_share(pd.factorize(y, sort=True)[0])
    if share < IMBALANCED_SHARE and metric in _WEIGHTED_METRICS:
        notes.append(
            f"The rarest class is {share:.1%} of the rows, so classes were weighted equally "
            "(balanced class weights) where models allow."
        )
        return "balanced"
    return "none"


def winner_metrics(
    model: Any,
    oof: np.ndarray,
    y_true: pd.Series,
    *,
    task: str,
    spec: Any,
    classes: np.ndarray | None,
    notes: list[str],
    set_threshold: bool = True,
    folds: np.ndarray | None = None,
) -> tuple[dict[str, float], float | None]:
    """Every metric of the task on the winner's out-of-fold predictions, and its threshold.

    Each metric is the mean over the validation ``folds`` (one fold when None), as the
    leaderboard scores candidates. For a binary task ranked by F1 (and
    ``set_threshold``), the F1-best decision threshold is chosen on ``oof``, stored as
    ``model.threshold_``, used for the labels the metrics see, and explained in ``notes``.
    """
    from tools.metrics import fold_mean_metrics

    y_values = y_true.to_numpy()
    fold_of = np.zeros(len(y_values), dtype=np.int64) if folds is None else np.asarray(folds)
    scored = ~np.isnan(np.reshape(np.asarray(oof, dtype=np.float64), (len(y_values), -1))).any(
        axis=1
    )
    if classes is None:
        metrics = fold_mean_metrics(
            y_values[scored], oof[scored], None, fold_of[scored], task=task, classes=None
        )
        return metrics, None
    threshold: float | None = None
    y_pred = classes[np.argmax(oof, axis=1)]
    if set_threshold and task == "binary" and spec.name == "f1":
        threshold = _f1_threshold(y_true, oof, classes, notes)
        model.threshold_ = threshold
        y_pred = classes[(oof[:, 1] >= threshold).astype(np.int64)]
    metrics = fold_mean_metrics(
        y_values[scored],
        y_pred[scored],
        oof[scored],
        fold_of[scored],
        task=task,
        classes=classes,
    )
    return metrics, threshold


def _f1_threshold(
    y_true: pd.Series, proba: np.ndarray, classes: np.ndarray, notes: list[str]
) -> float:
    """The F1-best probability cut for the positive class (``classes[1]``), noted in plain words."""
    is_positive = (y_true.to_numpy() == classes[1]) & np.isfinite(proba[:, 1])
    cut, best_f1 = f1_threshold(is_positive, proba[:, 1])
    at_half = float(f1_score(is_positive, proba[:, 1] >= 0.5, zero_division=0.0))
    notes.append(
        f"The decision threshold for “{classes[1]}” was set to {cut:.3f} (not 0.5) on the "
        f"out-of-fold probabilities: F1 {best_f1:.4f} vs {at_half:.4f} at 0.5, on the rows "
        "that chose it; the expected F1 on new data is measured without them."
    )
    return cut


def _thresholded(
    result: CandidateResult,
    oof: np.ndarray,
    y_true: pd.Series,
    classes: Any,
    folds: np.ndarray,
) -> CandidateResult:
    """``result`` scored by F1 at its own F1-best threshold on ``oof`` (the cut that would
    ship), averaged over the validation ``folds`` as other metrics are."""
    score, std, cut = thresholded_f1(y_true.to_numpy() == classes[-1], oof[:, -1], folds)
    message = f"F1 at threshold {cut:.3f}" + (f"; {result.message}" if result.message else "")
    return replace(result, score=score, std=std, message=message)


def rank_value(spec: Any, value: float) -> float:
    """The one ranking key of a metric value: higher is better, and NaN (or infinity) ranks
    last. Every choice between candidates, trials and ensembles sorts by it."""
    return -math.inf if not math.isfinite(value) else float(spec.to_score(value))


def rank_candidates(results: list[CandidateResult], spec: Any) -> list[CandidateResult]:
    """Best first by ``spec``; then the skipped candidates, then the failed ones."""
    ok = sorted((r for r in results if r.status == "ok"), key=lambda r: -rank_value(spec, r.score))
    skipped = [r for r in results if r.status == "skipped"]
    failed = [r for r in results if r.status == "failed"]
    return [*ok, *skipped, *failed]
