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

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tools.deadline import Deadline
from tools.errors import UserFacingError
from tools.explain.common import Scorer, Task, _classes, _fmt, _predict
from tools.explain.diagnostics import (
    _classification_figures,
    _classification_insights,
    _regression_figures,
    _regression_insights,
)
from tools.explain.importance import (
    _MAX_IMPORTANCE_ROWS,
    FeatureImportance,
    HeldOut,
    _held_out,
    _importance_insights,
    permutation_importance_table,
)
from tools.figures import (
    FigureArtifact,
    bar_chart,
)
from tools.metrics import resolve_metric

log = logging.getLogger(__name__)


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
    from tools.analyze.task import prepare_target

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
