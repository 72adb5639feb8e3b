"""The winner's final model, for every search (train, tune, automl): a refit on all rows (or
as many as time allows), else the bagged fold models (the average of the k cross-validation
models), else the first fold's model; and how long a refit will take, from measurements."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone

from tools.deadline import Deadline
from tools.models.families import MODEL_FAMILIES
from tools.plan import Plan
from tools.search.cv import sample_rows
from tools.search.ensemble import EnsembleModel

log = logging.getLogger(__name__)


@dataclass
class _Best:
    """The search's best candidate so far (see :func:`tools.search.train.train`)."""

    family: str
    score: float
    fit_s_per_fold: float
    fold_model: Any
    overrides: Mapping[str, Any]
    fold_models: list[Any] = field(default_factory=list)


STOP_REFIT_MAX_S = 5.0
"""After a stop request the winner is refit only if that takes at most this long."""
MARGIN_S = 0.2
"""Kept free when sizing a refit on part of the rows."""
JOIN_GRACE_S = 0.05
"""How long past the deadline a fit that cannot stop is waited for."""


def refit_time_allowed(deadline: Deadline, stopped: bool) -> float:
    """Seconds a refit may take: the time left, at most :data:`STOP_REFIT_MAX_S` after a stop."""
    left = deadline.left_s()
    return min(left, STOP_REFIT_MAX_S) if stopped else left


@dataclass(frozen=True, slots=True)
class Fallback:
    """What ships when the winner is not refit: its bagged fold models, one fold's model, or
    nothing (tuning on its own, where the caller keeps its model)."""

    model: Any | None
    source: Literal["fold", "bagged"]
    rows: int
    """How many rows each of its models was fit on."""
    words: str
    """How a note about it ends ("its first cross-validation model is used.")."""


@dataclass(frozen=True, slots=True)
class Refit:
    """The final model and where it came from."""

    model: Any | None
    source: Literal["refit", "fold", "bagged"]
    rows: int


def fold_fallback(fold_models: Sequence[Any], first: Any, n_train_fold: int) -> Fallback:
    """The bagged fold models (or the first fold's model) as a :class:`Fallback`."""
    model, source, rows = bagged_folds(fold_models, first, n_train_fold)
    words = (
        f"the average of its {len(fold_models)} cross-validation models is used."
        if source == "bagged"
        else "its first cross-validation model is used."
    )
    return Fallback(model, source, rows, words)


def refit_final(
    templates: Sequence[Any],
    X: pd.DataFrame,
    y: pd.Series,
    *,
    weights: Sequence[float] | None = None,
    label: str,
    estimate_s: float,
    plan: Plan,
    deadline: Deadline,
    stopped: bool,
    fallback: Fallback,
    partial: bool,
    emit: Callable[..., None],
    notes: list[str],
) -> Refit:
    """Refit the winner (``templates``, unfitted; several with ``weights`` for an ensemble)
    on all rows, or ship ``fallback``, without passing ``deadline``.

    ``estimate_s`` is the predicted time on all rows. When it does not fit in the time
    left, and ``partial`` allows, the refit uses as many rows as fit if that is at least
    twice what a fold model saw. Every fit stops at the deadline: the stoppable families
    keep what they learned; a family that cannot stop runs in a thread that is abandoned
    at the deadline, and the fallback ships. A refit cut short by the deadline also
    yields to fully trained bagged fold models.
    """
    left = deadline.left_s()
    allowed = refit_time_allowed(deadline, stopped)
    rows = np.arange(len(y))
    if estimate_s > allowed:
        affordable = int(len(y) * max(allowed - MARGIN_S, 0.0) / max(estimate_s, 1e-9))
        if not partial or len(templates) > 1 or affordable < 2 * max(fallback.rows, 1):
            notes.append(_not_refit(label, fallback, estimate_s, left))
            return _shipped(fallback)
        rows = sample_rows(y, plan.task, plan, affordable)
        notes.append(
            f"{label} was refit on {len(rows):,} of {len(y):,} rows to stay within the budget."
        )
    what = label if len(rows) < len(y) or len(templates) == 1 else f"{label} on all rows"
    emit("refit_started", f"Refitting {what} on {len(rows):,} rows.")
    X_rows = X if len(rows) == len(y) else X.iloc[rows].reset_index(drop=True)
    y_rows = y if len(rows) == len(y) else y.iloc[rows].reset_index(drop=True)
    fitted: list[Any] = []
    for template in templates:
        try:
            model = fit_by(clone(template), X_rows, y_rows, deadline)
        except (MemoryError, ValueError) as exc:
            log.warning(
                "refit_failed label=%s rows=%d error=%s", label, len(rows), type(exc).__name__
            )
            notes.append(f"{label} could not be refit on {len(rows):,} rows; {fallback.words}")
            return _shipped(fallback)
        if model is None or (deadline.passed() and fallback.source == "bagged"):
            # Cut short: fully trained fold models are the better model.
            notes.append(
                f"The refit of {label} on {len(rows):,} rows was cut short by the budget; "
                f"{fallback.words}"
            )
            return _shipped(fallback)
        fitted.append(model)
    if len(fitted) == 1 and weights is None:
        return Refit(fitted[0], "refit", len(rows))
    shares = list(weights) if weights is not None else [1.0 / len(fitted)] * len(fitted)
    return Refit(EnsembleModel.from_fitted(fitted, shares), "refit", len(rows))


def fit_by(model: Any, X: pd.DataFrame, y: pd.Series, deadline: Deadline) -> Any | None:
    """``model.fit(X, y, deadline=deadline)``, or None if it is not done by the deadline.

    Families whose estimators stop at the deadline are fit here. Others (closed-form and
    solver-based models: their time can exceed a fold-based estimate several times over,
    e.g. on memory-bound data) fit in a daemon thread that is abandoned at the deadline;
    it finishes in the background and its result is dropped.
    """
    if _stops(model):
        return model.fit(X, y, deadline=deadline)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["model"] = model.fit(X, y, deadline=deadline)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="mlchat-refit", daemon=True)
    worker.start()
    worker.join(timeout=max(deadline.left_s(), 0.0) + JOIN_GRACE_S)
    if worker.is_alive():
        log.warning("refit_abandoned family=%s", getattr(model, "family", "?"))
        return None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["model"]


def _stops(model: Any) -> bool:
    family = MODEL_FAMILIES.get(str(getattr(model, "family", "")))
    return family is None or family.stops_at_deadline


def _shipped(fallback: Fallback) -> Refit:
    return Refit(fallback.model, fallback.source, fallback.rows)


def _not_refit(label: str, fallback: Fallback, estimate_s: float, left: float) -> str:
    if fallback.model is None:
        return (
            f"{label} was not refit: it needs about {estimate_s:.0f} s and "
            f"{max(left, 0):.0f} s were left."
        )
    return f"{label} was not refit on all rows (no time left); {fallback.words}"


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


MIN_MEASURED_S = 0.05
"""Fits shorter than this are too short to measure how time grows with rows."""
PROBE_SHARE = 0.15
"""The probe fit runs only if a fold's fit takes at most this share of the time left."""
EXPONENT_RANGE = (0.5, 1.2)
"""How fit time may grow with rows (``time ~ rows ** exponent``), whatever a noisy probe says."""
UNSTOPPABLE_EXPONENT_RANGE = (1.0, 1.3)
"""The same for families that cannot stop at the deadline: never below linear, since an
underestimate costs a refit that is abandoned (on this kind of machine, 20x the rows took
28-46x the time for naive Bayes and logistic regression: memory, not arithmetic)."""


def rows_exponent(
    template: Any,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    n_fold: int,
    fold_s: float,
    plan: Plan,
    deadline: Deadline,
    stops: bool = True,
) -> float | None:
    """How a family's fit time grows with rows, measured: one fit of ``template`` on half a
    fold's rows, against the fold fits (``fold_s`` on ``n_fold`` rows). None when the fits are
    too short to time, the probe would cost too much of the time left, or it fails.
    ``stops=False`` (a family that cannot stop at the deadline) never goes below linear."""
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
    return float(np.clip(exponent, *(EXPONENT_RANGE if stops else UNSTOPPABLE_EXPONENT_RANGE)))


def refit_ratio(n_rows: int, n_fold: int, exponent: float | None) -> float:
    """How much longer a fit on ``n_rows`` takes than one on ``n_fold`` rows: linear unless
    an exponent was measured (:func:`rows_exponent`)."""
    ratio = max(n_rows / max(n_fold, 1), 1.0)
    return ratio if exponent is None else ratio**exponent
