"""Train, tune and ensemble within one wall-clock budget: the engine's AutoML entry point.

:func:`fit_automl` splits ``plan.budget_s`` three ways:

1. **breadth**: :func:`tools.search.train.train` cross-validates the plan's model
   families, cheapest first, in at most :data:`BREADTH_SHARE` of the budget,
   without refitting its winner;
2. **depth**: :func:`tools.search.tune.tune` tunes the best :data:`TUNE_TOP` tunable
   families on the same rows with the time left, minus a reserve for the
   final refit; the first trials come from similar past runs and the built-in
   portfolio (:mod:`tools.warmstart`);
3. **finish**: greedy ensemble selection (:mod:`tools.search.ensemble`) over every
   out-of-fold prediction (breadth candidates and tuned trials); the ensemble
   is kept only when it beats the best single model in cross-validation by
   :data:`MIN_ENSEMBLE_GAIN`, and the winner (its members, or the best single
   model) is refit on all rows if that fits in the time left.

The result is a :class:`tools.search.train.TrainResult`, so explain, export and
predict need nothing new. Its leaderboard gains a row per tuned family (key
``"<family>:tuned"``) and one for the ensemble (key ``"ensemble"``); ``oof``
has the same keys. Total wall time stays within about ``1.1 x budget + 2 s``:
one :class:`tools.deadline.Deadline` (``deadline=``, default ``plan.budget_s``
from the call) bounds every fit of every phase. Callers that also explain and
export (``mlchat train``, the chat's worker) count it from process start or
the tool call and pass it :func:`finish_reserve_s` early.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from tools.deadline import ESTIMATE_SAFETY, Deadline
from tools.metrics import resolve_metric
from tools.models.estimator import TabularModel
from tools.models.families import MODEL_FAMILIES
from tools.plan import MIN_BUDGET_S, Plan
from tools.search.ensemble import (
    EnsembleSelection,
    ensemble_is_worth_it,
    select_ensemble,
)
from tools.search.finish import final_model, rows_learned_from, stops_at_deadline
from tools.search.honest import CandidatePool, Choice, expected_metrics, fold_scores
from tools.search.keys import ENSEMBLE_KEY, TUNED_SUFFIX, candidate_label
from tools.search.keys import base_family as base_family  # re-exported: callers import it here
from tools.search.refit import (
    refit_ratio,
    rows_exponent,
)
from tools.search.results import CandidateResult, TrainProgress, TrainResult
from tools.search.train import train
from tools.search.winner import rank_candidates, rank_value, winner_metrics

log = logging.getLogger(__name__)

BREADTH_SHARE = 0.6
"""Most of the budget the breadth search may use; on small tables it finishes well before."""
TUNE_TOP = 3
"""How many of the best tunable families are tuned."""
MIN_TUNE_S = 2.0
"""Tuning is skipped when less than this is left for it."""


FINISH_SHARE = 0.12
"""Share of a run's budget kept for explaining and exporting the model (at least 1 s, at
most 30 s): the search gets a deadline that much earlier than the run's."""


def finish_reserve_s(budget_s: float) -> float:
    """Seconds of a ``budget_s`` run kept after the search for explain and export."""
    return min(max(FINISH_SHARE * budget_s, 1.0), 30.0)


def fit_automl(
    frame: pd.DataFrame,
    plan: Plan,
    *,
    profile: Any | None = None,
    on_progress: Callable[[TrainProgress], None] | None = None,
    on_trial: Callable[[Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
    storage: str | Path | None = None,
    study_key: str = "automl",
    history: Any | None = None,
    tune: bool = True,
    ensemble: bool = True,
    deadline: Deadline | None = None,
) -> TrainResult:
    """Cross-validate candidates, tune the best, ensemble, and refit the winner in ``plan.budget_s``.

    Args:
        frame: The table, original columns, including the target.
        plan: What to train (see :func:`tools.plan.build_plan`).
        profile: The table's profile for ``plan.target``; computed when omitted.
        on_progress: Called with each :class:`TrainProgress` (breadth search and finish).
        on_trial: Called with each :class:`tools.search.tune.TrialReport` while tuning.
        should_stop: Polled between folds, candidates and trials; True stops early
            and keeps what is finished.
        clock: Monotonic seconds; the budget is measured with it.
        storage: Where tuning studies live (see :func:`tools.search.tune.open_storage`);
            None keeps them in memory. With a storage, ``study_key`` names the
            studies so a later :func:`tools.search.tune.tune` call continues them.
        study_key: Prefix of the study names.
        history: A :class:`tools.warmstart.WarmStartStore` of past runs to
            warm-start from; the built-in portfolio is used either way.
        tune: Tune the best families (off: breadth search only, with the whole budget).
        ensemble: Try a greedy ensemble of the candidates.
        deadline: When the search and the refit must be done (every fit stops at
            it); default ``plan.budget_s`` from now. A caller that counts the budget
            from earlier (process start, the tool call) and keeps time for explain
            and export passes its own; the search then plans with the time left.

    Raises:
        TargetError, DataError, TrainingError: as :func:`tools.search.train.train`.
    """
    from tools.search.studies import tunable_families
    from tools.search.tune import TuningError
    from tools.search.tune import tune as run_tuning

    start = clock()
    run_deadline = deadline or Deadline(start + float(plan.budget_s), clock)
    budget = max(run_deadline.at_s - start, MIN_BUDGET_S)
    stop = should_stop or (lambda: False)
    notify = on_progress or (lambda progress: None)
    spec = resolve_metric(plan.metric, plan.task)
    tunable = [name for name in plan.models if name in tunable_families(plan.task)]

    share = BREADTH_SHARE if tune and tunable else 1.0
    breadth_plan = plan.model_copy(update={"budget_s": max(MIN_BUDGET_S, budget * share)})
    result = train(
        frame,
        breadth_plan,
        profile=profile,
        on_progress=on_progress,
        should_stop=stop,
        clock=clock,
        refit=False,
        deadline=run_deadline,
    )
    result.plan = plan
    profile = result.profile
    stopped = result.stopped
    oof: dict[str, np.ndarray] = dict(result.oof)
    templates: dict[str, Any] = dict(result.templates)
    fit_s: dict[str, float] = {
        r.family: r.fit_time_s / max(r.n_folds, 1) for r in result.leaderboard if r.status == "ok"
    }
    rows: list[CandidateResult] = list(result.leaderboard)
    tuned_configs: dict[str, dict[str, Any]] = {}
    trial_oofs: dict[str, list[np.ndarray]] = {}
    notes = list(result.notes)
    training_frame = rows_learned_from(frame, result)
    n_fold = _train_fold_rows(result)
    winner_stops = stops_at_deadline(result.best_family)
    exponent = None
    if len(result.y) > 2 * n_fold and result.best_family in templates and not stopped:
        # A sampled search: measure how the winner's fit time grows with rows instead of
        # assuming it is linear (a linear guess overstates boosting refits several times).
        exponent = rows_exponent(
            templates[result.best_family],
            training_frame,
            result.y,
            n_fold=n_fold,
            fold_s=fit_s[result.best_family],
            plan=plan,
            deadline=run_deadline,
            stops=winner_stops,
        )
        if exponent is not None:
            log.info("refit_exponent family=%s exponent=%.2f", result.best_family, exponent)

    def refit_s(keys: Sequence[str]) -> float:
        # The measured growth applies to families that stop at the deadline as the winner
        # does or not; the others are estimated as linear in rows.
        seconds = sum(
            fit_s.get(key, 0.0)
            * refit_ratio(
                len(result.y), n_fold, exponent if stops_at_deadline(key) == winner_stops else None
            )
            for key in keys
        )
        return seconds * ESTIMATE_SAFETY + 0.2

    def emit(kind: Any, message: str, candidate: CandidateResult | None = None) -> None:
        notify(TrainProgress(kind, candidate, clock() - start, budget, message))

    ranked_ok = [r.family for r in result.leaderboard if r.status == "ok"]
    to_tune = [name for name in ranked_ok if name in tunable][:TUNE_TOP]
    reserve = min(refit_s(ranked_ok[:3]), 0.3 * budget)
    tune_budget = (run_deadline.left_s() - reserve - 1.5) / 1.1
    if tune and to_tune and not stopped and not stop() and tune_budget >= MIN_TUNE_S:
        try:
            tuned = run_tuning(
                frame,
                plan,
                storage=storage,
                study_key=study_key,
                families=to_tune,
                budget_s=tune_budget,
                warm_start=_warm_starts(profile, to_tune, plan.task, history),
                profile=profile,
                # The search rows (not only the validated ones): with a holdout or a
                # time split, tuning then validates on the same rows as the breadth search.
                rows=result.search_rows if len(result.search_rows) else result.oof_rows,
                on_trial=on_trial,
                should_stop=stop,
                clock=clock,
                refit=False,
                target_transforms=result.target_transforms,
                class_weight=None if result.class_weight == "none" else result.class_weight,
                deadline=run_deadline.sooner(reserve),
            )
        except TuningError as exc:
            log.info("automl_tuning_skipped reason=%s", exc)
        else:
            stopped = stopped or tuned.stopped
            if _aligned(tuned, result):
                for row in _tuned_rows(tuned, spec, result):
                    rows.append(row)
                    emit(
                        "candidate_finished",
                        f"{candidate_label(row.family)}: {spec.label} {row.score:.4g}",
                        row,
                    )
                for candidate in tuned.candidates:
                    trial_oofs.setdefault(candidate.family + TUNED_SUFFIX, []).append(candidate.oof)
                for candidate in _best_per_family(tuned.candidates, spec):
                    key = candidate.family + TUNED_SUFFIX
                    oof[key] = candidate.oof
                    fit_s[key] = candidate.fit_s_per_fold
                    template = templates.get(candidate.family) or TabularModel(
                        candidate.family,
                        plan.task,
                        _columns(result),
                        derived=tuple(getattr(result.model, "derived", ())),
                        **result.model_options(candidate.family),
                    )
                    templates[key] = clone(template).set_params(params=dict(candidate.params))
                    tuned_configs[candidate.family] = dict(candidate.trial_params)
                n_done = tuned.n_trials
                notes.append(
                    f"Tuning tried {n_done} configuration(s) of "
                    f"{', '.join(MODEL_FAMILIES[f].label for f in to_tune)}."
                )
            else:
                log.warning("automl_tuning_misaligned")

    singles = {r.family: r.score for r in rows if r.status == "ok" and r.family in oof}
    best_key = max(singles, key=lambda key: rank_value(spec, singles[key]))
    selection: EnsembleSelection | None = None
    ensemble_score = math.nan
    ensemble_folds: list[float] = []
    if ensemble and len(oof) >= 2:
        selection = select_ensemble(
            {key: oof[key] for key in singles},
            result.oof_y,
            spec=spec,
            classes=result.classes,
        )
        ensemble_folds = _fold_scores(result, _blend(selection, oof))
        ensemble_score = float(np.mean(ensemble_folds)) if ensemble_folds else math.nan
        if not ensemble_is_worth_it(selection, ensemble_score, singles[best_key], spec):
            selection = None

    model, winner, refit_rows = final_model(
        training_frame,
        result,
        best_key=best_key,
        selection=selection,
        templates=templates,
        deadline=run_deadline,
        stopped=stopped,
        refit_s=refit_s,
        emit=emit,
        notes=notes,
    )
    if winner == ENSEMBLE_KEY and selection is not None:
        oof[ENSEMBLE_KEY] = _blend(selection, oof)
        members = ", ".join(
            f"{candidate_label(key)} {w:.0%}"
            for key, w in sorted(selection.weights.items(), key=lambda kv: -kv[1])
        )
        row = CandidateResult(
            family=ENSEMBLE_KEY,
            score=ensemble_score,
            std=_std(ensemble_folds),
            fit_time_s=sum(fit_s.get(k, 0.0) for k in selection.weights),
            status="ok",
            message=f"weighted average of {members}",
            params={key: round(w, 4) for key, w in selection.weights.items()},
            n_folds=max((r.n_folds for r in rows if r.status == "ok"), default=0),
        )
        rows.append(row)
        emit("candidate_finished", f"Ensemble: {spec.label} {row.score:.4g}", row)
    model.target_ = plan.target

    leaderboard = rank_candidates(rows, spec)
    cv_metrics, threshold = winner_metrics(
        model,
        oof[winner],
        result.oof_y,
        task=plan.task,
        spec=spec,
        classes=result.classes,
        notes=notes,
        folds=result.oof_folds,
    )
    final = replace(
        result,
        plan=plan,
        leaderboard=leaderboard,
        best_family=winner,
        model=model,
        oof=oof,
        cv_metrics=cv_metrics,
        elapsed_s=clock() - start,
        stopped=stopped,
        refit_rows=refit_rows,
        model_source="refit"
        if refit_rows > result.refit_rows or refit_rows == len(result.y)
        else result.model_source,
        notes=notes,
        tuned_configs=tuned_configs,
        templates=templates,
        target_transform=_final_transform(model),
        threshold=threshold,
    )
    estimate = expected_metrics(
        CandidatePool(
            singles={k: v for k, v in oof.items() if k in singles and k not in trial_oofs},
            trials=trial_oofs,
        ),
        result.oof_y.to_numpy(),
        result.oof_folds,
        _choice(result, ensemble=ensemble),
        seed=plan.seed,
    )
    if estimate is not None:
        final.expected_metrics = estimate.metrics
        final.estimate_method = estimate.method
    winner_row = next(r for r in leaderboard if r.family == winner)
    emit("finished", f"Best: {candidate_label(winner)}, {spec.label} {winner_row.score:.4g}.")
    log.info(
        "automl_finished best=%s elapsed_s=%.2f budget_s=%g stopped=%s",
        winner,
        final.elapsed_s,
        budget,
        stopped,
    )
    return final


# --- pieces --------------------------------------------------------------------------


def _final_transform(model: Any) -> str:
    """The final model's target transform; "per member" when an ensemble's members differ."""
    members = getattr(model, "members_", None) or [model]
    found = {getattr(m, "target_transform", None) or "none" for m in members}
    return found.pop() if len(found) == 1 else "per member"


def _choice(result: TrainResult, ensemble: bool) -> Choice:
    plan = result.plan
    return Choice(resolve_metric(plan.metric, plan.task), plan.task, result.classes, ensemble)


def _fold_scores(result: TrainResult, predictions: np.ndarray) -> list[float]:
    """Per-fold metric values of out-of-fold ``predictions``, as single candidates are scored."""
    return fold_scores(
        predictions, result.oof_y.to_numpy(), result.oof_folds, _choice(result, ensemble=False)
    )


def _blend(selection: EnsembleSelection, oof: Mapping[str, np.ndarray]) -> np.ndarray:
    return sum(w * np.asarray(oof[key], dtype=np.float64) for key, w in selection.weights.items())  # type: ignore[return-value]


def _std(values: Sequence[float]) -> float:
    return float(np.std(values)) if values else math.nan


def _columns(result: TrainResult) -> tuple[tuple[str, str], ...]:
    return tuple(getattr(result.model, "columns", ()))


def _train_fold_rows(result: TrainResult) -> int:
    """How many rows each cross-validation model was fit on."""
    n_valid = max(len(result.oof_rows), 1)
    folds = max((r.n_folds for r in result.leaderboard if r.status == "ok"), default=1)
    if folds >= 2:
        return max(round(n_valid * (folds - 1) / folds), 1)
    fraction = result.plan.holdout_fraction
    return max(round(n_valid * (1 - fraction) / fraction), 1)


def _warm_starts(
    profile: Any, families: Sequence[str], task: str, history: Any | None
) -> dict[str, list[dict[str, Any]]]:
    from tools.warmstart import warm_start_configs

    meta = getattr(profile, "meta_features", None) or {}
    return {
        family: list(warm_start_configs(meta, family, task=task, store=history))
        for family in families
    }


def _aligned(tuned: Any, result: TrainResult) -> bool:
    return len(tuned.y) == len(result.y) and np.array_equal(tuned.oof_rows, result.oof_rows)


def _best_per_family(candidates: Sequence[Any], spec: Any) -> list[Any]:
    best: dict[str, Any] = {}
    for candidate in candidates:
        held = best.get(candidate.family)
        if held is None or rank_value(spec, candidate.score) > rank_value(spec, held.score):
            best[candidate.family] = candidate
    return list(best.values())


def _n_folds(result: TrainResult) -> int:
    return max((r.n_folds for r in result.leaderboard if r.status == "ok"), default=0)


def _tuned_rows(tuned: Any, spec: Any, result: TrainResult) -> list[CandidateResult]:
    rows = []
    for candidate in _best_per_family(tuned.candidates, spec):
        folds = _fold_scores(result, candidate.oof)
        rows.append(
            CandidateResult(
                family=candidate.family + TUNED_SUFFIX,
                score=candidate.score,
                std=_std(folds),
                fit_time_s=candidate.fit_s_per_fold * max(len(folds), 1),
                status="ok",
                message=f"tuning trial {candidate.number + 1}",
                params=dict(candidate.params),
                n_folds=len(folds) or _n_folds(result),
            )
        )
    return rows
