"""Explain a fitted model: metrics, diagnostic plots, permutation importance, insights.

Everything here works on a fitted model object with ``predict`` (and, for
classification, ``predict_proba`` and ``classes_``) that takes a raw pandas
DataFrame with the original columns -- the :class:`tools.models.TabularModel`
contract -- so importances are reported for the columns the user knows, not
for one-hot or engineered features.

Entry points:

- :func:`explain_model` -- metrics, figures and insights from out-of-fold
  predictions plus permutation importance of the refit model.
- :func:`explain_result` -- the same, fed from a :class:`tools.search.train.TrainResult`.
- :func:`explain_feature` -- "why is X important?": rank, relationship with the
  target in plain numbers and a partial-dependence figure.

Insights are sentences built only from numbers computed here.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    auc,
    confusion_matrix,
    precision_recall_curve,
    r2_score,
    roc_curve,
)

from tools.deadline import Deadline
from tools.errors import UserFacingError
from tools.figures import (
    FigureArtifact,
    Series,
    bar_chart,
    heatmap_chart,
    line_chart,
    scatter_chart,
)
from tools.metrics import resolve_metric

log = logging.getLogger(__name__)

Task = Literal["binary", "multiclass", "regression"]
Scorer = Callable[[Any, pd.DataFrame, np.ndarray], float]
"""``scorer(model, X, y) -> score``, higher is better."""

_MAX_IMPORTANCE_ROWS = 2_000
_MAX_PD_ROWS = 500
_PD_GRID = 20
_MAX_GROUPS = 10
_MAX_ROC_CLASSES = 10
IMPORTANCE_SHARE = 0.6
"""Share of the time left to a deadline that permutation importance plans to use (the
figures and the export need the rest)."""
MIN_IMPORTANCE_ROWS = 200
MIN_HELD_OUT_S = 1.0
"""Below this much time left, importance is measured in-sample instead (some families
cannot be stopped mid-fit)."""
HELD_OUT_MAX_ROWS = 20_000
"""The held-out importance model is fit on at most this many rows: enough to rank columns."""
HELD_OUT_FIT_SHARE = 0.35
"""Share of the time left to the explanation's deadline that fitting the held-out
importance model may use."""
_MAX_CURVE_POINTS = 400
"""ROC and PR curves keep at most this many points (the JSON stays small on big tables)."""


@dataclass(frozen=True, slots=True)
class FeatureImportance:
    """How much the score drops when one original column is shuffled."""

    column: str
    mean: float
    """Mean drop of the score over the repeats (in the metric's units; higher = more important)."""
    std: float
    rank: int
    """1 for the most important column."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """What a trained model learned and how well it does, for the chat, the CLI and the report."""

    task: Task
    metric: str
    metrics: dict[str, float]
    """Out-of-fold metrics (or holdout metrics when that is what the caller passed)."""
    importance: tuple[FeatureImportance, ...]
    figures: tuple[FigureArtifact, ...]
    insights: tuple[str, ...]
    importance_rows: int
    """Rows used for permutation importance."""
    unscored_columns: tuple[str, ...] = ()
    """Columns skipped because the importance time limit ran out."""
    importance_source: str = "training rows"
    """Which rows permutation importance shuffled: ``"held-out rows"`` (a model fit
    without them) or ``"training rows"`` (the final model, in-sample)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (figures by file name, not their JSON)."""
        return {
            "task": self.task,
            "metric": self.metric,
            "metrics": dict(self.metrics),
            "importance": [
                {"column": i.column, "mean": i.mean, "std": i.std, "rank": i.rank}
                for i in self.importance
            ],
            "importance_rows": self.importance_rows,
            "importance_source": self.importance_source,
            "unscored_columns": list(self.unscored_columns),
            "figures": [
                {"name": f.name, "title": f.title, "png": f.png_path.name, "json": f.json_path.name}
                for f in self.figures
            ],
            "insights": list(self.insights),
        }


@dataclass(frozen=True, slots=True)
class HeldOut:
    """A model and rows it was not fit on, for permutation importance."""

    model: Any
    frame: pd.DataFrame
    y: np.ndarray
    source: str = "held-out rows"


@dataclass(frozen=True, slots=True)
class GroupStat:
    """One group of a feature's values and the target within it."""

    label: str
    count: int
    target_mean: float
    """Mean target (regression) or the share of the reported class (classification)."""
    center: float | None = None
    """Median of the feature within a numeric or date group (seconds since 1970 for dates)."""


@dataclass(frozen=True, slots=True)
class FeatureExplanation:
    """Answer to "why is this feature important?"."""

    feature: str
    kind: Literal["numeric", "categorical", "datetime"]
    rank: int | None
    """Permutation-importance rank (1 = most important); ``None`` when not computed."""
    importance: float | None
    n_features: int
    correlation: float | None
    """Spearman correlation with the target (regression or binary), else ``None``."""
    target_label: str
    """What ``GroupStat.target_mean`` measures, e.g. ``"mean price"`` or ``"share of 'yes'"``."""
    groups: tuple[GroupStat, ...]
    partial_dependence: tuple[tuple[str, float], ...]
    """Model's average prediction when every row gets this value (``target_label`` units)."""
    figure: FigureArtifact
    insights: tuple[str, ...]


# ---------------------------------------------------------------------------
# public entry points
# ---------------------------------------------------------------------------


def explain_model(
    model: Any,
    frame: pd.DataFrame,
    y: Sequence[Any] | np.ndarray | pd.Series,
    *,
    task: Task,
    out_dir: Path,
    metric: str,
    metrics: Mapping[str, float],
    oof_y: Sequence[Any] | np.ndarray | None = None,
    y_pred: np.ndarray | None = None,
    y_proba: np.ndarray | None = None,
    scorer: Scorer | None = None,
    max_rows: int = _MAX_IMPORTANCE_ROWS,
    n_repeats: int = 3,
    time_limit_s: float = 30.0,
    seed: int = 0,
    deadline: Deadline | None = None,
    held_out: HeldOut | None = None,
) -> Explanation:
    """Diagnose ``model`` on ``frame``/``y`` and write its figures to ``out_dir``.

    Args:
        model: Fitted model taking a raw DataFrame (``predict``, ``predict_proba``, ``classes_``).
        frame: The training features, original columns.
        y: The training target, same rows as ``frame``.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        out_dir: Folder for the PNG and Plotly JSON files.
        metric: Name of the score the run optimised (used in the insights and importance).
        metrics: Out-of-fold (or holdout) metrics computed by the caller.
        oof_y: True values for ``y_pred``/``y_proba`` when those cover other rows
            than ``frame`` (e.g. a holdout); default ``y``.
        y_pred: Out-of-fold predictions for the diagnostic plots; the refit model's
            in-sample predictions are used (and said so) when omitted.
        y_proba: Out-of-fold class probabilities, columns in ``model.classes_`` order.
        scorer: ``scorer(model, X, y)`` for permutation importance (higher is better);
            default is ``metric``'s scorer from :mod:`tools.metrics`.
        max_rows: Row sample for permutation importance.
        n_repeats: Shuffles per column.
        time_limit_s: Wall-clock limit for permutation importance; columns left over
            are listed in ``unscored_columns``.
        seed: Seed for the row sample and the shuffles.
        deadline: When the explanation must be done; permutation importance uses
            fewer rows and repeats to finish by it (see :func:`permutation_importance_table`).
        held_out: A model fit without some rows, and those rows: permutation importance
            is measured there instead of on ``frame``, so it reflects what generalises.
    """
    y_true = np.asarray(y)
    if len(frame) != len(y_true):
        raise UserFacingError(
            f"The table has {len(frame)} rows but the target has {len(y_true)}; "
            "pass the same rows to explain the model."
        )
    figures: list[FigureArtifact] = []
    insights: list[str] = []
    in_sample = y_pred is None and y_proba is None
    if in_sample:
        y_pred, y_proba = _predict(model, frame, task)
        oof_y = None
    y_check = y_true if oof_y is None else np.asarray(oof_y)
    classes = _classes(model, y_true, task)
    if y_pred is None and y_proba is not None:
        y_pred = np.asarray(classes)[np.argmax(y_proba, axis=1)]
    source = "in-sample (refit model)" if in_sample else "out-of-fold"
    if metric in metrics:
        label = resolve_metric(metric, task).label
        insights.append(f"The {source} {label} is {_fmt(metrics[metric])}.")

    scored = held_out or HeldOut(model, frame, y_true, source="training rows")
    importance, unscored, n_rows = permutation_importance_table(
        scored.model,
        scored.frame,
        np.asarray(scored.y),
        task=task,
        scorer=scorer or resolve_metric(metric, task).scorer(),
        max_rows=max_rows,
        n_repeats=n_repeats,
        time_limit_s=time_limit_s,
        seed=seed,
        deadline=deadline,
    )
    if importance:
        figures.append(
            bar_chart(
                "importance",
                "Permutation importance (drop in score when a column is shuffled)",
                [i.column for i in importance[:25]],
                [i.mean for i in importance[:25]],
                errors=[i.std for i in importance[:25]],
                value_label="score drop",
                out_dir=out_dir,
            )
        )
        insights.extend(_importance_insights(importance))

    if task == "regression":
        predicted = np.asarray(y_pred, dtype=float)
        figures.extend(_regression_figures(y_check, predicted, out_dir, seed))
        insights.extend(_regression_insights(y_check, predicted))
    else:
        figures.extend(
            _classification_figures(y_check, np.asarray(y_pred), y_proba, classes, task, out_dir)
        )
        insights.extend(_classification_insights(y_check, np.asarray(y_pred), classes))
    log.info(
        "explained task=%s figures=%d importance_columns=%d unscored=%d",
        task,
        len(figures),
        len(importance),
        len(unscored),
    )
    return Explanation(
        task=task,
        metric=metric,
        metrics={k: float(v) for k, v in metrics.items()},
        importance=tuple(importance),
        figures=tuple(figures),
        insights=tuple(insights),
        importance_rows=n_rows,
        unscored_columns=tuple(unscored),
        importance_source=scored.source,
    )


def explain_result(
    result: Any,
    frame: pd.DataFrame,
    *,
    out_dir: Path,
    time_limit_s: float = 30.0,
    max_rows: int = _MAX_IMPORTANCE_ROWS,
    deadline: Deadline | None = None,
) -> Explanation:
    """:func:`explain_model` for a :class:`tools.search.train.TrainResult`.

    Diagnostics use the winner's out-of-fold predictions; permutation importance
    uses the refit model on (a sample of) ``frame``'s rows that have a target.

    Args:
        result: What :func:`tools.search.train.train` returned.
        frame: The table it was trained on (features and target).
        out_dir: Folder for the figures.
        time_limit_s: Wall-clock limit for permutation importance.
        max_rows: Row sample for permutation importance.
        deadline: When the explanation must be done (see :func:`explain_model`).
    """
    from tools.analyze import prepare_target

    plan = result.plan
    table, _ = prepare_target(frame, plan.target)
    y = table[plan.target]
    if result.classes is not None:
        known = y.isin(list(result.classes))
        table, y = table.loc[known], y.loc[known]
    best = result.oof[result.best_family]
    is_classification = result.classes is not None
    features = table.loc[:, list(result.features)].reset_index(drop=True)
    held_out = _held_out(result, features, y.to_numpy(), deadline)
    return explain_model(
        result.model,
        table.loc[:, list(result.features)],
        y.to_numpy(),
        task=plan.task,
        out_dir=out_dir,
        metric=plan.metric,
        metrics=result.cv_metrics,
        oof_y=result.oof_y.to_numpy(),
        y_pred=result.oof_predictions() if is_classification else best,
        y_proba=best if is_classification else None,
        max_rows=max_rows,
        time_limit_s=time_limit_s,
        seed=plan.seed,
        deadline=deadline,
        held_out=held_out,
    )


def _held_out(
    result: Any, features: pd.DataFrame, y: np.ndarray, deadline: Deadline | None
) -> HeldOut | None:
    """The winner refit without the first validation fold, and that fold's rows.

    A model shipped from the first fold (no time for a refit) is used as it is. Otherwise
    the winner's configuration is fit on the other rows within
    :data:`HELD_OUT_FIT_SHARE` of the time left (stoppable fits keep what they have at
    the deadline). None when the rows do not line up or the fit fails: importance then
    falls back to the training rows and says so.
    """
    folds = np.asarray(getattr(result, "oof_folds", ()))
    oof_rows = np.asarray(getattr(result, "oof_rows", ()))
    if len(folds) != len(oof_rows) or len(oof_rows) == 0 or len(features) != len(result.y):
        return None
    valid = np.sort(oof_rows[folds == folds.min()])
    source = getattr(result, "model_source", "refit")
    fold_models = getattr(result, "fold_models", None) or []
    if source in {"fold", "bagged"} and fold_models:  # the first fold's model never saw them
        return HeldOut(fold_models[0], features.iloc[valid].reset_index(drop=True), y[valid])
    if source == "fold":
        return HeldOut(result.model, features.iloc[valid].reset_index(drop=True), y[valid])
    train = np.setdiff1d(np.arange(len(y)), valid)
    refit_rows = min(int(getattr(result, "refit_rows", 0) or len(train)), HELD_OUT_MAX_ROWS)
    if len(train) > refit_rows:  # no bigger than the shipped fit (some fits cannot be stopped)
        rng = np.random.default_rng(getattr(result.plan, "seed", 0))
        train = np.sort(rng.choice(train, refit_rows, replace=False))
    limit = None
    if deadline is not None:
        if deadline.left_s() < MIN_HELD_OUT_S:
            return None
        limit = Deadline.after(deadline.left_s() * HELD_OUT_FIT_SHARE)
    try:
        model = clone(result.model).fit(
            features.iloc[train].reset_index(drop=True),
            result.y.iloc[train].reset_index(drop=True),
            deadline=limit,
        )
    except Exception as exc:  # importance still works in-sample; the card says which
        log.warning("held_out_fit_failed error=%s", type(exc).__name__)
        return None
    return HeldOut(model, features.iloc[valid].reset_index(drop=True), y[valid])


def permutation_importance_table(
    model: Any,
    frame: pd.DataFrame,
    y: np.ndarray,
    *,
    task: Task,
    scorer: Scorer | None = None,
    columns: Sequence[str] | None = None,
    max_rows: int = _MAX_IMPORTANCE_ROWS,
    n_repeats: int = 3,
    time_limit_s: float = 30.0,
    seed: int = 0,
    deadline: Deadline | None = None,
) -> tuple[list[FeatureImportance], list[str], int]:
    """Permutation importance of each original column, time-bounded.

    The same computation as :func:`sklearn.inspection.permutation_importance`
    (baseline score minus the score with one column shuffled, ``n_repeats``
    times), written as a loop so it can stop at a deadline and report which
    columns it did not reach.

    With a ``deadline``, the baseline scoring is timed first; when every column's
    ``n_repeats`` shuffles would not finish in :data:`IMPORTANCE_SHARE` of the time
    left, the repeats drop to one and then the row sample shrinks (to at least
    :data:`MIN_IMPORTANCE_ROWS` rows) so that they would.

    Returns ``(importances sorted most important first, unscored columns, rows used)``.
    """
    score = scorer or _default_scorer(task)
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    names = list(columns) if columns is not None else _input_columns(model, frame)
    limit = Deadline.after(time_limit_s).earlier(deadline)
    sample, y_sample = _importance_sample(frame, y, max_rows, rng)
    started = time.monotonic()
    baseline = score(model, sample, y_sample)
    if deadline is not None:
        per_score_s = max(time.monotonic() - started, 1e-4)
        allowed_s = max(limit.left_s(), 0.0) * IMPORTANCE_SHARE
        if per_score_s * len(names) * n_repeats > allowed_s:
            n_repeats = 1
        fits = allowed_s / (per_score_s * max(len(names), 1))
        if fits < 1 and len(sample) > MIN_IMPORTANCE_ROWS:
            wanted = max(MIN_IMPORTANCE_ROWS, int(len(sample) * fits))
            sample, y_sample = _importance_sample(sample, y_sample, wanted, rng)
            baseline = score(model, sample, y_sample)
        log.info(
            "importance_sized rows=%d repeats=%d left_s=%.2f", len(sample), n_repeats, allowed_s
        )
    drops: dict[str, np.ndarray] = {}
    unscored: list[str] = []
    for column in names:
        if limit.passed():
            unscored.append(column)
            continue
        values = sample[column].to_numpy()
        permuted = sample.copy()
        column_drops = []
        for _ in range(n_repeats):
            permuted[column] = values[rng.permutation(len(values))]
            column_drops.append(baseline - score(model, permuted, y_sample))
        drops[column] = np.asarray(column_drops, dtype=float)
    if unscored:
        log.info("importance_time_limit unscored=%d limit_s=%.1f", len(unscored), time_limit_s)
    ordered = sorted(drops.items(), key=lambda item: -float(item[1].mean()))
    table = [
        FeatureImportance(
            column=column, mean=float(values.mean()), std=float(values.std()), rank=rank
        )
        for rank, (column, values) in enumerate(ordered, start=1)
    ]
    return table, unscored, len(sample)


def _importance_sample(
    frame: pd.DataFrame, y: np.ndarray, max_rows: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    if len(frame) <= max_rows:
        return frame.reset_index(drop=True), y
    rows = np.sort(rng.choice(len(frame), max_rows, replace=False))
    return frame.iloc[rows].reset_index(drop=True), y[rows]


def explain_feature(
    model: Any,
    frame: pd.DataFrame,
    y: Sequence[Any] | np.ndarray | pd.Series,
    feature: str,
    *,
    task: Task,
    out_dir: Path,
    importance: Sequence[FeatureImportance] = (),
    max_rows: int = _MAX_PD_ROWS,
    seed: int = 0,
    words: tuple[str, str] | None = None,
) -> FeatureExplanation:
    """Explain one feature: its importance rank, its link with the target, its partial dependence.

    Args:
        model: Fitted model taking a raw DataFrame.
        frame: Training features (original columns).
        y: Training target.
        feature: Column name, spelled as in ``frame``.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        out_dir: Folder for the figure.
        importance: Importances from :func:`explain_model`, for the rank.
        max_rows: Rows sampled for partial dependence.
        seed: Seed for the row sample.
        words: The file's (false, true) words of a yes/no feature, to label its groups.
    """
    if feature not in frame.columns:
        known = ", ".join(map(str, list(frame.columns)[:20]))
        raise UserFacingError(
            f"There is no feature named “{feature}”. The model's features are: {known}."
        )
    y_true = pd.Series(np.asarray(y), index=frame.index)
    classes = _classes(model, y_true.to_numpy(), task)
    focus = _focus_class(classes, y_true) if task != "regression" else None
    if task == "regression":
        target_label = "mean target"
        target_values = pd.to_numeric(y_true, errors="coerce").astype(float)
    else:
        target_label = f"share of “{focus}”"
        target_values = (y_true == focus).astype(float)
    values = frame[feature]
    kind = _feature_kind(values)
    groups = _grouped_target(values, target_values, kind)
    correlation = _spearman(values, target_values, kind) if task != "multiclass" else None
    pd_grid = _partial_dependence(model, frame, feature, kind, task, classes, focus, max_rows, seed)
    if words is not None and kind == "categorical":  # "yes"/"no" as the file says, not True/False
        spelled = {"False": words[0], "True": words[1]}
        groups = [dataclasses.replace(g, label=spelled.get(g.label, g.label)) for g in groups]
        pd_grid = [(spelled.get(label, label), x, a) for label, x, a in pd_grid]
    pd_points = [(label, average) for label, _, average in pd_grid]

    by_column = {i.column: i for i in importance}
    found = by_column.get(feature)
    observed = [g for g in groups if g.label != "(missing)"]
    if kind == "categorical":
        observed_x: list[Any] = [g.label for g in observed]
    elif kind == "datetime":
        observed_x = [pd.Timestamp(g.center, unit="s").to_pydatetime() for g in observed]
    else:
        observed_x = [g.center for g in observed]
    # categories are drawn by their labels: matplotlib cannot mix True/False with text
    pd_x = [label if kind == "categorical" else x for label, x, _ in pd_grid]
    series = [
        Series("model (partial dependence)", pd_x, [a for _, _, a in pd_grid]),
        Series("observed", observed_x, [g.target_mean for g in observed]),
    ]
    figure = line_chart(
        f"feature_{_safe_name(feature)}",
        f"{feature}: {target_label} by value",
        series,
        x_label=feature,
        y_label=target_label,
        out_dir=out_dir,
    )
    insights = _feature_insights(
        feature, found, len(importance), correlation, groups, pd_points, target_label
    )
    return FeatureExplanation(
        feature=feature,
        kind=kind,
        rank=found.rank if found else None,
        importance=found.mean if found else None,
        n_features=len(importance),
        correlation=correlation,
        target_label=target_label,
        groups=tuple(groups),
        partial_dependence=tuple(pd_points),
        figure=figure,
        insights=tuple(insights),
    )


# ---------------------------------------------------------------------------
# predictions and scoring
# ---------------------------------------------------------------------------


def _predict(model: Any, frame: pd.DataFrame, task: Task) -> tuple[np.ndarray, np.ndarray | None]:
    if task == "regression":
        return np.asarray(model.predict(frame), dtype=float), None
    proba = np.asarray(model.predict_proba(frame), dtype=float)
    return np.asarray(model.classes_)[np.argmax(proba, axis=1)], proba


def _default_scorer(task: Task) -> Scorer:
    if task == "regression":
        return lambda model, X, y: float(r2_score(y, np.asarray(model.predict(X), dtype=float)))
    return lambda model, X, y: float(accuracy_score(y, np.asarray(model.predict(X))))


def _classes(model: Any, y: np.ndarray, task: Task) -> list[Any]:
    if task == "regression":
        return []
    found = getattr(model, "classes_", None)
    return list(found) if found is not None else sorted(pd.unique(y).tolist())


def _input_columns(model: Any, frame: pd.DataFrame) -> list[str]:
    columns = getattr(model, "input_columns_", None)
    if columns is None:
        columns = getattr(model, "feature_names_in_", None)
    return [c for c in (list(columns) if columns is not None else frame.columns) if c in frame]


def _focus_class(classes: Sequence[Any], y: pd.Series) -> Any:
    """The class a story is told about: the positive class ``classes[1]`` when binary
    (the run's order puts it second, see :mod:`tools.classes`), else the most common class."""
    if len(classes) == 2:
        return classes[1]
    return y.value_counts().index[0]


# ---------------------------------------------------------------------------
# classification and regression diagnostics
# ---------------------------------------------------------------------------


def _classification_figures(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_proba: np.ndarray | None,
    classes: list[Any],
    task: Task,
    out_dir: Path,
) -> list[FigureArtifact]:
    labels = [str(c) for c in classes]
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    figures = [
        heatmap_chart(
            "confusion_matrix",
            "Confusion matrix",
            matrix,
            row_labels=labels,
            column_labels=labels,
            x_label="predicted",
            y_label="actual",
            out_dir=out_dir,
        )
    ]
    if y_proba is None:
        return figures
    proba = np.asarray(y_proba, dtype=float)
    if task == "binary":
        positive = _focus_class(classes, pd.Series(y_true))
        scores = proba[:, classes.index(positive)]
        truth = (y_true == positive).astype(int)
        fpr, tpr, _ = roc_curve(truth, scores)
        precision, recall, _ = precision_recall_curve(truth, scores)
        figures.append(
            line_chart(
                "roc_curve",
                f"ROC curve (positive class “{positive}”, AUC {auc(fpr, tpr):.3f})",
                [Series("model", *_thin(fpr, tpr))],
                x_label="false positive rate",
                y_label="true positive rate",
                diagonal=True,
                out_dir=out_dir,
            )
        )
        figures.append(
            line_chart(
                "pr_curve",
                f"Precision-recall curve (positive class “{positive}”)",
                [Series("model", *_thin(recall, precision))],
                x_label="recall",
                y_label="precision",
                out_dir=out_dir,
            )
        )
    elif len(classes) <= _MAX_ROC_CLASSES:
        lines = []
        for index, label in enumerate(classes):
            truth = (y_true == label).astype(int)
            if truth.min() == truth.max():
                continue
            fpr, tpr, _ = roc_curve(truth, proba[:, index])
            lines.append(Series(f"{label} (AUC {auc(fpr, tpr):.3f})", *_thin(fpr, tpr)))
        figures.append(
            line_chart(
                "roc_curve",
                "ROC curves, one class against the rest",
                lines,
                x_label="false positive rate",
                y_label="true positive rate",
                diagonal=True,
                out_dir=out_dir,
            )
        )
    return figures


def _classification_insights(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[Any]
) -> list[str]:
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    if off.sum() == 0:
        return ["Every row is predicted correctly in these predictions."]
    i, j = np.unravel_index(np.argmax(off), off.shape)
    support = int(matrix[i].sum())
    sentence = (
        f"The most common mistake is predicting “{classes[j]}” for rows that are "
        f"“{classes[i]}”: {int(off[i, j])} of {support} such rows "
        f"({off[i, j] / max(support, 1):.0%})."
    )
    recalls = {c: matrix[k, k] / max(matrix[k].sum(), 1) for k, c in enumerate(classes)}
    worst = min(recalls, key=lambda c: recalls[c])
    return [
        sentence,
        f"Class “{worst}” is the hardest: {recalls[worst]:.0%} of its rows are found.",
    ]


def _regression_figures(
    y_true: np.ndarray, y_pred: np.ndarray, out_dir: Path, seed: int
) -> list[FigureArtifact]:
    actual = np.asarray(y_true, dtype=float)
    return [
        scatter_chart(
            "predicted_vs_actual",
            "Predicted vs actual",
            actual,
            y_pred,
            x_label="actual",
            y_label="predicted",
            reference="diagonal",
            seed=seed,
            out_dir=out_dir,
        ),
        scatter_chart(
            "residuals",
            "Residuals (actual − predicted) vs predicted",
            y_pred,
            actual - y_pred,
            x_label="predicted",
            y_label="residual",
            reference="zero",
            seed=seed,
            out_dir=out_dir,
        ),
    ]


def _regression_insights(y_true: np.ndarray, y_pred: np.ndarray) -> list[str]:
    errors = np.abs(np.asarray(y_true, dtype=float) - y_pred)
    residuals = np.asarray(y_true, dtype=float) - y_pred
    under = float((residuals > 0).mean())
    return [
        f"Half of the absolute errors are below {_fmt(np.median(errors))}; "
        f"the largest 5% exceed {_fmt(np.quantile(errors, 0.95))}.",
        f"The model under-predicts {under:.0%} of the rows and over-predicts the rest.",
    ]


def _importance_insights(importance: Sequence[FeatureImportance]) -> list[str]:
    top = [i for i in importance[:3] if i.mean > 0]
    sentences = []
    if top:
        listed = ", ".join(f"{i.column} ({_fmt(i.mean)})" for i in top)
        sentences.append(
            f"The columns the model relies on most (score drop when shuffled) are {listed}."
        )
    unused = [i.column for i in importance if abs(i.mean) < 1e-3]
    if unused:
        shown = ", ".join(unused[:8]) + (f" and {len(unused) - 8} more" if len(unused) > 8 else "")
        sentences.append(
            f"Shuffling {shown} changes the score by less than 0.001: the model barely uses "
            f"{'it' if len(unused) == 1 else 'them'}."
        )
    return sentences


# ---------------------------------------------------------------------------
# one feature
# ---------------------------------------------------------------------------


def _feature_kind(values: pd.Series) -> Literal["numeric", "categorical", "datetime"]:
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "categorical"
    return "numeric" if values.nunique(dropna=True) > _MAX_GROUPS else "categorical"


def _as_number(values: pd.Series, kind: str) -> pd.Series:
    if kind == "datetime":
        stamps = values.dt.tz_localize(None) if values.dt.tz is not None else values
        return ((stamps - pd.Timestamp(0)) / pd.Timedelta(seconds=1)).astype(float)
    return pd.to_numeric(values, errors="coerce").astype(float)


def _grouped_target(values: pd.Series, target: pd.Series, kind: str) -> list[GroupStat]:
    if kind == "categorical":
        labels = values.astype("object").where(values.notna(), "(missing)").astype(str)
        top = labels.value_counts().index[:_MAX_GROUPS]
        labels = labels.where(labels.isin(top), "(other)")
        grouped = target.groupby(labels, sort=False).agg(["count", "mean"])
        grouped = grouped.sort_values("count", ascending=False)
        return [
            GroupStat(label=str(label), count=int(row["count"]), target_mean=float(row["mean"]))
            for label, row in grouped.iterrows()
        ]
    numbers = _as_number(values, kind)
    present = numbers.notna()
    bins = pd.qcut(
        numbers[present], q=min(_MAX_GROUPS, int(numbers[present].nunique())), duplicates="drop"
    )
    grouped = target[present].groupby(bins, observed=True).agg(["count", "mean"])
    centers = numbers[present].groupby(bins, observed=True).median()
    stats = [
        GroupStat(
            label=_interval_label(interval, kind),
            count=int(row["count"]),
            target_mean=float(row["mean"]),
            center=float(centers[interval]),
        )
        for interval, row in grouped.iterrows()
    ]
    if (~present).any():
        stats.append(GroupStat("(missing)", int((~present).sum()), float(target[~present].mean())))
    return stats


def _interval_label(interval: pd.Interval, kind: str) -> str:
    if kind == "datetime":
        low = pd.Timestamp(interval.left, unit="s").date()
        high = pd.Timestamp(interval.right, unit="s").date()
        return f"{low}–{high}"
    return f"{_fmt(interval.left)}–{_fmt(interval.right)}"


def _spearman(values: pd.Series, target: pd.Series, kind: str) -> float | None:
    if kind == "categorical":
        return None
    numbers = _as_number(values, kind)
    both = numbers.notna() & target.notna()
    if both.sum() < 3 or numbers[both].nunique() < 2 or target[both].nunique() < 2:
        return None
    return float(numbers[both].rank().corr(target[both].rank()))


def _partial_dependence(
    model: Any,
    frame: pd.DataFrame,
    feature: str,
    kind: str,
    task: Task,
    classes: list[Any],
    focus: Any,
    max_rows: int,
    seed: int,
) -> list[tuple[str, Any, float]]:
    """``(label, value, average prediction)`` with ``feature`` set to each grid value."""
    rng = np.random.default_rng(seed)
    sample = frame
    if len(frame) > max_rows:
        sample = frame.iloc[np.sort(rng.choice(len(frame), max_rows, replace=False))]
    column = frame[feature]
    if kind == "categorical":
        grid = list(column.dropna().value_counts().index[:_MAX_GROUPS])
        labels = [str(v) for v in grid]
    else:
        quantiles = np.linspace(0.05, 0.95, _PD_GRID)
        present = column.dropna()
        if kind == "datetime":
            grid = [pd.Timestamp(v) for v in present.quantile(quantiles).drop_duplicates()]
            labels = [str(v.date()) for v in grid]
        else:
            grid = list(np.unique(np.quantile(present.astype(float), quantiles)))
            labels = [_fmt(v) for v in grid]
    points = []
    for label, value in zip(labels, grid, strict=True):
        changed = sample.copy()
        changed[feature] = pd.Series([value] * len(changed), index=changed.index).astype(
            column.dtype
        )
        if task == "regression":
            average = float(np.mean(np.asarray(model.predict(changed), dtype=float)))
        else:
            proba = np.asarray(model.predict_proba(changed), dtype=float)
            average = float(proba[:, classes.index(focus)].mean())
        x = value.to_pydatetime() if kind == "datetime" else value
        points.append((label, x if kind != "numeric" else float(value), average))
    return points


def _feature_insights(
    feature: str,
    found: FeatureImportance | None,
    n_features: int,
    correlation: float | None,
    groups: Sequence[GroupStat],
    pd_points: Sequence[tuple[str, float]],
    target_label: str,
) -> list[str]:
    sentences = []
    if found is not None:
        sentences.append(
            f"{feature} ranks {found.rank} of {n_features} by permutation importance: "
            f"shuffling it lowers the score by {_fmt(found.mean)} (± {_fmt(found.std)})."
        )
    if correlation is not None:
        strength = (
            "strong"
            if abs(correlation) >= 0.5
            else "moderate"
            if abs(correlation) >= 0.3
            else "weak"
        )
        direction = "rises" if correlation > 0 else "falls"
        sentences.append(
            f"The {target_label} {direction} with {feature} "
            f"(Spearman correlation {correlation:+.2f}, {strength})."
        )
    real = [g for g in groups if g.label not in {"(missing)", "(other)"} and g.count > 0]
    if len(real) >= 2:
        low = min(real, key=lambda g: g.target_mean)
        high = max(real, key=lambda g: g.target_mean)
        sentences.append(
            f"In the data, the {target_label} is {_fmt(high.target_mean)} when {feature} is "
            f"{high.label} ({high.count} rows) and {_fmt(low.target_mean)} when it is "
            f"{low.label} ({low.count} rows)."
        )
    if len(pd_points) >= 2:
        values = [p[1] for p in pd_points]
        sentences.append(
            f"Holding everything else fixed, the model's average {target_label} moves between "
            f"{_fmt(min(values))} and {_fmt(max(values))} as {feature} varies."
        )
    return sentences


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def _fmt(value: float) -> str:
    """A number with about four significant digits, no scientific notation for everyday sizes."""
    value = float(value)
    if value == 0 or not np.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 1e6 or abs(value) < 1e-4:
        return f"{value:.3g}"
    digits = max(0, 3 - int(np.floor(np.log10(abs(value)))))
    return f"{value:,.{digits}f}"


def _thin(
    x: np.ndarray, y: np.ndarray, max_points: int = _MAX_CURVE_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most ``max_points`` evenly spaced points of a curve, both ends included."""
    if len(x) <= max_points:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, max_points).round().astype(int))
    return x[keep], y[keep]


def _safe_name(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(text))[:60] or "feature"
