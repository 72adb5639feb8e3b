"""Cross-validated training of the plan's candidate models under a wall-clock budget.

:func:`train` runs the plan's model families cheapest first. Before each
candidate it estimates the candidate's cost (a prior per family, calibrated by
what earlier candidates actually took) and skips it if it, plus the refit of
the winner, cannot finish inside the budget; a running candidate whose folds
overrun is abandoned between folds. The winner is refit on all rows (or on as
many as the remaining time allows; failing that, its first fold's model is
kept). ``should_stop()`` is checked between folds and candidates.

Total wall time stays within about ``1.1 x budget + 2 s``: the estimates are
conservative, folds are checked as they finish, the refit is reserved, and
every fit (the first candidate's too) stops at the deadline
(:mod:`tools.deadline`, :mod:`tools.models.stoppable`).

Tables above :data:`MAX_SEARCH_ROWS` rows are searched on a seeded sample;
only the winner's refit sees every row.

Hard cases, resolved before the candidates run and applied to every model:
a skewed regression target is log- or quantile-transformed when a quick
cross-validated comparison says so, per preprocessing style
(``plan.target_transform``, :mod:`tools.search.target_transform`); categoricals with
many levels are target-encoded inside every model (:mod:`tools.models.encoders`);
classes are weighted when ``plan.class_weight`` asks (:mod:`tools.imbalance`);
and when F1 is the metric of a binary task, the winner gets the decision
threshold that maximises F1 on its out-of-fold probabilities (``threshold_``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from tools.deadline import ESTIMATE_SAFETY, Deadline
from tools.models.estimator import NATIVE_CATEGORICAL_FAMILIES, TabularModel
from tools.models.families import MODEL_FAMILIES
from tools.models.preprocessing import TARGET_ENCODE_ABOVE_LEVELS, encoded_width
from tools.plan import Plan
from tools.search.candidates import _calibration, _describe, _run_candidate
from tools.search.cv import (
    MAX_SEARCH_ROWS,
    MIN_SEARCH_ROWS,
    SEARCH_ROWS_PER_BUDGET_S,
    prepare,
    sample_rows,
)
from tools.search.cv import splits as cv_splits
from tools.search.fewer_rounds import fewer_rounds
from tools.search.fold_pool import fold_workers
from tools.search.native import native_or_encoded
from tools.search.refit import _Best, bagged_folds, fold_fallback, refit_final
from tools.search.results import (
    CandidateResult,
    ProgressKind,
    TrainingError,
    TrainProgress,
    TrainResult,
)
from tools.search.target_transform import TRANSFORM_SHARE, choose_target_transforms
from tools.search.winner import (
    _choose_class_weight,
    _thresholded,
    rank_candidates,
    rank_value,
    winner_metrics,
)
from tools.threads import threads_for

log = logging.getLogger(__name__)

OVERRUN_SHARE = 0.1
"""A candidate after the first is stopped this share of the search budget after the search's
deadline, however far its fit runs over the estimate it started on."""


def train(
    frame: pd.DataFrame,
    plan: Plan,
    *,
    profile: Any | None = None,
    on_progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
    max_search_rows: int = MAX_SEARCH_ROWS,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    refit: bool = True,
    deadline: Deadline | None = None,
) -> TrainResult:
    """Cross-validate the plan's candidates within ``plan.budget_s`` and refit the best.

    Args:
        frame: The table, original columns, including the target.
        plan: What to train (see :func:`tools.plan.build_plan`).
        profile: The table's profile for ``plan.target``; computed when omitted.
        on_progress: Called with each :class:`TrainProgress`.
        should_stop: Polled between folds and candidates; True stops early and
            keeps what is finished.
        clock: Monotonic seconds; the budget is measured with it.
        max_search_rows: Compare candidates on a seeded sample of at most this
            many rows; the winner is still refit on all rows.
        params: Per-family parameters overriding the defaults, e.g.
            ``{"lightgbm": {"num_leaves": 15}}`` (tuned values, later issues).
        refit: Refit the winner on all rows. False keeps the winner's first-fold
            model and reserves no time for a refit (a caller that refits itself,
            such as :func:`tools.search.automl.fit_automl`).
        deadline: When every fit must stop (it keeps what it learned); default
            ``plan.budget_s`` from now. Candidates are planned to finish by the
            earlier of the two.

    Raises:
        TargetError: the target column is missing or unusable.
        DataError: no usable feature columns.
        TrainingError: no candidate finished.
    """
    from tools.metrics import fold_numbers, resolve_metric

    start = clock()
    hard = deadline or Deadline(start + plan.budget_s, clock)
    search = hard.earlier(Deadline(start + plan.budget_s, clock))
    """When new work stops starting: the plan's budget, or the caller's deadline if sooner."""
    stop = should_stop or (lambda: False)
    notify = on_progress or (lambda progress: None)
    notes: list[str] = []

    def elapsed() -> float:
        return clock() - start

    def emit(kind: ProgressKind, message: str, candidate: CandidateResult | None = None) -> None:
        notify(TrainProgress(kind, candidate, elapsed(), plan.budget_s, message))

    emit("started", f"Training up to {len(plan.models)} models in {plan.budget_s:g} s.")
    data = prepare(frame, plan, profile=profile, notes=notes)
    table, y, classes, profile = data.table, data.y, data.classes, data.profile
    features, columns, derived = data.features, data.columns, data.derived
    task = plan.task
    X = table  # models select their own columns; no copy of a big table
    n_classes = len(classes) if classes is not None else 0
    spec = resolve_metric(plan.metric, task)
    order = sorted(plan.models, key=lambda name: (MODEL_FAMILIES[name].cost_rank, name))
    n_unique = {
        c.name: int(c.n_unique) for c in profile.columns if getattr(c, "n_unique", None) is not None
    }

    # Rows the candidates are compared on: a seeded sample of big tables, smaller still if
    # the cheapest candidate could not finish on it in a good share of the budget.
    limit = min(
        max_search_rows, max(MIN_SEARCH_ROWS, int(plan.budget_s * SEARCH_ROWS_PER_BUDGET_S))
    )
    rows = sample_rows(y, task, plan, limit)
    cheapest = MODEL_FAMILIES[order[0]]
    width0 = encoded_width(columns, preprocessing=cheapest.preprocessing, n_unique=n_unique)
    n_splits = 1 if plan.validation in {"holdout", "time_split"} else plan.folds
    guess = (
        cheapest.estimate_fit_s(len(rows), width0, n_columns=len(columns))
        * max(n_splits, 1)
        * ESTIMATE_SAFETY
    )
    if guess > 0.4 * plan.budget_s and len(rows) > MIN_SEARCH_ROWS:
        target_rows = max(MIN_SEARCH_ROWS, int(len(rows) * 0.4 * plan.budget_s / guess))
        rows = sample_rows(y, task, plan, target_rows)
    if len(rows) < len(y):
        notes.append(f"Models were compared on a sample of {len(rows):,} of {len(y):,} rows.")
    time_values = table[plan.time_column] if plan.time_column in table.columns else None
    splits = cv_splits(time_values, y, rows, plan, notes)
    n_train_fold = int(np.mean([len(s.train) for s in splits]))
    n_jobs = threads_for(n_train_fold)
    oof_rows = np.sort(np.concatenate([s.valid for s in splits]))
    slot = {int(r): i for i, r in enumerate(oof_rows)} if len(oof_rows) < len(y) else None

    transforms, transform_scores = choose_target_transforms(
        X,
        y,
        [(s.train, s.valid) for s in splits],
        plan=plan,
        profile=profile,
        columns=columns,
        spec=spec,
        n_unique=n_unique,
        deadline=Deadline(start + TRANSFORM_SHARE * 1.5 * plan.budget_s, clock),
        notes=notes,
    )
    class_weight = _choose_class_weight(plan, y, spec.name, notes)
    weighting = None if class_weight == "none" else class_weight
    positive = str(classes[-1]) if task == "binary" and classes is not None else None

    def options(family: str) -> dict[str, Any]:
        style = MODEL_FAMILIES[family].preprocessing
        return {
            "target_transform": transforms.get(style, "none"),
            "class_weight": weighting,
            "positive_class": positive,
        }

    results: list[CandidateResult] = []
    oof: dict[str, np.ndarray] = {}
    templates: dict[str, TabularModel] = {}
    best: _Best | None = None
    calibration: list[float] = []
    stopped = False

    def refit_estimate(fit_s_per_fold: float) -> float:
        return fit_s_per_fold * len(y) / max(n_train_fold, 1) * ESTIMATE_SAFETY + 0.2

    def refit_reserve(fit_s_per_fold: float) -> float:
        if not refit:
            return 0.0
        # Time held back for the winner's refit: on all rows when that is at most twice a
        # fold; on a sampled search, enough for a fold-sized refit (more rows if time allows).
        if len(y) <= 2 * n_train_fold:
            return refit_estimate(fit_s_per_fold)
        return fit_s_per_fold * ESTIMATE_SAFETY + 0.2

    def evaluate(name: str, overrides: dict[str, Any], *, first: bool, held: float) -> Any:
        return _run_candidate(
            name,
            X,
            y,
            splits,
            columns=columns,
            task=task,
            classes=classes,
            spec=spec,
            seed=plan.seed,
            n_jobs=n_jobs,
            clock=clock,
            deadline=search,
            # The first candidate may use the whole run (a result beats none); later ones
            # are cut soon after the search's own deadline, so tuning and the refit keep
            # their time when a fit runs far over its estimate.
            fit_deadline=hard
            if first
            else hard.earlier(Deadline(search.at_s + OVERRUN_SHARE * plan.budget_s, clock)),
            reserve=lambda fold_s: max(held, refit_reserve(fold_s)),
            stop=stop,
            n_oof=len(oof_rows),
            slot=slot,
            must_finish=first,
            overrides=overrides,
            derived=derived,
            options=options(name),
        )

    # Categorical columns the tree preprocessing codes as ordinals (few enough levels not to
    # be target-encoded): LightGBM and CatBoost may handle their categories themselves.
    has_categories = any(
        kind in {"categorical", "boolean"}
        and n_unique.get(name, 0) <= TARGET_ENCODE_ABOVE_LEVELS["tree"]
        for name, kind in columns
    )
    for name in order:
        family = MODEL_FAMILIES[name]
        if stop():
            stopped = True
            break
        width = encoded_width(columns, preprocessing=family.preprocessing, n_unique=n_unique)
        prior = family.estimate_fit_s(
            n_train_fold, width, n_columns=len(columns), n_classes=n_classes
        )
        est_fold = prior * _calibration(calibration)
        workers = fold_workers(name, len(splits), n_jobs, n_rows=n_train_fold)
        rounds = math.ceil(len(splits) / workers)
        est_total = est_fold * rounds * ESTIMATE_SAFETY
        best_refit = refit_reserve(best.fit_s_per_fold) if best else 0.0
        own_refit = refit_reserve(est_fold)
        reserve = max(best_refit, own_refit)
        left = search.left_s()
        overrides = dict((params or {}).get(name, {}))
        shorter = None
        if best is not None and est_total + reserve > left:
            own = est_total + own_refit
            shorter = fewer_rounds(family, overrides, needed_s=own, held_s=best_refit, left_s=left)
        if shorter is not None:
            overrides = {**overrides, **shorter.overrides}
            prior *= shorter.share
            est_total *= shorter.share
            reserve = max(best_refit, refit_reserve(est_fold * shorter.share))
        reason = ""
        if family.max_rows is not None and n_train_fold > family.max_rows:
            reason = f"{family.label} is too slow above {family.max_rows:,} rows."
        elif best is not None and est_total + reserve > left:
            reason = (
                f"needs about {est_total:.0f} s plus the refit; {max(left, 0):.0f} s were left."
            )
        if reason:
            skipped = CandidateResult(name, math.nan, math.nan, 0.0, "skipped", reason)
            results.append(skipped)
            emit("candidate_finished", f"{family.label} skipped: {reason}", skipped)
            continue

        started = f"{family.label}: {len(splits)} fold(s)"
        emit("candidate_started", f"{started}, {shorter.note}." if shorter else f"{started}.")
        outcome = evaluate(name, overrides, first=best is None, held=best_refit)
        if shorter is not None and outcome.result.status == "ok" and not outcome.result.message:
            outcome.result = replace(outcome.result, message=shorter.note)
        if outcome.result.status == "ok" and outcome.result.n_folds < len(splits):
            # Every later candidate is validated on the same, fewer folds.
            splits = splits[: outcome.result.n_folds]
            kept_rows = np.sort(np.concatenate([s.valid for s in splits]))
            positions = kept_rows if slot is None else np.array([slot[int(r)] for r in kept_rows])
            outcome.oof = outcome.oof[positions]
            oof_rows = kept_rows
            slot = {int(r): i for i, r in enumerate(oof_rows)}
            notes.append(
                f"Time allowed only {len(splits)} validation fold(s); every model was scored on them."
            )
        if outcome.result.status == "ok" and task == "binary" and spec.name == "f1":
            outcome.result = _thresholded(
                outcome.result,
                outcome.oof,
                y.iloc[oof_rows],
                classes,
                fold_numbers([s.valid for s in splits], oof_rows),
            )
        if (
            outcome.result.status == "ok"
            and name in NATIVE_CATEGORICAL_FAMILIES
            and has_categories
            and not outcome.stopped
            and not stop()
        ):
            folds_now = fold_numbers([s.valid for s in splits], oof_rows)
            y_now = y.iloc[oof_rows]
            outcome = native_or_encoded(
                outcome,
                lambda name=name, overrides=overrides, fold_s=outcome.fit_s_per_fold: evaluate(
                    name,
                    {**overrides, "native_categoricals": True},
                    first=False,
                    held=refit_reserve(fold_s),
                ),
                time_left_s=search.left_s(),
                needed_s=family.native_cost
                * (
                    outcome.fit_s_per_fold * len(splits) * ESTIMATE_SAFETY
                    + refit_reserve(outcome.fit_s_per_fold)
                ),
                finish=lambda o, y_now=y_now, folds_now=folds_now: (
                    _thresholded(o.result, o.oof, y_now, classes, folds_now)
                    if task == "binary" and spec.name == "f1"
                    else o.result
                ),
                spec=spec,
                label=family.label,
                notes=notes,
            )
            if outcome.result.params.get("native_categoricals"):
                overrides = {**overrides, "native_categoricals": True}
        results.append(outcome.result)
        if outcome.stopped:
            stopped = True
        if outcome.result.status == "ok":
            oof[name] = outcome.oof
            templates[name] = clone(outcome.fold_model)
            if prior > 0 and outcome.fit_s_per_fold > 0.5:  # too short to measure speed
                calibration.append(outcome.fit_s_per_fold / prior)
            if best is None or rank_value(spec, outcome.result.score) > rank_value(
                spec, best.score
            ):
                best = _Best(
                    name,
                    outcome.result.score,
                    outcome.fit_s_per_fold,
                    outcome.fold_model,
                    dict(overrides),
                    outcome.fold_models,
                )
        emit(
            "candidate_finished",
            _describe(family.label, outcome.result, spec.label),
            outcome.result,
        )
        log.info(
            "candidate family=%s status=%s score=%.5g std=%.3g time_s=%.2f",
            name,
            outcome.result.status,
            outcome.result.score,
            outcome.result.std,
            outcome.result.fit_time_s,
        )
        if stopped:
            break

    if best is None:
        raise TrainingError(_nothing_trained(results, stopped))

    if not refit:
        model, source, refit_rows = bagged_folds(best.fold_models, best.fold_model, n_train_fold)
    else:
        final = refit_final(
            [
                TabularModel(
                    best.family,
                    task,
                    columns,
                    params=dict(best.overrides) or None,
                    seed=plan.seed,
                    n_jobs=threads_for(len(y)),
                    derived=derived,
                    **options(best.family),
                )
            ],
            X,
            y,
            label=MODEL_FAMILIES[best.family].label,
            estimate_s=refit_estimate(best.fit_s_per_fold),
            plan=plan,
            deadline=hard,
            stopped=stopped,
            fallback=fold_fallback(best.fold_models, best.fold_model, n_train_fold),
            partial=True,
            emit=emit,
            notes=notes,
        )
        model, source, refit_rows = final.model, final.source, final.rows
    model.target_ = plan.target

    oof_folds = fold_numbers([s.valid for s in splits], oof_rows)
    # Without a refit the caller picks (and thresholds) its own winner.
    cv_metrics, threshold = winner_metrics(
        model,
        oof[best.family],
        y.iloc[oof_rows],
        task=task,
        spec=spec,
        classes=classes,
        notes=notes,
        set_threshold=refit,
        folds=oof_folds,
    )

    leaderboard = rank_candidates(results, spec)
    result = TrainResult(
        plan=plan,
        profile=profile,
        leaderboard=leaderboard,
        best_family=best.family,
        model=model,
        oof=oof,
        y=y,
        cv_metrics=cv_metrics,
        elapsed_s=elapsed(),
        stopped=stopped,
        oof_rows=oof_rows,
        classes=classes,
        features=features,
        refit_rows=refit_rows,
        model_source=source,
        fold_models=list(best.fold_models),
        notes=notes,
        search_rows=rows,
        oof_folds=oof_folds,
        templates=templates,
        target_transform=options(best.family)["target_transform"],
        target_transforms={name: options(name)["target_transform"] for name in plan.models},
        target_transform_scores=transform_scores,
        class_weight=class_weight,
        threshold=threshold,
    )
    emit("finished", f"Best: {MODEL_FAMILIES[best.family].label}, {spec.label} {best.score:.4g}.")
    log.info(
        "train_finished best=%s elapsed_s=%.2f budget_s=%g stopped=%s",
        best.family,
        result.elapsed_s,
        plan.budget_s,
        stopped,
    )
    return result


def _nothing_trained(results: Sequence[CandidateResult], stopped: bool) -> str:
    if stopped:
        return "Training was stopped before any model finished; nothing was kept."
    reasons = "; ".join(f"{MODEL_FAMILIES[r.family].label}: {r.message}" for r in results[:5])
    return f"No model could be trained. {reasons}"
