"""One tuning trial: a configuration cross-validated fold by fold on the search's folds (:mod:`tools.search.cv`), reported for pruning, and the refit of the best one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tools.deadline import ESTIMATE_SAFETY, Deadline
from tools.imbalance import (
    IMBALANCED_SHARE,
    f1_threshold,
    minority_share,
    thresholded_f1,
)
from tools.models.estimator import TabularModel
from tools.models.kinds import CLASSIFICATION
from tools.plan import Plan
from tools.search.studies import trial_to_params
from tools.search.target_transform import (
    TRANSFORM_SHARE,
    choose_target_transforms,
    transforms_by_family,
)
from tools.threads import threads_for

log = logging.getLogger(__name__)

"""Multiplier on time estimates before comparing them with the time left."""


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
        deadline: Deadline,
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
        fit_deadline = deadline.earlier(hard)
        # A binary F1 run is scored (and pruned) by F1 at the trial's own best cut, the way
        # candidates are ranked and the model ships (tools.imbalance.thresholded_f1).
        at_cut = self.task == "binary" and self.spec.name == "f1" and classes is not None
        fold_of = np.full(n, -1, dtype=np.int64)
        truth = (self.y.iloc[self.oof_rows].to_numpy() == classes[-1]) if at_cut else None

        def mean_score() -> float:
            if not at_cut:
                return float(np.mean(scores))
            done = fold_of >= 0
            return thresholded_f1(truth[done], oof[done, -1], fold_of[done])[0]

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
                    fold_of[slot[valid]] = number
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
                running = self.spec.to_score(mean_score())
                if message := on_fold(number, running):
                    return outcome(message)
            if stop():
                return outcome("stopped", stopped=True)
            per_fold = (clock() - started) / (number + 1)
            if per_fold * (len(self.splits) - number - 1) + reserve > deadline.left_s():
                return outcome("abandoned: the remaining folds would not fit in the budget")
        return _Outcome(mean_score(), oof, float(np.mean(fit_times)))


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


def refit_template(
    family: str,
    params: dict[str, Any],
    candidates: Sequence[TrialCandidate],
    *,
    columns: tuple[tuple[str, str], ...],
    task: str,
    seed: int,
    n_rows: int,
    n_train_fold: int,
    derived: tuple[tuple[str, str], ...] = (),
    options: Mapping[str, Any],
) -> tuple[TabularModel, float]:
    """The best configuration as an unfitted model, and its refit estimate on ``n_rows``
    (0 when no trial of it was timed)."""
    timed = [c.fit_s_per_fold for c in candidates if c.family == family and c.params == params]
    estimate = timed[0] * n_rows / max(n_train_fold, 1) * ESTIMATE_SAFETY if timed else 0.0
    model = TabularModel(
        family,
        task,  # type: ignore[arg-type]
        columns,
        params=params,
        seed=seed,
        n_jobs=threads_for(n_rows),
        derived=derived,
        **options,
    )
    return model, estimate


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
        deadline=Deadline(clock() + 1.5 * TRANSFORM_SHARE * plan.budget_s, clock),
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
