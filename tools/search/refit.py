"""The winner's final model: a refit on all rows (or as many as time allows), else the bagged fold models (the average of the k cross-validation models), else the first fold's model."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone

from tools.deadline import Deadline
from tools.models.estimator import TabularModel
from tools.models.families import MODEL_FAMILIES
from tools.plan import Plan
from tools.search.cv import sample_rows
from tools.search.ensemble import EnsembleModel

log = logging.getLogger(__name__)

STOP_REFIT_MAX_S = 5.0
"""After a stop request the winner is refit only if that takes at most this long."""


@dataclass
class _Best:
    family: str
    score: float
    fit_s_per_fold: float
    fold_model: TabularModel
    overrides: Mapping[str, Any]
    fold_models: list[TabularModel] = field(default_factory=list)


def _final_model(
    best: _Best,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    columns: tuple[tuple[str, str], ...],
    task: str,
    plan: Plan,
    n_jobs: int,
    left: float,
    fit_deadline: Deadline,
    stopped: bool,
    refit_s: float,
    n_train_fold: int,
    emit: Callable[..., None],
    notes: list[str],
    derived: tuple[tuple[str, str], ...] = (),
    options: Mapping[str, Any],
) -> tuple[TabularModel, Literal["refit", "fold"], int]:
    label = MODEL_FAMILIES[best.family].label
    allowed = min(left, STOP_REFIT_MAX_S) if stopped else left
    rows = np.arange(len(y))
    if refit_s > allowed:
        # Refit on as many rows as the time left allows, if that is more than a fold saw.
        affordable = int(
            n_train_fold * max(allowed - 0.2, 0) / max(refit_s * n_train_fold / len(y), 1e-9)
        )
        if affordable <= n_train_fold:
            notes.append(f"{label} was not refit on all rows (no time left); {_fold_words(best)}")
            return bagged_folds(best.fold_models, best.fold_model, n_train_fold)
        rows = sample_rows(y, task, plan, affordable)
        notes.append(
            f"{label} was refit on {len(rows):,} of {len(y):,} rows to stay within the budget."
        )
    emit("refit_started", f"Refitting {label} on {len(rows):,} rows.")
    model = TabularModel(
        best.family,
        task,
        columns,
        params=dict(best.overrides) or None,
        seed=plan.seed,
        n_jobs=n_jobs,
        derived=derived,
        **options,
    )  # type: ignore[arg-type]
    try:
        model.fit(X.iloc[rows], y.iloc[rows], deadline=fit_deadline)
    except (MemoryError, ValueError) as exc:
        log.warning(
            "refit_failed family=%s rows=%d error=%s", best.family, len(rows), type(exc).__name__
        )
        notes.append(f"{label} could not be refit on {len(rows):,} rows; {_fold_words(best)}")
        return bagged_folds(best.fold_models, best.fold_model, n_train_fold)
    return model, "refit", len(rows)


def bagged_folds(
    fold_models: Sequence[Any], first: Any, n_train_fold: int
) -> tuple[Any, Literal["fold", "bagged"], int]:
    """The average of the cross-validation models (as AutoGluon ships without a refit), or
    the first fold's model when only one fold finished. Returns ``(model, source, rows)``."""
    classes = {tuple(np.asarray(getattr(m, "classes_", ())).tolist()) for m in fold_models}
    if len(fold_models) < 2 or len(classes) > 1:  # a fold that missed a rare class
        return first, "fold", n_train_fold
    weights = [1.0 / len(fold_models)] * len(fold_models)
    return EnsembleModel.from_fitted(list(fold_models), weights), "bagged", n_train_fold


def _fold_words(best: _Best) -> str:
    if bagged_folds(best.fold_models, best.fold_model, 0)[1] == "bagged":
        return f"the average of its {len(best.fold_models)} cross-validation models is used."
    return "its first cross-validation model is used."


MIN_MEASURED_S = 0.05
"""Fits shorter than this are too short to measure how time grows with rows."""
PROBE_SHARE = 0.15
"""The probe fit runs only if a fold's fit takes at most this share of the time left."""
EXPONENT_RANGE = (0.5, 1.2)
"""How fit time may grow with rows (``time ~ rows ** exponent``), whatever a noisy probe says."""


def rows_exponent(
    template: Any,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    n_fold: int,
    fold_s: float,
    plan: Plan,
    deadline: Deadline,
) -> float | None:
    """How a family's fit time grows with rows, measured: one fit of ``template`` on half a
    fold's rows, against the fold fits (``fold_s`` on ``n_fold`` rows). None when the fits are
    too short to time, the probe would cost too much of the time left, or it fails."""
    if fold_s < MIN_MEASURED_S or fold_s > PROBE_SHARE * deadline.left_s() or n_fold < 200:
        return None
    rows = sample_rows(y, plan.task, plan, n_fold // 2)
    started = deadline.clock()
    try:
        clone(template).fit(X.iloc[rows], y.iloc[rows], deadline=deadline)
    except Exception:  # a probe only informs the estimate
        log.info("refit_probe_failed", exc_info=True)
        return None
    half_s = deadline.clock() - started
    if half_s < MIN_MEASURED_S / 2:
        return None
    exponent = math.log(fold_s / half_s) / math.log(n_fold / len(rows))
    return float(np.clip(exponent, *EXPONENT_RANGE))


def refit_ratio(n_rows: int, n_fold: int, exponent: float | None) -> float:
    """How much longer a fit on ``n_rows`` takes than one on ``n_fold`` rows: linear unless
    an exponent was measured (:func:`rows_exponent`)."""
    ratio = max(n_rows / max(n_fold, 1), 1.0)
    return ratio if exponent is None else ratio**exponent
