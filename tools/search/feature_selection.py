"""Keep a proposed derived feature only when cross-validation says it helps.

:func:`select_features` scores the run's best model family on the plan's own
validation folds, first with the features the plan already has, then adding
each proposal in turn (greedy forward selection: a kept feature stays in for
the proposals after it). A proposal is kept when its score beats the current
one by more than ``min_gain`` of the score *and* by more than
:data:`NOISE_Z` standard errors of the gain, estimated by a paired bootstrap
of the out-of-fold predictions of both (same rows), so noise does not pass as
a gain.

Every evaluation calls :func:`tools.search.train.train` with one family and the same
plan (validation scheme, folds, seed, rows), so the folds are the ones
training uses and the features are computed inside each fold's pipeline.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tools.deadline import Deadline
from tools.feature_grammar import DerivedFeature
from tools.metrics import resolve_metric
from tools.plan import MIN_BUDGET_S, Plan
from tools.search.train import train

log = logging.getLogger(__name__)

MIN_GAIN = 0.002
"""A kept feature improves the score by more than this fraction of it (0.2 %)."""
NOISE_Z = 1.64
"""... and by more than this many bootstrap standard errors of the gain (one-sided 95 %)."""
_BOOTSTRAP_ROUNDS = 200
_BOOTSTRAP_MAX_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class FeatureTrial:
    """The verdict on one proposed feature."""

    name: str
    expression: str
    score_without: float
    """Cross-validated score of the features kept so far (NaN when not evaluated)."""
    score_with: float
    """... and with this feature added (NaN when not evaluated)."""
    kept: bool
    reason: str


@dataclass(frozen=True, slots=True)
class FeatureSelection:
    """What :func:`select_features` found."""

    family: str
    metric: str
    baseline: float
    """Score with only the features the plan already had."""
    final: float
    """Score with every kept feature."""
    trials: tuple[FeatureTrial, ...]
    kept: tuple[DerivedFeature, ...]
    """The plan's earlier derived features plus the newly kept ones, in order."""
    stopped: bool


def select_features(
    frame: pd.DataFrame,
    plan: Plan,
    proposals: Sequence[DerivedFeature],
    *,
    family: str,
    params: Mapping[str, Any] | None = None,
    profile: Any | None = None,
    min_gain: float = MIN_GAIN,
    budget_s: float = 120.0,
    should_stop: Callable[[], bool] | None = None,
    on_trial: Callable[[FeatureTrial], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    deadline: Deadline | None = None,
) -> FeatureSelection:
    """Score each proposal with ``family`` on the plan's folds and keep the ones that help.

    Args:
        frame: The training table (original columns and the target).
        plan: The run's plan; its ``derived_features`` are the starting set.
        proposals: Features to try, in order (already checked against the table).
        family: Model family to score with (the run's best).
        params: That family's parameters (e.g. tuned ones).
        profile: The table's profile for ``plan.target``; computed when omitted.
        min_gain: Smallest relative improvement that counts.
        budget_s: Wall-clock seconds for all evaluations; proposals left when
            it runs out are reported as not evaluated.
        should_stop: Polled between evaluations.
        on_trial: Called with each verdict as it is reached.
        clock: Monotonic seconds.
        deadline: When every fit must stop; default ``budget_s`` from now. Each
            evaluation gets an equal share of the time left (the baseline and each
            proposal still to score), and no fit runs past the deadline.

    Raises:
        TrainingError: the starting features cannot be scored at all.
    """
    spec = resolve_metric(plan.metric, plan.task)
    stop = should_stop or (lambda: False)
    notify = on_trial or (lambda trial: None)
    hard = Deadline(clock() + budget_s, clock).earlier(deadline)
    kept = list(plan.derived_features)

    def evaluate(features: list[DerivedFeature], evaluations_left: int) -> _Scored:
        share = max(hard.left_s() / max(evaluations_left, 1), MIN_BUDGET_S)
        fields = {
            **plan.model_dump(),
            "models": [family],
            "derived_features": features,
            "budget_s": share,
        }
        result = train(
            frame,
            Plan(**fields),
            profile=profile,
            params={family: dict(params or {})},
            should_stop=stop,
            refit=False,
            clock=clock,
            deadline=hard.earlier(Deadline(clock() + share, clock)),
        )
        row = result.leaderboard[0]
        if row.status != "ok":
            return _Scored(math.nan, 0, None)
        return _Scored(float(row.score), int(row.n_folds), result)

    best = evaluate(kept, len(proposals) + 1)
    current = baseline = best.score
    trials: list[FeatureTrial] = []
    stopped = False
    for number, proposal in enumerate(proposals):
        if stop() or hard.left_s() <= 0:
            stopped = stop()
            reason = "not evaluated: stopped" if stopped else "not evaluated: time budget used up"
            trial = FeatureTrial(
                proposal.name, proposal.expression, current, math.nan, False, reason
            )
        else:
            scored = evaluate([*kept, proposal], len(proposals) - number)
            noise = _gain_noise(best, scored, spec=spec, seed=plan.seed)
            trial = _verdict(
                proposal, current, scored, best.n_folds, noise, spec=spec, min_gain=min_gain
            )
            if trial.kept:
                kept.append(proposal)
                best, current = scored, scored.score
        trials.append(trial)
        notify(trial)
        log.info(
            "feature_trial kept=%s without=%.5g with=%.5g",
            trial.kept,
            trial.score_without,
            trial.score_with,
        )
    return FeatureSelection(
        family=family,
        metric=spec.name,
        baseline=baseline,
        final=current,
        trials=tuple(trials),
        kept=tuple(kept),
        stopped=stopped,
    )


@dataclass(frozen=True, slots=True)
class _Scored:
    score: float
    n_folds: int
    result: Any
    """The :class:`tools.search.train.TrainResult` (``None`` when the family failed)."""


def _gain_noise(before: _Scored, after: _Scored, *, spec: Any, seed: int) -> float:
    """Standard error of the metric gain, by a paired bootstrap of the out-of-fold rows."""
    if before.result is None or after.result is None:
        return 0.0
    first, second = before.result, after.result
    if not np.array_equal(first.oof_rows, second.oof_rows):
        return 0.0
    rng = np.random.default_rng(seed)
    n = len(first.oof_rows)
    y = first.oof_y.to_numpy()
    old, new = first.oof[first.best_family], second.oof[second.best_family]
    gains = []
    for _ in range(_BOOTSTRAP_ROUNDS):
        rows = rng.integers(0, n, min(n, _BOOTSTRAP_MAX_ROWS))
        try:
            gains.append(
                spec.to_score(_metric(spec, y[rows], new[rows], first.classes))
                - spec.to_score(_metric(spec, y[rows], old[rows], first.classes))
            )
        except ValueError:  # undefined on this resample (e.g. one class only)
            continue
    finite = [g for g in gains if math.isfinite(g)]
    return float(np.std(finite)) if len(finite) >= 10 else 0.0


def _metric(spec: Any, y: np.ndarray, values: np.ndarray, classes: Any) -> float:
    if classes is None:
        return float(spec.compute(y, values, None, classes=None))
    predicted = np.asarray(classes)[np.argmax(values, axis=1)]
    return float(spec.compute(y, predicted, values, classes=classes))


def _verdict(
    proposal: DerivedFeature,
    current: float,
    scored: _Scored,
    expected_folds: int,
    noise: float,
    *,
    spec: Any,
    min_gain: float,
) -> FeatureTrial:
    score = scored.score

    def trial(kept: bool, reason: str) -> FeatureTrial:
        return FeatureTrial(proposal.name, proposal.expression, current, score, kept, reason)

    if math.isnan(score):
        return trial(False, "the model could not be trained with it")
    if scored.n_folds != expected_folds:
        return trial(False, f"only {scored.n_folds} of {expected_folds} folds finished in time")
    gain = spec.to_score(score) - spec.to_score(current)
    needed = max(min_gain * abs(current), NOISE_Z * noise)
    if gain > needed:
        return trial(True, f"improves {spec.label} by {abs(score - current):.4g}")
    if gain > 0:
        return trial(False, f"gain {gain:.4g} is within the noise (needs more than {needed:.4g})")
    return trial(False, f"does not improve {spec.label}")
