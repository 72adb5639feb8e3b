"""Optuna tuning of model families within a wall-clock budget, in persistent studies.

:func:`tune` runs one Optuna study per family (named ``"{study_key}.{family}"``)
in the storage the caller names, so a second call with the same key continues
the same studies ("tune it for 2 more minutes") and several processes given
the same key and storage share them. Families take turns, one trial each.

Each trial cross-validates one configuration from the family's search space
(:mod:`tools.models`) on the same folds :func:`tools.train.train` uses, reports
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
:func:`tools.train.train` does when omitted) and class weighting. When the
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
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from tools.deadline import ESTIMATE_SAFETY, Deadline
from tools.errors import PlanError, UserFacingError
from tools.features import derived_columns
from tools.imbalance import (
    IMBALANCED_SHARE,
    f1_threshold,
    minority_share,
    supports_class_weight,
)
from tools.models.estimator import TabularModel
from tools.models.families import MODEL_FAMILIES
from tools.models.kinds import CLASSIFICATION, USED_KINDS
from tools.models.preprocessing import column_kinds
from tools.plan import Plan
from tools.target_transform import TRANSFORM_SHARE, choose_target_transforms, transforms_by_family

log = logging.getLogger(__name__)

"""Multiplier on time estimates before comparing them with the time left."""
KEEP_CANDIDATES = 10
"""Out-of-fold predictions kept for the best this many trials (for ensembling)."""

_SCHEMA_ATTEMPTS = 5

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


@dataclass(frozen=True, slots=True)
class TrialCandidate:
    """A completed trial with its out-of-fold predictions (an ensemble candidate)."""

    key: str
    """``"{family}#{number}"``."""
    family: str
    number: int
    params: dict[str, Any]
    """Estimator parameters (pass to ``TabularModel(params=...)``)."""
    trial_params: dict[str, Any]
    """Parameters as the study stores them (use for warm starts)."""
    score: float
    """Natural units."""
    oof: np.ndarray
    """Probabilities (``len(oof_rows) x len(classes)``) or predictions, as in ``TrainResult.oof``."""
    fit_s_per_fold: float


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


def open_storage(storage: str | Path | None) -> Any:
    """An Optuna storage for a file path (journal file) or a database URL (RDB).

    Args:
        storage: ``Path``/plain path -> ``JournalStorage`` (safe for several
            processes on one machine); ``sqlite:///...`` or ``postgresql://...``
            -> ``RDBStorage`` (PostgreSQL for workers on several machines);
            None -> an in-memory storage that ends with the process.
    """
    import optuna
    import sqlalchemy.exc
    from optuna.storages.journal import JournalFileBackend

    if storage is None:
        return optuna.storages.InMemoryStorage()
    text = str(storage)
    if isinstance(storage, Path) or "://" not in text:
        path = Path(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    url = text
    engine_kwargs: dict[str, Any] = {}
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]
        engine_kwargs = {"pool_pre_ping": True}
    elif url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 30}}
    for attempt in range(_SCHEMA_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except sqlalchemy.exc.DBAPIError:
            # Workers starting together race to create Optuna's tables; the loser retries
            # and finds them made.
            if attempt == _SCHEMA_ATTEMPTS - 1:
                raise
            log.info("storage_schema_race attempt=%d", attempt + 1)
    raise AssertionError("unreachable")


def tuning_storage(url: str | None, data_dir: Path) -> str | Path:
    """The storage to tune in: ``url`` when set (e.g. ``MLCHAT_TUNING_STORAGE``), else
    the journal file ``data_dir / "optuna" / "studies.journal"``."""
    if url and url.strip():
        return url.strip()
    return Path(data_dir) / "optuna" / "studies.journal"


def trial_to_params(family: str, trial_params: Mapping[str, Any]) -> dict[str, Any]:
    """Estimator parameters for a family from parameters as a study stores them."""
    import optuna

    space = _space(family)
    params = dict(space(optuna.trial.FixedTrial(dict(trial_params))))
    if trial_params.get("class_weight") is not None:  # the imbalance entry of the space
        params["class_weight"] = trial_params["class_weight"]
    return params


def tunable_families(task: str) -> list[str]:
    """Families with a search space that handle ``task``, cheapest first."""
    return [
        name
        for name, spec in sorted(MODEL_FAMILIES.items(), key=lambda kv: (kv[1].cost_rank, kv[0]))
        if spec.search_space is not None and spec.supports(task)
    ]


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

    from tools.analyze import prepare_target, profile_table
    from tools.classes import class_order
    from tools.metrics import fold_numbers, resolve_metric

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = clock()
    budget = float(plan.budget_s if budget_s is None else budget_s)
    hard = deadline or Deadline(start + 1.1 * budget + 1.5, clock)
    deadline_s = min(start + budget, hard.at_s)
    stop = should_stop or (lambda: False)
    notes: list[str] = []
    task = plan.task
    names = _families(families, plan)
    spec = resolve_metric(plan.metric, task)

    table, _ = prepare_target(frame, plan.target)
    if profile is None or profile.target != plan.target:
        profile = profile_table(table, target=plan.target, seed=plan.seed)
    table = table.reset_index(drop=True)
    features = _features(profile, plan)
    columns = column_kinds(profile, features) + derived_columns(plan.derived_features)
    derived = tuple((f.name, f.expression) for f in plan.derived_features)
    y = table[plan.target]
    if task in CLASSIFICATION:
        classes: np.ndarray | None = class_order(y, task=task, positive=plan.positive_class)
    else:
        y = pd.Series(pd.to_numeric(y, errors="coerce"), name=plan.target).astype(np.float64)
        classes = None
    X = table.loc[:, features]
    rows = np.arange(len(y)) if rows is None else np.sort(np.asarray(rows, dtype=np.int64))
    splits = _splits(table, y, rows, plan)
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
            name, trial_to_params(name, trial.params), clock, deadline_s, stop, hard=hard
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
        left = deadline_s - clock()
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
            hard.at_s if must_finish else deadline_s - reserve(),
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
            candidates.sort(key=lambda c: -spec.to_score(c.score))
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
            time_left_s=max(deadline_s - clock(), 0.0),
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
        model = _refit(
            best_family,
            best_params,
            candidates,
            X,
            y,
            columns=columns,
            task=task,
            seed=plan.seed,
            left=deadline_s - clock(),
            fit_deadline=hard,
            n_train_fold=n_train_fold,
            notes=notes,
            derived=derived,
            options=evaluator.options(best_family),
        )
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


# --- pieces --------------------------------------------------------------------------


def _space(family: str) -> Callable[[Any], dict[str, Any]]:
    spec = MODEL_FAMILIES.get(family)
    if spec is None:
        raise PlanError(f"Unknown model family “{family}”. Known: {', '.join(MODEL_FAMILIES)}.")
    if spec.search_space is None:
        raise PlanError(f"{spec.label} has no parameters to tune.")
    return spec.search_space


def _families(families: Sequence[str] | None, plan: Plan) -> list[str]:
    if families is None:
        chosen = [name for name in plan.models if name in tunable_families(plan.task)]
        if not chosen:
            raise PlanError(
                "None of the plan's models has parameters to tune; "
                f"tunable models for this task: {', '.join(tunable_families(plan.task))}."
            )
        return chosen
    for name in families:
        _space(name)
        if not MODEL_FAMILIES[name].supports(plan.task):
            raise PlanError(f"{MODEL_FAMILIES[name].label} cannot be used for {plan.task} tasks.")
    if not families:
        raise PlanError("Name at least one model family to tune.")
    return list(dict.fromkeys(families))


def _features(profile: Any, plan: Plan) -> list[str]:
    excluded = {plan.target, *plan.drop_columns}
    features = [
        name
        for name in profile.feature_columns()
        if name not in excluded and profile.column(name).kind in USED_KINDS
    ]
    if not features:
        raise PlanError("No usable feature columns are left to tune on.")
    return features


def _splits(
    table: pd.DataFrame, y: pd.Series, rows: np.ndarray, plan: Plan
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds :func:`tools.train.train` uses for the same rows and plan."""
    y_rows = y.iloc[rows]
    is_classification = plan.task in CLASSIFICATION
    if plan.validation == "time_split":
        if plan.time_column in table.columns:
            when = pd.to_datetime(table[plan.time_column].iloc[rows], errors="coerce", utc=True)
            order = np.argsort(when.to_numpy(), kind="stable")
        else:
            order = np.arange(len(rows))
        ordered = rows[order]
        cut = min(max(round(len(ordered) * (1 - plan.holdout_fraction)), 1), len(ordered) - 1)
        return [(np.sort(ordered[:cut]), np.sort(ordered[cut:]))]
    if plan.validation == "holdout":
        stratify = y_rows if is_classification and y_rows.value_counts().min() >= 2 else None
        train_rows, valid_rows = train_test_split(
            rows, test_size=plan.holdout_fraction, random_state=plan.seed, stratify=stratify
        )
        return [(np.sort(train_rows), np.sort(valid_rows))]
    folds = min(plan.folds, len(rows))
    if plan.validation == "stratified_kfold" and is_classification:
        folds = max(min(folds, int(y_rows.value_counts().min())), 2)
        splitter: Any = StratifiedKFold(n_splits=folds, shuffle=True, random_state=plan.seed)
        parts = splitter.split(np.zeros(len(rows)), y_rows.to_numpy())
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=plan.seed)
        parts = splitter.split(np.zeros(len(rows)))
    return [(rows[train], rows[valid]) for train, valid in parts]


@dataclass
class _Outcome:
    score: float | None
    """Mean fold score (natural units) when every fold finished; else None."""
    oof: np.ndarray
    fit_s_per_fold: float
    message: str = ""
    failed: bool = False
    stopped: bool = False


@dataclass
class _Evaluator:
    X: pd.DataFrame
    y: pd.Series
    splits: list[tuple[np.ndarray, np.ndarray]]
    oof_rows: np.ndarray
    columns: tuple[tuple[str, str], ...]
    task: str
    classes: np.ndarray | None
    spec: Any
    seed: int
    derived: tuple[tuple[str, str], ...] = ()
    transforms: Mapping[str, str] = field(default_factory=dict)
    class_weight: str | None = None

    def options(self, family: str) -> dict[str, Any]:
        """Target transform and class weighting of ``family``'s models."""
        return {
            "target_transform": self.transforms.get(family, "none"),
            "class_weight": self.class_weight,
            "positive_class": str(self.classes[-1]) if self.task == "binary" else None,  # type: ignore[index]
        }

    def run(
        self,
        family: str,
        params: Mapping[str, Any],
        clock: Callable[[], float],
        deadline: float,
        stop: Callable[[], bool],
        *,
        on_fold: Callable[[int, float], str] | None = None,
        reserve: float = 0.0,
        hard: Deadline | None = None,
    ) -> _Outcome:
        classes = self.classes
        n = len(self.oof_rows)
        oof = np.full((n, len(classes)), np.nan) if classes is not None else np.full(n, np.nan)
        slot = np.searchsorted(self.oof_rows, np.arange(len(self.y)))
        index = {label: i for i, label in enumerate(classes)} if classes is not None else {}
        scores: list[float] = []
        started = clock()
        fit_times: list[float] = []
        fit_deadline = Deadline(deadline, clock).earlier(hard)

        def outcome(message: str, *, failed: bool = False, stopped: bool = False) -> _Outcome:
            per_fold = float(np.mean(fit_times)) if fit_times else 0.0
            return _Outcome(None, oof, per_fold, message, failed, stopped)

        for number, (train, valid) in enumerate(self.splits):
            fold_start = clock()
            try:
                model = TabularModel(
                    family,
                    self.task,  # type: ignore[arg-type]
                    self.columns,
                    params=dict(params),
                    seed=self.seed,
                    n_jobs=1,
                    derived=self.derived,
                    **self.options(family),
                )
                model.fit(self.X.iloc[train], self.y.iloc[train], deadline=fit_deadline)
                X_valid, y_valid = self.X.iloc[valid], self.y.iloc[valid]
                if classes is not None:
                    proba = np.zeros((len(valid), len(classes)))
                    proba[:, [index[label] for label in model.classes_]] = model.predict_proba(
                        X_valid
                    )
                    oof[slot[valid]] = proba
                    y_pred = classes[np.argmax(proba, axis=1)]
                    score = self.spec.compute(y_valid, y_pred, proba, classes=classes)
                else:
                    proba = None
                    y_pred = model.predict(X_valid)
                    oof[slot[valid]] = y_pred
                    score = self.spec.compute(y_valid, y_pred, None, classes=None)
            except Exception as exc:  # a configuration's failure is a failed trial, not a crash
                log.warning("trial_failed family=%s fold=%d", family, number, exc_info=True)
                fit_times.append(clock() - fold_start)
                return outcome(f"{type(exc).__name__}: {str(exc)[:200]}", failed=True)
            fit_times.append(clock() - fold_start)
            scores.append(float(score))
            if not np.isfinite(scores[-1]):
                return outcome(f"{self.spec.label} is undefined on a fold.", failed=True)
            if number == len(self.splits) - 1:
                break
            if on_fold is not None:
                running = self.spec.to_score(float(np.mean(scores)))
                if message := on_fold(number, running):
                    return outcome(message)
            if stop():
                return outcome("stopped", stopped=True)
            per_fold = (clock() - started) / (number + 1)
            if clock() + per_fold * (len(self.splits) - number - 1) + reserve > deadline:
                return outcome("abandoned: the remaining folds would not fit in the budget")
        return _Outcome(float(np.mean(scores)), oof, float(np.mean(fit_times)))


def _candidate(
    family: str,
    number: int,
    trial_params: Mapping[str, Any],
    outcome: _Outcome,
    spec: Any,
    evaluator: _Evaluator,
) -> TrialCandidate:
    assert outcome.score is not None
    return TrialCandidate(
        key=f"{family}#{number}",
        family=family,
        number=number,
        params=trial_to_params(family, trial_params),
        trial_params=dict(trial_params),
        score=outcome.score,
        oof=outcome.oof,
        fit_s_per_fold=outcome.fit_s_per_fold,
    )


def _best_candidate(candidates: Sequence[TrialCandidate]) -> TrialCandidate | None:
    return candidates[0] if candidates else None


def _study_best(studies: Mapping[str, Any]) -> tuple[str, Any] | None:
    import optuna

    best: tuple[str, Any] | None = None
    for name, study in studies.items():
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        for trial in complete:
            if best is None or trial.value > best[1].value:
                best = (name, trial)
    return best


def _natural(spec: Any, value: float) -> float:
    return float(value if spec.greater_is_better else -value)


def _refit(
    family: str,
    params: dict[str, Any],
    candidates: Sequence[TrialCandidate],
    X: pd.DataFrame,
    y: pd.Series,
    *,
    columns: tuple[tuple[str, str], ...],
    task: str,
    seed: int,
    left: float,
    fit_deadline: Deadline,
    n_train_fold: int,
    notes: list[str],
    derived: tuple[tuple[str, str], ...] = (),
    options: Mapping[str, Any],
) -> TabularModel | None:
    timed = [c.fit_s_per_fold for c in candidates if c.family == family and c.params == params]
    if timed:
        needed = timed[0] * len(y) / max(n_train_fold, 1) * ESTIMATE_SAFETY
        if needed > left:
            notes.append(
                f"The best {MODEL_FAMILIES[family].label} configuration was not refit: "
                f"it needs about {needed:.0f} s and {max(left, 0):.0f} s were left."
            )
            return None
    model = TabularModel(
        family,
        task,  # type: ignore[arg-type]
        columns,
        params=params,
        seed=seed,
        n_jobs=1,
        derived=derived,
        **options,
    )
    return model.fit(X, y, deadline=fit_deadline)


def _target_transforms(
    given: Mapping[str, str] | str | None,
    X: pd.DataFrame,
    y: pd.Series,
    splits: list[tuple[np.ndarray, np.ndarray]],
    plan: Plan,
    names: Sequence[str],
    profile: Any,
    columns: tuple[tuple[str, str], ...],
    spec: Any,
    clock: Callable[[], float],
    notes: list[str],
) -> dict[str, str]:
    if plan.task in CLASSIFICATION:
        return dict.fromkeys(names, "none")
    if isinstance(given, str):
        return dict.fromkeys(names, given)
    if given is not None:
        return {name: given.get(name, "none") for name in names}
    tuned = plan.model_copy(update={"models": list(names)})
    styles, _ = choose_target_transforms(
        X,
        y,
        splits,
        plan=tuned,
        profile=profile,
        columns=columns,
        spec=spec,
        clock=clock,
        deadline=clock() + 1.5 * TRANSFORM_SHARE * plan.budget_s,
        notes=notes,
    )
    return transforms_by_family(styles, names)


def _class_weighting(
    given: str | None, plan: Plan, y: pd.Series, metric: str
) -> tuple[str | None, bool]:
    """The fixed class weighting, and whether to search it (imbalanced, "auto")."""
    if plan.task not in CLASSIFICATION:
        return None, False
    if given is not None:
        return (None if given == "none" else given), False
    if plan.class_weight != "auto":
        return (None if plan.class_weight == "none" else plan.class_weight), False
    rare = minority_share(pd.factorize(y, sort=True)[0]) < IMBALANCED_SHARE
    return None, rare and metric != "log_loss"


def _set_threshold(
    model: TabularModel,
    family: str,
    number: int,
    candidates: Sequence[TrialCandidate],
    y: pd.Series,
    oof_rows: np.ndarray,
    spec: Any,
) -> None:
    """Give a binary F1 model the F1-best cut of its trial's out-of-fold probabilities."""
    if model.task_ != "binary" or spec.name != "f1":
        return
    oof = next((c.oof for c in candidates if c.family == family and c.number == number), None)
    if oof is None:
        return
    truth = y.iloc[oof_rows].to_numpy() == model.classes_[1]
    model.threshold_ = f1_threshold(truth, oof[:, 1])[0]


__all__ = [
    "KEEP_CANDIDATES",
    "TrialCandidate",
    "TrialReport",
    "TuneResult",
    "TuningError",
    "open_storage",
    "trial_to_params",
    "tunable_families",
    "tune",
    "tuning_storage",
]
