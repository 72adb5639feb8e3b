"""Metrics by name: scikit-learn scorer names and friendly aliases, for every task.

Canonical names are scikit-learn's scorer names without ``neg_``. Values are
natural (an RMSE is positive); :meth:`MetricSpec.to_score` turns one into a
higher-is-better number for ranking. For binary tasks the positive class is
``classes[1]``: a run orders its classes ``[negative, positive]`` (:mod:`tools.classes`);
without ``classes`` the sorted labels are used (scikit-learn's convention).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.preprocessing import label_binarize

from tools.analyze.kinds import Task
from tools.errors import PlanError
from tools.models.kinds import TASK_WORDS

log = logging.getLogger(__name__)

_LABELS: dict[str, str] = {
    "roc_auc": "ROC AUC",
    "roc_auc_ovr": "ROC AUC (one-vs-rest)",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "f1": "F1",
    "f1_macro": "F1 (macro)",
    "log_loss": "Log loss",
    "average_precision": "PR AUC (average precision)",
    "root_mean_squared_error": "RMSE",
    "mean_absolute_error": "MAE",
    "r2": "R²",
    "mean_absolute_percentage_error": "MAPE",
}
_LOWER_IS_BETTER = frozenset(
    {"log_loss", "root_mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error"}
)
_RANKING = frozenset({"roc_auc", "roc_auc_ovr", "average_precision"})
_NEEDS_PROBA = frozenset({"roc_auc", "roc_auc_ovr", "log_loss", "average_precision"})
_TASK_METRICS: dict[Task, tuple[str, ...]] = {
    "binary": (
        "roc_auc",
        "accuracy",
        "balanced_accuracy",
        "f1",
        "f1_macro",
        "log_loss",
        "average_precision",
    ),
    "multiclass": (
        "roc_auc_ovr",
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "log_loss",
        "average_precision",
    ),
    "regression": (
        "root_mean_squared_error",
        "mean_absolute_error",
        "r2",
        "mean_absolute_percentage_error",
    ),
}
_ALIASES: dict[str, str] = {
    "auc": "roc_auc",
    "rocauc": "roc_auc",
    "roc": "roc_auc",
    "auroc": "roc_auc",
    "aucroc": "roc_auc",
    "roc_auc_score": "roc_auc",
    "roc_auc_ovr": "roc_auc_ovr",
    "acc": "accuracy",
    "accuracy_score": "accuracy",
    "bacc": "balanced_accuracy",
    "balanced_acc": "balanced_accuracy",
    "balancedaccuracy": "balanced_accuracy",
    "f1_score": "f1",
    "f1_binary": "f1",
    "f_1": "f1",
    "f1macro": "f1_macro",
    "macro_f1": "f1_macro",
    "logloss": "log_loss",
    "cross_entropy": "log_loss",
    "crossentropy": "log_loss",
    "pr_auc": "average_precision",
    "prauc": "average_precision",
    "aucpr": "average_precision",
    "auc_pr": "average_precision",
    "ap": "average_precision",
    "avg_precision": "average_precision",
    "rmse": "root_mean_squared_error",
    "root_mean_squared_error": "root_mean_squared_error",
    "mae": "mean_absolute_error",
    "l1": "mean_absolute_error",
    "r2_score": "r2",
    "r_squared": "r2",
    "rsquared": "r2",
    "r^2": "r2",
    "r²": "r2",
    "mape": "mean_absolute_percentage_error",
}
_UNOFFERED = {
    "mse": "MSE is not offered: RMSE (rmse) ranks models the same way, in the target's units. ",
    "mean_squared_error": "MSE is not offered: RMSE (rmse) ranks models the same way, in the "
    "target's units. ",
    "precision": "Precision alone rewards predicting few positives; F1 (f1) or PR AUC (pr_auc) "
    "balance it with recall. ",
    "recall": "Recall alone rewards predicting everything positive; F1 (f1) or PR AUC (pr_auc) "
    "balance it with precision. ",
}
# A name meaning one thing on binary data and its multiclass form elsewhere.
_MULTICLASS_FORM = {"roc_auc": "roc_auc_ovr", "f1": "f1_macro"}
_BINARY_FORM = {"roc_auc_ovr": "roc_auc"}


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: its canonical name, label, direction and how to compute it."""

    name: str
    """Canonical scikit-learn scorer name without ``neg_`` (``root_mean_squared_error``)."""
    label: str
    """Short human name ("ROC AUC", "RMSE")."""
    greater_is_better: bool
    needs_proba: bool

    @property
    def scorer_name(self) -> str:
        """scikit-learn's scorer string (``neg_`` prefixed when lower is better)."""
        return self.name if self.greater_is_better else f"neg_{self.name}"

    def compute(
        self,
        y_true: Any,
        y_pred: Any = None,
        y_proba: Any = None,
        *,
        classes: Sequence[Any] | None = None,
    ) -> float:
        """Return the metric's natural value (an RMSE is positive, a log loss too).

        Classification metrics that need probabilities take ``y_proba`` with one
        column per entry of ``classes`` (an estimator's ``classes_``); a 1-D
        ``y_proba`` is the positive class's probability. Label metrics use
        ``y_pred``, or the most probable class when only ``y_proba`` is given.
        """
        return float(_COMPUTE[self.name](np.asarray(y_true), y_pred, y_proba, classes))

    def to_score(self, value: float) -> float:
        """A higher-is-better number for ranking (the negated value when lower is better)."""
        return value if self.greater_is_better else -value

    def scorer(self) -> Callable[[Any, Any, Any], float]:
        """A scikit-learn scorer callable ``(estimator, X, y) -> score`` (higher is better).

        Uses the estimator's ``classes_``, so string labels work for F1 and PR AUC.
        """

        def score(estimator: Any, x: Any, y: Any) -> float:
            classes = getattr(estimator, "classes_", None)
            proba = _scores(estimator, x, self.name) if self.needs_proba else None
            pred = None if self.needs_proba else estimator.predict(x)
            return self.to_score(self.compute(y, pred, proba, classes=classes))

        score.__name__ = f"score_{self.name}"
        return score


def _scores(estimator: Any, x: Any, name: str) -> np.ndarray:
    """Class probabilities; for ranking metrics, decision scores when there are none.

    ROC AUC and PR AUC only rank rows, so a model without ``predict_proba`` (an SVM
    without probability calibration) is scored on its ``decision_function``.
    """
    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(x))
    if name in _RANKING and hasattr(estimator, "decision_function"):
        decision = np.asarray(estimator.decision_function(x), dtype=float)
        if decision.ndim == 1:
            return 1 / (1 + np.exp(-decision))  # monotone, so the ranking is unchanged
        shifted = np.exp(decision - decision.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    raise ValueError(f"{_LABELS[name]} needs class probabilities, and this model has none")


def metric_spellings() -> dict[str, str]:
    """Every name, label and alias the engine knows for a metric (casefolded) -> its name."""
    spellings = {name: name for name in _LABELS}
    spellings.update({label.casefold(): name for name, label in _LABELS.items()})
    spellings.update(_ALIASES)
    return spellings


def metric_names(task: Task) -> list[str]:
    """Canonical names of every metric reported for a task, in display order."""
    return list(_TASK_METRICS[task])


def default_metric(task: Task) -> str:
    """The metric a plan uses when the user names none (see :func:`default_metric_reason`)."""
    return {"binary": "roc_auc", "multiclass": "log_loss", "regression": "root_mean_squared_error"}[
        task
    ]


def default_metric_reason(task: Task) -> str:
    """One sentence saying why :func:`default_metric` picks what it picks."""
    return {
        "binary": "ROC AUC ranks models by how well they order positives above negatives, "
        "independent of the decision threshold and robust to class imbalance.",
        "multiclass": "Log loss scores the whole predicted probability vector, so it rewards "
        "calibrated models and does not hide mistakes on rare classes the way accuracy does.",
        "regression": "RMSE is in the target's own units and penalises large errors most.",
    }[task]


def resolve_metric(name: str, task: Task) -> MetricSpec:
    """Return the metric a user or a plan named, for a task.

    Accepts scikit-learn scorer names (``neg_root_mean_squared_error``), friendly
    aliases (auc, rmse, mae, mape, f1, logloss, pr_auc, acc, r2, ...), any case.
    "f1" and "auc" on a multiclass task mean their macro / one-vs-rest forms.

    Raises:
        PlanError: unknown name, or a metric of another task; the message lists
            the valid choices.
    """
    canonical = _canonical(name)
    valid = _TASK_METRICS[task]
    if canonical is None:
        hint = _UNOFFERED.get(_key(name), "")
        raise PlanError(f"Unknown metric “{name}”. {hint}{_choices(task)}")
    if task == "multiclass":
        canonical = _MULTICLASS_FORM.get(canonical, canonical)
    elif task == "binary":
        canonical = _BINARY_FORM.get(canonical, canonical)
    if canonical not in valid:
        kind = "a regression" if canonical in _TASK_METRICS["regression"] else "a classification"
        raise PlanError(
            f"{_LABELS[canonical]} is {kind} metric, but this is {TASK_WORDS[task]}. "
            f"{_choices(task)}"
        )
    return _spec(canonical)


def evaluate_all(
    y_true: Any,
    y_pred: Any,
    y_proba: Any,
    *,
    task: Task,
    classes: Sequence[Any] | None,
) -> dict[str, float]:
    """Every metric of the task, keyed by canonical name.

    A metric that cannot be computed on this data (for example ROC AUC when the
    held-out rows hold a single class, or any probability metric without
    ``y_proba``) is left out rather than reported as NaN.
    """
    results: dict[str, float] = {}
    for name in _TASK_METRICS[task]:
        spec = _spec(name)
        if spec.needs_proba and y_proba is None:
            continue
        try:
            with warnings.catch_warnings():
                # e.g. ROC AUC on held-out rows of one class: left out below, not warned about
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                warnings.filterwarnings("ignore", message=".*classes not in y_true")
                warnings.filterwarnings("ignore", message="A single label was found")
                value = spec.compute(y_true, y_pred, y_proba, classes=classes)
        except ValueError as exc:
            log.info("metric_skipped name=%s reason=%s", name, type(exc).__name__)
            continue
        if np.isfinite(value):
            results[name] = value
    return results


def fold_numbers(valid_parts: Sequence[np.ndarray], oof_rows: np.ndarray) -> np.ndarray:
    """The validation fold (0, 1, ...) of each of the sorted ``oof_rows``, from each fold's
    validation rows in fold order (-1 for a row in none)."""
    folds = np.full(len(oof_rows), -1, dtype=np.int64)
    for number, valid in enumerate(valid_parts):
        folds[np.searchsorted(oof_rows, valid)] = number
    return folds


def fold_mean_metrics(
    y_true: Any,
    y_pred: Any,
    y_proba: Any,
    folds: Any,
    *,
    task: Task,
    classes: Sequence[Any] | None,
) -> dict[str, float]:
    """Every metric of the task as the mean over validation folds of its value on each fold.

    This is the one definition of a cross-validated metric: the leaderboard's scores,
    the winner's metrics and the expected metrics all use it, so the same model shows
    the same number everywhere. A metric undefined on a fold (one class) is averaged
    over the folds where it is defined.
    """
    y_true, y_pred, folds = np.asarray(y_true), np.asarray(y_pred), np.asarray(folds)
    proba = None if y_proba is None else np.asarray(y_proba)
    per_fold = [
        evaluate_all(
            y_true[rows],
            y_pred[rows],
            None if proba is None else proba[rows],
            task=task,
            classes=classes,
        )
        for rows in (folds == fold for fold in np.unique(folds))
    ]
    names = [name for name in _TASK_METRICS[task] if any(name in m for m in per_fold)]
    return {name: float(np.mean([m[name] for m in per_fold if name in m])) for name in names}


# --- computing ----------------------------------------------------------------------------


def _spec(name: str) -> MetricSpec:
    return MetricSpec(
        name=name,
        label=_LABELS[name],
        greater_is_better=name not in _LOWER_IS_BETTER,
        needs_proba=name in _NEEDS_PROBA,
    )


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().casefold()).removeprefix("neg_")


def _canonical(name: str) -> str | None:
    key = _key(name)
    if key in _LABELS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    squashed = key.replace("_", "")
    for alias, canonical in _ALIASES.items():
        if alias.replace("_", "") == squashed:
            return canonical
    return None


def _classes(y_true: np.ndarray, y_pred: Any, classes: Sequence[Any] | None) -> np.ndarray:
    if classes is not None:
        return np.asarray(classes)
    labels = y_true if y_pred is None else np.concatenate([y_true, np.asarray(y_pred)])
    return np.unique(labels)


def _proba(y_proba: Any, n_classes: int) -> np.ndarray:
    if y_proba is None:
        raise ValueError("this metric needs class probabilities (y_proba)")
    proba = np.asarray(y_proba, dtype=float)
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    if proba.shape[1] != n_classes:
        raise ValueError(f"y_proba has {proba.shape[1]} columns for {n_classes} classes")
    return proba


def _labels(y_pred: Any, y_proba: Any, classes: np.ndarray) -> np.ndarray:
    if y_pred is not None:
        return np.asarray(y_pred)
    return classes[_proba(y_proba, len(classes)).argmax(axis=1)]


def _roc_auc(y: np.ndarray, pred: Any, proba: Any, classes: Sequence[Any] | None) -> float:
    labels = _classes(y, None, classes)
    return skm.roc_auc_score(y == labels[-1], _proba(proba, len(labels))[:, -1])


def _roc_auc_ovr(y: np.ndarray, pred: Any, proba: Any, classes: Sequence[Any] | None) -> float:
    labels = _classes(y, None, classes)
    return skm.roc_auc_score(y, _proba(proba, len(labels)), multi_class="ovr", labels=labels)


def _average_precision(y: np.ndarray, pred: Any, proba: Any, classes: Any) -> float:
    labels = _classes(y, None, classes)
    p = _proba(proba, len(labels))
    if len(labels) == 2:
        return skm.average_precision_score(y == labels[-1], p[:, -1])
    return skm.average_precision_score(label_binarize(y, classes=labels), p, average="macro")


def _log_loss(y: np.ndarray, pred: Any, proba: Any, classes: Sequence[Any] | None) -> float:
    labels = _classes(y, None, classes)
    order = np.argsort(labels, kind="stable")  # scikit-learn reads columns in sorted order
    return skm.log_loss(y, _proba(proba, len(labels))[:, order], labels=labels[order])


def _accuracy(y: np.ndarray, pred: Any, proba: Any, classes: Any) -> float:
    return skm.accuracy_score(y, _labels(pred, proba, _classes(y, pred, classes)))


def _balanced_accuracy(y: np.ndarray, pred: Any, proba: Any, classes: Any) -> float:
    return skm.balanced_accuracy_score(y, _labels(pred, proba, _classes(y, pred, classes)))


def _f1(y: np.ndarray, pred: Any, proba: Any, classes: Any) -> float:
    labels = _classes(y, pred, classes)
    predicted = _labels(pred, proba, labels)
    return skm.f1_score(y, predicted, pos_label=labels[-1], average="binary", zero_division=0)


def _f1_macro(y: np.ndarray, pred: Any, proba: Any, classes: Any) -> float:
    labels = _classes(y, pred, classes)
    predicted = _labels(pred, proba, labels)
    return skm.f1_score(y, predicted, labels=labels, average="macro", zero_division=0)


def _regression(
    function: Callable[[Any, Any], float],
) -> Callable[[np.ndarray, Any, Any, Any], float]:
    def compute(y: np.ndarray, pred: Any, proba: Any, classes: Any) -> float:
        if pred is None:
            raise ValueError("regression metrics need predictions (y_pred)")
        return function(y.astype(float), np.asarray(pred, dtype=float))

    return compute


_COMPUTE: dict[str, Callable[[np.ndarray, Any, Any, Any], float]] = {
    "roc_auc": _roc_auc,
    "roc_auc_ovr": _roc_auc_ovr,
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
    "f1": _f1,
    "f1_macro": _f1_macro,
    "log_loss": _log_loss,
    "average_precision": _average_precision,
    "root_mean_squared_error": _regression(skm.root_mean_squared_error),
    "mean_absolute_error": _regression(skm.mean_absolute_error),
    "r2": _regression(skm.r2_score),
    "mean_absolute_percentage_error": _regression(skm.mean_absolute_percentage_error),
}


def _choices(task: Task) -> str:
    listed = ", ".join(f"{n} ({_LABELS[n]})" for n in _TASK_METRICS[task])
    return f"For {TASK_WORDS[task]} choose one of: {listed}."


__all__ = [
    "MetricSpec",
    "Task",
    "default_metric",
    "default_metric_reason",
    "evaluate_all",
    "metric_names",
    "metric_spellings",
    "resolve_metric",
]
