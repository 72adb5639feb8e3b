"""Permutation importance, computed on rows the model did not learn from (held-out rows and a model refit without them, when time allows)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from tools.deadline import Deadline
from tools.explain.common import Scorer, Task, _default_scorer, _fmt, _input_columns

log = logging.getLogger(__name__)

_MAX_IMPORTANCE_ROWS = 2_000

IMPORTANCE_SHARE = 0.6
"""Share of the time left to a deadline that permutation importance plans to use (the
figures and the export need the rest)."""

MIN_IMPORTANCE_ROWS = 200

MIN_IMPORTANCE_S = 0.5
"""A run whose deadline is this close (or past) still ranks every column once on
:data:`MIN_IMPORTANCE_ROWS` rows within this many seconds: an explanation without any
importance cannot answer "why does X matter?" (the run's 1.1 x budget + 2 s bound has room)."""

MIN_HELD_OUT_S = 1.0
"""Below this much time left, importance is measured in-sample instead (some families
cannot be stopped mid-fit)."""

HELD_OUT_MAX_ROWS = 20_000
"""The held-out importance model is fit on at most this many rows: enough to rank columns."""

HELD_OUT_FIT_SHARE = 0.35
"""Share of the time left to the explanation's deadline that fitting the held-out
importance model may use."""


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
class HeldOut:
    """A model and rows it was not fit on, for permutation importance."""

    model: Any
    frame: pd.DataFrame
    y: np.ndarray
    source: str = "held-out rows"


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
    if deadline is not None and deadline.left_s() < MIN_IMPORTANCE_S:
        deadline = Deadline.after(MIN_IMPORTANCE_S)
        max_rows, n_repeats = min(max_rows, MIN_IMPORTANCE_ROWS), 1
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
