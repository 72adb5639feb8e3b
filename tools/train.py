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
(``plan.target_transform``, :mod:`tools.target_transform`); categoricals with
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
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import f1_score
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from tools.deadline import ESTIMATE_SAFETY, Deadline
from tools.ensemble import EnsembleModel
from tools.errors import DataError, UserFacingError
from tools.features import derived_columns
from tools.imbalance import IMBALANCED_SHARE, f1_threshold, minority_share, thresholded_f1
from tools.models.estimator import TabularModel
from tools.models.families import MODEL_FAMILIES
from tools.models.kinds import CLASSIFICATION, USED_KINDS
from tools.models.preprocessing import column_kinds, encoded_width
from tools.plan import Plan
from tools.target_transform import TRANSFORM_SHARE, choose_target_transforms
from tools.threads import threads_for

log = logging.getLogger(__name__)

MAX_SEARCH_ROWS = 200_000
"""Candidates are compared on at most this many rows (a seeded sample); the winner's refit uses all."""
SEARCH_ROWS_PER_BUDGET_S = 2_000
"""... and at most this many rows per second of budget (60 s: 120,000 rows)."""
MIN_SEARCH_ROWS = 2_000
"""The sample is never shrunk below this many rows to fit a short budget."""
STOP_REFIT_MAX_S = 5.0
"""After a stop request the winner is refit only if that takes at most this long."""
"""Multiplier on time estimates before comparing them with the time left."""
_WEIGHTED_METRICS = frozenset({"balanced_accuracy", "f1_macro"})
"""Metrics for which ``class_weight="auto"`` weights a rare class."""

Status = Literal["ok", "failed", "skipped"]
ProgressKind = Literal[
    "started", "candidate_started", "candidate_finished", "refit_started", "finished"
]


class TrainingError(UserFacingError):
    """No candidate model could be trained."""


@dataclass(frozen=True, slots=True)
class CandidateResult:
    """One model family's cross-validated result."""

    family: str
    score: float
    """Mean of the per-fold metric values, in the metric's natural units (NaN unless ok)."""
    std: float
    fit_time_s: float
    """Wall time of all its folds (fit + predict)."""
    status: Status
    message: str = ""
    """Why it failed or was skipped; empty when ok."""
    params: dict[str, Any] = field(default_factory=dict)
    n_folds: int = 0
    """Folds that finished."""


@dataclass(frozen=True, slots=True)
class TrainProgress:
    """One step of training, for a progress callback (e.g. to stream a leaderboard)."""

    kind: ProgressKind
    candidate: CandidateResult | None
    elapsed_s: float
    budget_s: float
    message: str


@dataclass
class TrainResult:
    """Everything training produced.

    ``oof[family]`` holds out-of-fold probabilities (classification; shape
    ``(len(oof_rows), len(classes))``, columns in ``classes`` order) or
    predictions (regression; shape ``(len(oof_rows),)``) for every ok
    candidate. Row ``i`` of it belongs to ``y.iloc[oof_rows[i]]`` (see
    :attr:`oof_y`); with k-fold on all rows ``oof_rows`` is ``0..n-1``.
    """

    plan: Plan
    profile: Any
    leaderboard: list[CandidateResult]
    """Best first; skipped, then failed candidates last."""
    best_family: str
    model: TabularModel
    """The winner, refit on ``refit_rows`` rows (all rows unless time ran short)."""
    oof: dict[str, np.ndarray]
    y: pd.Series
    """The target used, positional index ``0..n-1`` (rows with a missing target removed)."""
    cv_metrics: dict[str, float]
    """Every metric of the task on the winner's out-of-fold predictions, the mean over
    validation folds (:func:`tools.metrics.fold_mean_metrics`). These rows also chose the
    winner, so they flatter it; see :attr:`expected_metrics`."""
    elapsed_s: float
    stopped: bool
    """True when ``should_stop()`` ended training early."""
    oof_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    classes: np.ndarray | None = None
    """Class labels (classification), the column order of ``oof`` probabilities."""
    features: list[str] = field(default_factory=list)
    """Original columns the model uses."""
    refit_rows: int = 0
    model_source: Literal["refit", "fold", "bagged"] = "refit"
    """"refit": trained on ``refit_rows`` rows after the search; "bagged": the average of the
    winner's cross-validation models (no time to refit); "fold": its first-fold model."""
    notes: list[str] = field(default_factory=list)
    """Plain sentences about choices made (rows dropped, sample used, folds reduced, ...)."""
    search_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Positional rows (of ``y``) the candidates were compared on, training and validation
    parts together; pass them to :func:`tools.tune.tune` (``rows=``) to get the same splits."""
    oof_folds: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """The validation fold (0, 1, ...) of each row of the ``oof`` arrays."""
    tuned_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per tuned family, its best trial's parameters as the study stores them (warm starts)."""
    templates: dict[str, Any] = field(default_factory=dict)
    """Unfitted models (``sklearn.base.clone`` of a fold model) of every ok candidate, by key."""
    target_transform: str = "none"
    """The winner's target transform ("none", "log", "quantile")."""
    target_transforms: dict[str, str] = field(default_factory=dict)
    """Family -> the target transform its models used (pass to tuning: ``tune(target_transforms=...)``)."""
    target_transform_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    """Preprocessing style ("tree", "scaled") -> transform -> CV value of the metric in
    the quick comparison (empty when none ran)."""
    class_weight: str = "none"
    """"balanced" when every model weighted the classes."""
    threshold: float | None = None
    """The F1 decision threshold stored in the model (binary F1 runs), else None."""
    fold_models: list[Any] = field(default_factory=list)
    """The breadth winner's fitted cross-validation models, in fold order (``fold_models[i]``
    never saw the rows of fold ``i``)."""
    expected_metrics: dict[str, float] = field(default_factory=dict)
    """Every metric as expected on new data: scored on rows that took no part in choosing
    the model, the ensemble or the threshold (:mod:`tools.honest`); empty when not measured."""
    estimate_method: str = ""
    """How :attr:`expected_metrics` was measured, in plain words."""

    def model_options(self, family: str | None = None) -> dict[str, Any]:
        """Keyword arguments of :class:`TabularModel` the run used for ``family``
        (default: the winner); pass them on when refitting it elsewhere."""
        name = family or self.best_family
        return {
            "target_transform": self.target_transforms.get(name, self.target_transform),
            "class_weight": None if self.class_weight == "none" else self.class_weight,
            "positive_class": self.positive_class,
        }

    @property
    def positive_class(self) -> str | None:
        """The positive class of a binary task (``classes[-1]``), as text; else None."""
        if self.plan.task != "binary" or self.classes is None:
            return None
        return str(self.classes[-1])

    @property
    def oof_y(self) -> pd.Series:
        """The target values matching the rows of each ``oof`` array."""
        return self.y.iloc[self.oof_rows]

    def oof_predictions(self, family: str | None = None) -> np.ndarray:
        """Out-of-fold predictions as labels (classification) or values (regression)."""
        values = self.oof[family or self.best_family]
        if self.classes is None:
            return values
        return self.classes[np.argmax(values, axis=1)]


@dataclass(frozen=True, slots=True)
class _Split:
    train: np.ndarray
    valid: np.ndarray


@dataclass
class _Best:
    family: str
    score: float
    fit_s_per_fold: float
    fold_model: TabularModel
    overrides: Mapping[str, Any]
    fold_models: list[TabularModel] = field(default_factory=list)


OVERRUN_SHARE = 0.1
"""A candidate after the first is stopped this share of the search budget after the search's
deadline, however far its fit runs over the estimate it started on."""


def _n_jobs(n_rows: int) -> int:
    return threads_for(n_rows)


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
            such as :func:`tools.automl.fit_automl`).
        deadline: When every fit must stop (it keeps what it learned); default
            ``plan.budget_s`` from now. Candidates are planned to finish by the
            earlier of the two.

    Raises:
        TargetError: the target column is missing or unusable.
        DataError: no usable feature columns.
        TrainingError: no candidate finished.
    """
    from tools.analyze import prepare_target, profile_table
    from tools.classes import class_order
    from tools.metrics import fold_numbers, resolve_metric

    start = clock()
    hard = deadline or Deadline(start + plan.budget_s, clock)
    deadline_s = min(start + plan.budget_s, hard.at_s)
    stop = should_stop or (lambda: False)
    notify = on_progress or (lambda progress: None)
    notes: list[str] = []

    def elapsed() -> float:
        return clock() - start

    def emit(kind: ProgressKind, message: str, candidate: CandidateResult | None = None) -> None:
        notify(TrainProgress(kind, candidate, elapsed(), plan.budget_s, message))

    emit("started", f"Training up to {len(plan.models)} models in {plan.budget_s:g} s.")
    table, n_dropped = prepare_target(frame, plan.target)
    if n_dropped:
        notes.append(f"{n_dropped} rows with a missing target were dropped.")
    if profile is None or profile.target != plan.target:
        profile = profile_table(table, target=plan.target, seed=plan.seed)
    if not table.index.equals(pd.RangeIndex(len(table))):
        table = table.reset_index(drop=True)

    features = _features(profile, plan)
    columns = column_kinds(profile, features) + derived_columns(plan.derived_features)
    derived = tuple((f.name, f.expression) for f in plan.derived_features)
    task = plan.task
    y = table[plan.target]
    if task in CLASSIFICATION:
        table, y = _drop_singleton_classes(table, y, notes)
        classes: np.ndarray | None = class_order(y, task=task, positive=plan.positive_class)
    else:
        y = pd.Series(pd.to_numeric(y, errors="coerce"), name=plan.target).astype(np.float64)
        classes = None
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
    splits = _splits(time_values, y, rows, plan, notes)
    n_train_fold = int(np.mean([len(s.train) for s in splits]))
    n_jobs = _n_jobs(n_train_fold)
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
        clock=clock,
        deadline=start + TRANSFORM_SHARE * 1.5 * plan.budget_s,
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

    for name in order:
        family = MODEL_FAMILIES[name]
        if stop():
            stopped = True
            break
        width = encoded_width(columns, preprocessing=family.preprocessing, n_unique=n_unique)
        factor = _calibration(calibration)
        est_fold = (
            family.estimate_fit_s(n_train_fold, width, n_columns=len(columns), n_classes=n_classes)
            * factor
        )
        est_total = est_fold * len(splits) * ESTIMATE_SAFETY
        reserve = max(refit_reserve(best.fit_s_per_fold) if best else 0.0, refit_reserve(est_fold))
        left = deadline_s - clock()
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

        emit("candidate_started", f"{family.label}: {len(splits)} fold(s).")
        best_reserve = refit_reserve(best.fit_s_per_fold) if best else 0.0
        outcome = _run_candidate(
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
            deadline=deadline_s,
            # The first candidate may use the whole run (a result beats none); later ones
            # are cut soon after the search's own deadline, so tuning and the refit keep
            # their time when a fit runs far over its estimate.
            fit_deadline=hard
            if best is None
            else hard.earlier(Deadline(deadline_s + OVERRUN_SHARE * plan.budget_s, clock)),
            reserve=lambda fold_s, held=best_reserve: max(held, refit_reserve(fold_s)),
            stop=stop,
            n_oof=len(oof_rows),
            slot=slot,
            must_finish=best is None,
            overrides=dict((params or {}).get(name, {})),
            derived=derived,
            options=options(name),
        )
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
        results.append(outcome.result)
        if outcome.stopped:
            stopped = True
        if outcome.result.status == "ok":
            oof[name] = outcome.oof
            templates[name] = clone(outcome.fold_model)
            prior = family.estimate_fit_s(
                n_train_fold, width, n_columns=len(columns), n_classes=n_classes
            )
            if prior > 0 and outcome.fit_s_per_fold > 0.5:  # too short to measure speed
                calibration.append(outcome.fit_s_per_fold / prior)
            if best is None or spec.to_score(outcome.result.score) > spec.to_score(best.score):
                best = _Best(
                    name,
                    outcome.result.score,
                    outcome.fit_s_per_fold,
                    outcome.fold_model,
                    dict((params or {}).get(name, {})),
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
        model, source, refit_rows = _final_model(
            best,
            X,
            y,
            columns=columns,
            task=task,
            plan=plan,
            n_jobs=_n_jobs(len(y)),
            left=deadline_s - clock(),
            fit_deadline=hard,
            stopped=stopped,
            refit_s=refit_estimate(best.fit_s_per_fold),
            n_train_fold=n_train_fold,
            emit=emit,
            notes=notes,
            derived=derived,
            options=options(best.family),
        )
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


# --- pieces --------------------------------------------------------------------------


def _features(profile: Any, plan: Plan) -> list[str]:
    excluded = {plan.target, *plan.drop_columns}
    features = [
        name
        for name in profile.feature_columns()
        if name not in excluded and profile.column(name).kind in USED_KINDS
    ]
    if not features:
        raise DataError(
            "No usable feature columns are left: every other column is an ID, a constant, "
            "or was dropped. Add columns that could explain the target."
        )
    return features


def _drop_singleton_classes(
    table: pd.DataFrame, y: pd.Series, notes: list[str]
) -> tuple[pd.DataFrame, pd.Series]:
    counts = y.value_counts()
    rare = counts[counts < 2]
    if len(rare) == 0:
        return table, y
    if len(counts) - len(rare) < 2:
        raise DataError(
            "Every class but one has a single row; a classifier needs at least two rows of two classes."
        )
    keep = ~y.isin(rare.index)
    shown = ", ".join(f"“{label}”" for label in list(rare.index)[:5])
    notes.append(
        f"{len(rare)} class(es) with a single row were dropped ({shown}); they cannot be validated."
    )
    table = table.loc[keep].reset_index(drop=True)
    return table, table[y.name]


def sample_rows(y: pd.Series, task: str, plan: Plan, limit: int) -> np.ndarray:
    """A seeded sample of at most ``limit`` positional rows of ``y``, stratified for
    classification when every class has two rows; all rows when there are few enough."""
    n = len(y)
    if n <= limit:
        return np.arange(n)
    stratify = y if task in CLASSIFICATION and y.value_counts().min() >= 2 else None
    try:
        rows, _ = train_test_split(
            np.arange(n), train_size=limit, random_state=plan.seed, stratify=stratify
        )
    except ValueError:
        rows, _ = train_test_split(np.arange(n), train_size=limit, random_state=plan.seed)
    return np.sort(rows)


def _splits(
    time_values: pd.Series | None, y: pd.Series, rows: np.ndarray, plan: Plan, notes: list[str]
) -> list[_Split]:
    y_rows = y.iloc[rows]
    is_classification = plan.task in CLASSIFICATION
    if plan.validation == "time_split":
        when = _order_key(time_values, rows)
        ordered = rows[np.argsort(when, kind="stable")]
        cut = round(len(ordered) * (1 - plan.holdout_fraction))
        cut = min(max(cut, 1), len(ordered) - 1)
        return [_Split(np.sort(ordered[:cut]), np.sort(ordered[cut:]))]
    if plan.validation == "holdout":
        stratify = y_rows if is_classification and y_rows.value_counts().min() >= 2 else None
        train_rows, valid_rows = train_test_split(
            rows, test_size=plan.holdout_fraction, random_state=plan.seed, stratify=stratify
        )
        return [_Split(np.sort(train_rows), np.sort(valid_rows))]
    folds = min(plan.folds, len(rows))
    if plan.validation == "stratified_kfold" and is_classification:
        smallest = int(y_rows.value_counts().min())
        if smallest < folds:
            notes.append(
                f"Used {max(smallest, 2)} folds instead of {folds}: the rarest class has {smallest} rows."
            )
            folds = max(smallest, 2)
        splitter: Any = StratifiedKFold(n_splits=folds, shuffle=True, random_state=plan.seed)
        parts = splitter.split(np.zeros(len(rows)), y_rows.to_numpy())
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=plan.seed)
        parts = splitter.split(np.zeros(len(rows)))
    return [_Split(rows[tr], rows[va]) for tr, va in parts]


def _order_key(column: pd.Series | None, rows: np.ndarray) -> np.ndarray:
    if column is None:
        return np.arange(len(rows), dtype=np.float64)
    values = column.iloc[rows]
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        key = (
            pd.to_numeric(values, errors="coerce")
            .astype("Float64")
            .to_numpy(dtype=np.float64, na_value=np.nan)
        )
    else:
        when = pd.to_datetime(values, errors="coerce", utc=True)
        key = when.astype("datetime64[ns, UTC]").astype("int64").astype(np.float64)
        key[when.isna().to_numpy()] = np.nan
    return np.where(np.isnan(key), np.inf, key)


def _calibration(ratios: Sequence[float]) -> float:
    if not ratios:
        return 1.0
    return float(np.clip(np.exp(np.mean(np.log(ratios))), 0.25, 2.0))


@dataclass
class _Outcome:
    result: CandidateResult
    oof: np.ndarray
    fit_s_per_fold: float
    fold_model: TabularModel
    stopped: bool = False
    fold_models: list[TabularModel] = field(default_factory=list)


def _run_candidate(
    name: str,
    X: pd.DataFrame,
    y: pd.Series,
    splits: Sequence[_Split],
    *,
    columns: tuple[tuple[str, str], ...],
    task: str,
    classes: np.ndarray | None,
    spec: Any,
    seed: int,
    n_jobs: int,
    clock: Callable[[], float],
    deadline: float,
    fit_deadline: Deadline,
    reserve: Callable[[float], float],
    stop: Callable[[], bool],
    n_oof: int,
    slot: dict[int, int] | None,
    must_finish: bool,
    overrides: Mapping[str, Any],
    derived: tuple[tuple[str, str], ...] = (),
    options: Mapping[str, Any],
) -> _Outcome:
    family = MODEL_FAMILIES[name]
    params = {**family.default_params, **overrides}
    oof = np.full((n_oof, len(classes)), np.nan) if classes is not None else np.full(n_oof, np.nan)
    index = {label: i for i, label in enumerate(classes)} if classes is not None else {}
    scores: list[float] = []
    fit_times: list[float] = []
    started = clock()
    first_model: TabularModel | None = None
    fold_models: list[TabularModel] = []

    def finish(status: str, message: str, stopped: bool = False) -> _Outcome:
        ok = status == "ok"
        result = CandidateResult(
            family=name,
            score=float(np.nanmean(scores)) if ok and scores else math.nan,
            std=float(np.nanstd(scores)) if ok and scores else math.nan,
            fit_time_s=clock() - started,
            status=status,  # type: ignore[arg-type]
            message=message,
            params=params,
            n_folds=len(scores),
        )
        model = first_model if first_model is not None else TabularModel(name, task, columns)  # type: ignore[arg-type]
        return _Outcome(
            result,
            oof,
            float(np.mean(fit_times)) if fit_times else 0.0,
            model,
            stopped,
            fold_models,
        )

    for number, split in enumerate(splits, start=1):
        try:
            fold_start = clock()
            model = TabularModel(
                name,
                task,  # type: ignore[arg-type]
                columns,
                params=dict(overrides) or None,
                seed=seed,
                n_jobs=n_jobs,
                derived=derived,
                **options,
            )
            model.fit(X.iloc[split.train], y.iloc[split.train], deadline=fit_deadline)
            fit_times.append(clock() - fold_start)
            X_valid = X.iloc[split.valid]
            y_valid = y.iloc[split.valid]
            positions = (
                split.valid if slot is None else np.array([slot[int(r)] for r in split.valid])
            )
            if classes is not None:
                fold_proba = model.predict_proba(X_valid)
                proba = np.zeros((len(split.valid), len(classes)))
                proba[:, [index[label] for label in model.classes_]] = fold_proba
                y_pred = classes[np.argmax(proba, axis=1)]
                oof[positions] = proba
                score = _score(spec, y_valid, y_pred, proba, classes)
            else:
                y_pred = model.predict(X_valid)
                oof[positions] = y_pred
                score = _score(spec, y_valid, y_pred, None, None)
            scores.append(float(score))
            fold_models.append(model)
            if first_model is None:
                first_model = model
        except UserFacingError as exc:
            return finish("failed", str(exc))
        except Exception as exc:  # a candidate's failure must not end the run; it is reported
            log.warning("candidate_failed family=%s fold=%d", name, number, exc_info=True)
            return finish("failed", f"{type(exc).__name__}: {str(exc)[:300]}")
        if number == len(splits):
            break
        if stop():
            return finish(
                "skipped", f"stopped after {number} of {len(splits)} folds.", stopped=True
            )
        per_fold = (clock() - started) / number
        needed = per_fold * (len(splits) - number) + reserve(float(np.mean(fit_times)))
        if clock() + needed > deadline:
            if must_finish:  # the first candidate: keep its finished folds rather than nothing
                return finish(
                    "ok", f"scored on {number} of {len(splits)} folds to stay within the budget."
                )
            return finish(
                "skipped",
                f"abandoned after {number} of {len(splits)} folds: the rest would not fit in the budget.",
            )
    if not np.isfinite(scores).any():
        return finish("failed", f"{spec.label} could not be computed on the validation rows.")
    return finish("ok", "")


def _score(
    spec: Any, y_true: pd.Series, y_pred: np.ndarray, proba: np.ndarray | None, classes: Any
) -> float:
    """The fold's metric value; NaN when it is undefined on these rows (e.g. one class only)."""
    try:
        return float(spec.compute(y_true, y_pred, proba, classes=classes))
    except ValueError:
        return math.nan


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


def _choose_class_weight(plan: Plan, y: pd.Series, metric: str, notes: list[str]) -> str:
    """The plan's class weighting; "auto" weighs a rare class for label metrics that need it."""
    if plan.task not in CLASSIFICATION or plan.class_weight == "none":
        return "none"
    if plan.class_weight == "balanced":
        notes.append("Classes were weighted equally (balanced class weights) where models allow.")
        return "balanced"
    share = minority_share(pd.factorize(y, sort=True)[0])
    if share < IMBALANCED_SHARE and metric in _WEIGHTED_METRICS:
        notes.append(
            f"The rarest class is {share:.1%} of the rows, so classes were weighted equally "
            "(balanced class weights) where models allow."
        )
        return "balanced"
    return "none"


def winner_metrics(
    model: Any,
    oof: np.ndarray,
    y_true: pd.Series,
    *,
    task: str,
    spec: Any,
    classes: np.ndarray | None,
    notes: list[str],
    set_threshold: bool = True,
    folds: np.ndarray | None = None,
) -> tuple[dict[str, float], float | None]:
    """Every metric of the task on the winner's out-of-fold predictions, and its threshold.

    Each metric is the mean over the validation ``folds`` (one fold when None), as the
    leaderboard scores candidates. For a binary task ranked by F1 (and
    ``set_threshold``), the F1-best decision threshold is chosen on ``oof``, stored as
    ``model.threshold_``, used for the labels the metrics see, and explained in ``notes``.
    """
    from tools.metrics import fold_mean_metrics

    y_values = y_true.to_numpy()
    fold_of = np.zeros(len(y_values), dtype=np.int64) if folds is None else np.asarray(folds)
    scored = ~np.isnan(np.reshape(np.asarray(oof, dtype=np.float64), (len(y_values), -1))).any(
        axis=1
    )
    if classes is None:
        metrics = fold_mean_metrics(
            y_values[scored], oof[scored], None, fold_of[scored], task=task, classes=None
        )
        return metrics, None
    threshold: float | None = None
    y_pred = classes[np.argmax(oof, axis=1)]
    if set_threshold and task == "binary" and spec.name == "f1":
        threshold = _f1_threshold(y_true, oof, classes, notes)
        model.threshold_ = threshold
        y_pred = classes[(oof[:, 1] >= threshold).astype(np.int64)]
    metrics = fold_mean_metrics(
        y_values[scored],
        y_pred[scored],
        oof[scored],
        fold_of[scored],
        task=task,
        classes=classes,
    )
    return metrics, threshold


def _f1_threshold(
    y_true: pd.Series, proba: np.ndarray, classes: np.ndarray, notes: list[str]
) -> float:
    """The F1-best probability cut for the positive class (``classes[1]``), noted in plain words."""
    is_positive = (y_true.to_numpy() == classes[1]) & np.isfinite(proba[:, 1])
    cut, best_f1 = f1_threshold(is_positive, proba[:, 1])
    at_half = float(f1_score(is_positive, proba[:, 1] >= 0.5, zero_division=0.0))
    notes.append(
        f"The decision threshold for “{classes[1]}” was set to {cut:.3f} (not 0.5) on the "
        f"out-of-fold probabilities: F1 {best_f1:.4f} vs {at_half:.4f} at 0.5, on the rows "
        "that chose it; the expected F1 on new data is measured without them."
    )
    return cut


def _thresholded(
    result: CandidateResult,
    oof: np.ndarray,
    y_true: pd.Series,
    classes: Any,
    folds: np.ndarray,
) -> CandidateResult:
    """``result`` scored by F1 at its own F1-best threshold on ``oof`` (the cut that would
    ship), averaged over the validation ``folds`` as other metrics are."""
    score, std, cut = thresholded_f1(y_true.to_numpy() == classes[-1], oof[:, -1], folds)
    message = f"F1 at threshold {cut:.3f}" + (f"; {result.message}" if result.message else "")
    return replace(result, score=score, std=std, message=message)


def rank_candidates(results: list[CandidateResult], spec: Any) -> list[CandidateResult]:
    """Best first by ``spec``; then the skipped candidates, then the failed ones."""
    ok = sorted((r for r in results if r.status == "ok"), key=lambda r: -spec.to_score(r.score))
    skipped = [r for r in results if r.status == "skipped"]
    failed = [r for r in results if r.status == "failed"]
    return [*ok, *skipped, *failed]


def _describe(label: str, result: CandidateResult, metric_label: str) -> str:
    if result.status == "ok":
        return f"{label}: {metric_label} {result.score:.4g} ± {result.std:.2g} ({result.fit_time_s:.1f} s)"
    return f"{label} {result.status}: {result.message}"


def _nothing_trained(results: Sequence[CandidateResult], stopped: bool) -> str:
    if stopped:
        return "Training was stopped before any model finished; nothing was kept."
    reasons = "; ".join(f"{MODEL_FAMILIES[r.family].label}: {r.message}" for r in results[:5])
    return f"No model could be trained. {reasons}"
