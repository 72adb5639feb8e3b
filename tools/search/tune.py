"""Optuna tuning of model families within a wall-clock budget, in persistent studies.

:func:`tune` runs one Optuna study per family (named ``"{study_key}.{family}"``)
in the storage the caller names, so a second call with the same key continues
the same studies ("tune it for 2 more minutes") and several processes given
the same key and storage share them. Families take turns, one trial each.

Each trial cross-validates one configuration from the family's search space
(:mod:`tools.models`) on the same folds :func:`tools.search.train.train` uses, reports
the running mean score after every fold (``trial.report(score, fold)``) and
is pruned when a :class:`optuna.pruners.MedianPruner` calls it hopeless, or
abandoned between folds when the rest would not fit in the budget. Scores are
stored higher-is-better (:meth:`MetricSpec.to_score`); results are reported in
the metric's natural units.

Storage (:func:`open_storage`):

* a file path (``Path`` or a string without ``://``): an Optuna
  ``JournalStorage`` on a ``JournalFileBackend``. It appends to one log file
  under a file lock, so several processes on one machine can write the same
  study safely; Optuna's SQLite RDB storage fails there with
  "database is locked" under concurrent writers.
* a database URL (``sqlite:///...``, ``postgresql://...``): Optuna's
  ``RDBStorage``; PostgreSQL lets workers on many machines share one study
  (``postgresql://`` is read with psycopg2).

Hard cases: every model is built with the run's target transform per family
(``target_transforms``, e.g. ``TrainResult.target_transforms``; resolved as
:func:`tools.search.train.train` does when omitted) and class weighting. When the
smallest class is rare (< 10 % of rows), ``plan.class_weight`` is "auto" and
the metric is not log loss, ``class_weight`` ("none" / "balanced") joins the
search space of families that can weight classes. A binary F1 run's refit
model gets the F1-best decision threshold of the best trial's out-of-fold
probabilities (``threshold_``).

Warm starts: configurations passed in ``warm_start`` (trial parameters, as
:func:`tools.warmstart.warm_start_configs` returns them) are enqueued first,
skipping any the study already holds.

Total wall time stays within about ``1.1 x budget_s + 2 s``: the refit of the
best configuration is reserved from the budget, a trial starts only if its
family's slowest measured trial fits the time left, and trials are checked
between folds. Until some configuration has a score, the first trial may run
into the slack (to ``1.1 x budget_s + 1.5 s``); if it cannot finish by then,
:class:`TuningError` says so. Starting from a portfolio configuration (see
:mod:`tools.warmstart`) keeps that first trial moderate.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from tools.deadline import ESTIMATE_SAFETY, Deadline
from tools.errors import PlanError, UserFacingError
from tools.imbalance import (
    supports_class_weight,
)
from tools.models.estimator import TabularModel
from tools.models.families import MODEL_FAMILIES
from tools.plan import Plan
from tools.search.cv import prepare
from tools.search.cv import splits as cv_splits
from tools.search.refit import Fallback, refit_final
from tools.search.studies import (
    _families,
    _natural,
    _space,
    _study_best,
    open_storage,
    trial_to_params,
)
from tools.search.trials import (
    TrialCandidate,
    _best_candidate,
    _candidate,
    _class_weighting,
    _Evaluator,
    _set_threshold,
    _target_transforms,
    refit_template,
)
from tools.search.winner import rank_value

log = logging.getLogger(__name__)

"""Multiplier on time estimates before comparing them with the time left."""

KEEP_CANDIDATES = 10
"""Out-of-fold predictions kept for the best this many trials (for ensembling)."""

TrialState = Literal["complete", "pruned", "failed"]


class TuningError(UserFacingError):
    """No configuration could be evaluated within the budget."""


@dataclass(frozen=True, slots=True)
class TrialReport:
    """One finished trial, for a progress callback."""

    family: str
    number: int
    """The trial's number in its family's study (continues across calls)."""
    params: dict[str, Any]
    """The trial's parameters as Optuna suggested them."""
    state: TrialState
    score: float
    """Mean fold score in the metric's natural units (NaN unless complete)."""
    best_score: float
    """Best score so far over all the families' studies (natural units; NaN if none)."""
    best_family: str | None
    elapsed_s: float
    time_left_s: float
    message: str = ""
    """Why a trial was pruned or failed."""


@dataclass
class TuneResult:
    """What tuning found.

    ``best_*`` describe the best completed trial over every call that used
    these studies (``best_trial_params`` are the study's; ``best_params`` the
    estimator's). ``candidates`` hold the best trials evaluated in *this* call
    with their out-of-fold predictions, best first; the study's best is among
    them whenever it could be (re-)evaluated in this call's budget.
    """

    best_family: str
    best_params: dict[str, Any]
    best_trial_params: dict[str, Any]
    best_score: float
    best_number: int
    n_trials: int
    """Trials this call finished (complete, pruned or failed)."""
    n_complete: int
    """Complete trials this call finished."""
    n_trials_total: int
    """Trials in the studies after this call, from every call and worker."""
    study_names: dict[str, str]
    candidates: list[TrialCandidate]
    oof_rows: np.ndarray
    classes: np.ndarray | None
    y: pd.Series
    """The target (positional index) the out-of-fold predictions belong to."""
    model: TabularModel | None
    """The best configuration refit on all rows; None when refit was off or out of time."""
    elapsed_s: float
    stopped: bool
    metric: str
    notes: list[str] = field(default_factory=list)
    oof_folds: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """The validation fold (0, 1, ...) of each row of the candidates' ``oof`` arrays."""

    @property
    def oof(self) -> np.ndarray | None:
        """Out-of-fold predictions of the best trial, when it was evaluated in this call."""
        for candidate in self.candidates:
            if candidate.family == self.best_family and candidate.number == self.best_number:
                return candidate.oof
        return None


def tune(
    frame: pd.DataFrame,
    plan: Plan,
    *,
    storage: str | Path | None,
    study_key: str,
    families: Sequence[str] | None = None,
    budget_s: float | None = None,
    n_trials: int | None = None,
    warm_start: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    profile: Any | None = None,
    rows: np.ndarray | None = None,
    on_trial: Callable[[TrialReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
    refit: bool = True,
    worker: int = 0,
    keep_candidates: int = KEEP_CANDIDATES,
    target_transforms: Mapping[str, str] | str | None = None,
    class_weight: str | None = None,
    deadline: Deadline | None = None,
) -> TuneResult:
    """Tune ``families`` with Optuna within ``budget_s`` and refit the best configuration.

    Args:
        frame: The table, original columns, including the target.
        plan: Target, task, metric, validation and seed (its models are the
            default families, its budget the default budget).
        storage: Where studies live: a journal file path or an RDB URL (see
            :func:`open_storage`); None keeps them in memory for this call only.
        study_key: Names the studies (``"{study_key}.{family}"``); the same key
            continues the same studies.
        families: Families to tune; default: the plan's models that have a
            search space.
        budget_s: Wall-clock seconds for tuning and the refit; default the plan's.
        n_trials: Stop after this many trials in this call (any state).
        warm_start: Per family, trial parameters to try first.
        profile: The table's profile for ``plan.target``; computed when omitted.
        rows: Positional rows (after rows with a missing target are dropped) to
            cross-validate on; default all. Pass ``TrainResult.oof_rows`` so the
            out-of-fold predictions line up with training's.
        on_trial: Called with a :class:`TrialReport` after each trial.
        should_stop: Polled between folds; True ends tuning and keeps what is done.
        clock: Monotonic seconds; the budget is measured with it.
        refit: Refit the best configuration on all rows (if time allows).
        worker: Distinguishes concurrent workers on one study (sampler seeds).
        keep_candidates: Keep out-of-fold predictions for this many best trials.
        target_transforms: Regression target transform per family (a mapping, as
            ``TrainResult.target_transforms``) or for all (``"none"``, ``"log"``,
            ``"quantile"``); default: chosen from ``plan.target_transform`` like
            training does (a quick comparison on a skewed target).
        class_weight: ``"balanced"`` or ``"none"`` for every trial; default: from
            ``plan.class_weight`` ("auto" searches it on imbalanced classes).
        deadline: When every fit must stop, keeping what it learned; default
            ``1.1 x budget_s + 1.5 s`` from now (the first trial's slack).

    Raises:
        PlanError: a family is unknown, has no search space or does not fit the task.
        TuningError: no trial completed and the studies hold no earlier result.
    """
    import optuna

    from tools.metrics import fold_numbers, resolve_metric

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = clock()
    budget = float(plan.budget_s if budget_s is None else budget_s)
    hard = deadline or Deadline(start + 1.1 * budget + 1.5, clock)
    search = hard.earlier(Deadline(start + budget, clock))
    """When new trials stop starting: the tuning budget, or the caller's deadline if sooner."""
    stop = should_stop or (lambda: False)
    notes: list[str] = []
    task = plan.task
    names = _families(families, plan)
    spec = resolve_metric(plan.metric, task)

    data = prepare(frame, plan, profile=profile, notes=[])
    table, y, classes, profile = data.table, data.y, data.classes, data.profile
    features, columns, derived = data.features, data.columns, data.derived
    X = table.loc[:, features]
    rows = np.arange(len(y)) if rows is None else np.sort(np.asarray(rows, dtype=np.int64))
    time_values = table[plan.time_column] if plan.time_column in table.columns else None
    splits = [(s.train, s.valid) for s in cv_splits(time_values, y, rows, plan, [])]
    oof_rows = np.sort(np.concatenate([valid for _, valid in splits]))
    n_train_fold = int(np.mean([len(train) for train, _ in splits]))
    transforms = _target_transforms(
        target_transforms, X, y, splits, plan, names, profile, columns, spec, clock, notes
    )
    weighting, search_weight = _class_weighting(class_weight, plan, y, spec.name)
    evaluator = _Evaluator(
        X,
        y,
        splits,
        oof_rows,
        columns,
        task,
        classes,
        spec,
        plan.seed,
        derived=derived,
        transforms=transforms,
        class_weight=weighting,
    )

    optuna_storage = open_storage(storage)
    studies: dict[str, Any] = {}
    for name in names:
        study = optuna.create_study(
            storage=optuna_storage,
            study_name=f"{study_key}.{name}",
            direction="maximize",
            load_if_exists=True,
        )
        seed = plan.seed + 7919 * worker + 104_729 * len(study.trials)
        study.sampler = optuna.samplers.TPESampler(seed=seed % (2**31))
        study.pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
        tuned_for = study.user_attrs.get("metric")
        if tuned_for not in (None, spec.name) and study.trials:
            raise PlanError(
                f"The study “{study.study_name}” holds {tuned_for} scores, not {spec.label}; "
                "tune under a new key to change the metric."
            )
        study.set_user_attr("metric", spec.name)
        for params in (warm_start or {}).get(name, ()):
            study.enqueue_trial(dict(params), skip_if_exists=True)
        studies[name] = study

    candidates: list[TrialCandidate] = []
    fold_s: dict[str, list[float]] = {name: [] for name in names}
    n_done = n_complete = 0
    stopped = False

    def elapsed() -> float:
        return clock() - start

    def reserve() -> float:
        best = _best_candidate(candidates)
        if not refit or best is None:
            return 0.0
        return best.fit_s_per_fold * len(y) / max(n_train_fold, 1) * ESTIMATE_SAFETY + 0.2

    # A continued study: re-evaluate its best configuration first, so the refit model
    # and the ensemble have its out-of-fold predictions.
    previous = _study_best(studies)
    if previous is not None:
        name, trial = previous
        outcome = evaluator.run(
            name, trial_to_params(name, trial.params), clock, search, stop, hard=hard
        )
        if outcome.score is not None:
            candidates.append(
                _candidate(name, trial.number, trial.params, outcome, spec, evaluator)
            )
            fold_s[name].append(outcome.fit_s_per_fold)

    turn = 0
    exhausted: set[str] = set()
    while len(exhausted) < len(names):
        if n_trials is not None and n_done >= n_trials:
            break
        if stop():
            stopped = True
            break
        name = names[turn % len(names)]
        turn += 1
        if name in exhausted:
            continue
        left = search.left_s()
        folds_s = fold_s[name]
        guess = max(folds_s) * len(splits) * ESTIMATE_SAFETY if folds_s else 0.0
        if left - reserve() <= max(guess, 0.05 * budget) and (candidates or n_done):
            exhausted.add(name)
            continue
        study = studies[name]
        trial = study.ask()
        trial.set_user_attr("worker", worker)
        try:
            params = _space(name)(trial)
            if search_weight and supports_class_weight(name, task):
                params["class_weight"] = trial.suggest_categorical(
                    "class_weight", ["none", "balanced"]
                )
        except Exception as exc:  # a bad enqueued configuration must not end tuning
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            log.warning("trial_params_failed family=%s error=%s", name, type(exc).__name__)
            continue

        def on_fold(fold: int, running: float, trial: Any = trial) -> str:
            trial.report(running, fold)
            if trial.should_prune():
                return "pruned by the median rule"
            return ""

        # Until some configuration has a score, the running trial may use the budget's
        # slack (up to 1.1 x budget + 1.5 s, refit not reserved): a result beats none.
        must_finish = not candidates and _study_best(studies) is None
        outcome = evaluator.run(
            name,
            params,
            clock,
            hard if must_finish else search.sooner(reserve()),
            stop,
            on_fold=on_fold,
            hard=hard,
        )
        n_done += 1
        message = outcome.message
        if outcome.score is not None:
            study.tell(trial, spec.to_score(outcome.score))
            n_complete += 1
            fold_s[name].append(outcome.fit_s_per_fold)
            candidates.append(
                _candidate(name, trial.number, trial.params, outcome, spec, evaluator)
            )
            candidates.sort(key=lambda c: -rank_value(spec, c.score))
            del candidates[max(keep_candidates, 1) :]
            state: TrialState = "complete"
        elif outcome.failed:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            state = "failed"
        else:
            if outcome.fit_s_per_fold > 0:
                fold_s[name].append(outcome.fit_s_per_fold)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            state = "pruned"
        if outcome.stopped:
            stopped = True
        best = _study_best(studies)
        report = TrialReport(
            family=name,
            number=trial.number,
            params=dict(trial.params),
            state=state,
            score=outcome.score if outcome.score is not None else math.nan,
            best_score=_natural(spec, best[1].value) if best else math.nan,
            best_family=best[0] if best else None,
            elapsed_s=elapsed(),
            time_left_s=max(search.left_s(), 0.0),
            message=message,
        )
        log.info(
            "trial family=%s number=%d state=%s score=%.5g",
            name,
            trial.number,
            state,
            report.score,
        )
        if on_trial is not None:
            on_trial(report)
        if stopped:
            break

    best = _study_best(studies)
    if best is None:
        raise TuningError(
            f"No configuration finished cross-validation in {budget:g} s; "
            "give tuning more time or pick cheaper models."
        )
    best_family, best_trial = best
    best_params = trial_to_params(best_family, best_trial.params)
    model = None
    if refit:
        template, estimate = refit_template(
            best_family,
            best_params,
            candidates,
            columns=columns,
            task=task,
            seed=plan.seed,
            n_rows=len(y),
            n_train_fold=n_train_fold,
            derived=derived,
            options=evaluator.options(best_family),
        )
        model = refit_final(
            [template],
            X,
            y,
            label=f"The best {MODEL_FAMILIES[best_family].label} configuration",
            estimate_s=estimate,
            plan=plan,
            deadline=hard,
            stopped=False,
            fallback=Fallback(None, "fold", n_train_fold, "the current model is kept."),
            partial=False,
            emit=lambda *_: None,
            notes=notes,
        ).model
        if model is not None:
            model.target_ = plan.target
            _set_threshold(model, best_family, best_trial.number, candidates, y, oof_rows, spec)
    total = sum(len(study.trials) for study in studies.values())
    log.info(
        "tune_finished key=%s trials=%d complete=%d elapsed_s=%.2f budget_s=%g",
        study_key,
        n_done,
        n_complete,
        elapsed(),
        budget,
    )
    return TuneResult(
        best_family=best_family,
        best_params=best_params,
        best_trial_params=dict(best_trial.params),
        best_score=_natural(spec, best_trial.value),
        best_number=best_trial.number,
        n_trials=n_done,
        n_complete=n_complete,
        n_trials_total=total,
        study_names={name: study.study_name for name, study in studies.items()},
        candidates=candidates,
        oof_rows=oof_rows,
        classes=classes,
        y=y,
        model=model,
        elapsed_s=elapsed(),
        stopped=stopped,
        metric=spec.name,
        notes=notes,
        oof_folds=fold_numbers([valid for _, valid in splits], oof_rows),
    )
