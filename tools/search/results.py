"""What a search returns: one candidate's cross-validated result, progress steps, and :class:`TrainResult` (everything training produced)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from tools.errors import UserFacingError
from tools.models.estimator import TabularModel
from tools.plan import Plan

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
    parts together; pass them to :func:`tools.search.tune.tune` (``rows=``) to get the same splits."""
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
    the model, the ensemble or the threshold (:mod:`tools.search.honest`); empty when not measured."""
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
