"""Greedy ensemble selection (Caruana et al., 2004) over out-of-fold predictions.

:func:`select_ensemble` starts from an empty ensemble and, round after round,
adds (with replacement) the candidate whose addition gives the best score of
the averaged out-of-fold predictions (probabilities for classification,
values for regression). The weights are how often each candidate was picked;
the round with the best score wins, so the ensemble's out-of-fold score is
never below the best single candidate's (the first round picks that one).

:class:`EnsembleModel` is the picklable result: fitted members and their
weights, with the same ``predict`` / ``predict_proba`` / ``classes_`` /
``input_columns_`` contract as :class:`tools.models.TabularModel`. Use it
only when :attr:`EnsembleSelection.beats_best` says it beat the best single
model in cross-validation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from tools.deadline import Deadline
from tools.errors import DataError
from tools.search.fast_scores import bind_metric
from tools.search.winner import rank_value

log = logging.getLogger(__name__)

MAX_ROUNDS = 50
"""Most picks (with replacement) in one selection."""
MAX_SELECTION_ROWS = 20_000
"""Selection scores blends on a seeded sample of at most this many out-of-fold rows, so
that its time stays bounded on large tables (one ROC AUC of 36,000 rows takes ~3 ms and
a selection scores hundreds of blends)."""
MIN_ENSEMBLE_GAIN = 1e-4
"""The ensemble replaces the best single model only when its CV score is better by this much
(relative to the score's magnitude)."""


@dataclass(frozen=True, slots=True)
class EnsembleSelection:
    """The outcome of greedy selection on out-of-fold predictions."""

    weights: dict[str, float]
    """Candidate name -> weight (weights sum to 1; unpicked candidates are absent)."""
    score: float
    """The ensemble's out-of-fold score, natural units of the metric."""
    best_single: str
    best_single_score: float
    """The best candidate alone, natural units."""
    beats_best: bool
    """True when the ensemble's score is strictly better than the best single candidate's."""
    history: tuple[float, ...]
    """The ensemble's score after each round (natural units)."""


def ensemble_is_worth_it(
    selection: EnsembleSelection, score: float, best_single: float, spec: Any
) -> bool:
    """True when the ensemble mixes several models and its ``score`` beats ``best_single``
    (both means of per-fold scores, natural units) by :data:`MIN_ENSEMBLE_GAIN`."""
    if not (selection.beats_best and len(selection.weights) > 1 and math.isfinite(score)):
        return False
    gain = spec.to_score(score) - spec.to_score(best_single)
    return gain > MIN_ENSEMBLE_GAIN * max(abs(best_single), 1e-12)


def select_ensemble(
    oofs: Mapping[str, np.ndarray],
    y: pd.Series | np.ndarray,
    *,
    spec: Any,
    classes: np.ndarray | None,
    max_rounds: int = MAX_ROUNDS,
    min_gain: float = 1e-9,
) -> EnsembleSelection:
    """Pick a weighted average of candidates that maximises ``spec`` on out-of-fold rows.

    Args:
        oofs: Candidate name -> out-of-fold probabilities (classification,
            ``n x len(classes)``) or predictions (regression, ``n``), all on the
            rows of ``y`` in the same order (e.g. ``TrainResult.oof`` with
            ``TrainResult.oof_y``, plus ``TrialCandidate.oof`` from tuning).
        y: True targets of those rows.
        spec: The metric (:func:`tools.metrics.resolve_metric`).
        classes: Class labels in probability column order; None for regression.
        max_rounds: Most picks.
        min_gain: A round that improves the score by less than this counts as no gain;
            selection stops after 10 rounds without gain.

    Raises:
        DataError: no candidates, or their shapes differ.
    """
    if not oofs:
        raise DataError("There are no candidate models to ensemble.")
    names = list(oofs)
    arrays = [np.asarray(oofs[name], dtype=np.float64) for name in names]
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise DataError("Candidates' out-of-fold predictions cover different rows.")
    y_true = np.asarray(y)
    if len(y_true) != shape[0]:
        raise DataError(f"{shape[0]} out-of-fold rows but {len(y_true)} target values.")
    keep = ~np.any(np.isnan(np.stack(arrays).reshape(len(arrays), shape[0], -1)), axis=(0, 2))
    if keep.sum() > MAX_SELECTION_ROWS:  # the weights barely move; the time would not fit
        sample = np.random.default_rng(0).choice(np.flatnonzero(keep), MAX_SELECTION_ROWS, False)
        keep = np.zeros(len(keep), dtype=bool)
        keep[sample] = True
    arrays = [a[keep] for a in arrays]
    y_true = y_true[keep]

    score = bind_metric(spec, y_true, classes)

    singles = [score(a) for a in arrays]
    best_index = int(np.argmax([rank_value(spec, s) for s in singles]))

    total = np.zeros_like(arrays[0])
    counts = [0] * len(arrays)
    history: list[float] = []
    best_round_score = -math.inf
    best_counts = list(counts)
    stale = 0
    for round_number in range(1, max_rounds + 1):
        trials = [rank_value(spec, score((total + a) / round_number)) for a in arrays]
        pick = int(np.argmax(trials))
        total = total + arrays[pick]
        counts[pick] += 1
        history.append(_natural(spec, trials[pick]))
        if trials[pick] > best_round_score + min_gain:
            best_round_score = trials[pick]
            best_counts = list(counts)
            stale = 0
        else:
            stale += 1
            if stale >= 10:
                break
    n_picked = sum(best_counts)
    weights = {names[i]: count / n_picked for i, count in enumerate(best_counts) if count > 0}
    ensemble_score = _natural(spec, best_round_score)
    single_score = singles[best_index]
    beats = best_round_score > rank_value(spec, single_score) + min_gain
    log.info(
        "ensemble_selected members=%d score=%.5g best_single=%.5g beats=%s",
        len(weights),
        ensemble_score,
        single_score,
        beats,
    )
    return EnsembleSelection(
        weights=weights,
        score=ensemble_score,
        best_single=names[best_index],
        best_single_score=single_score,
        beats_best=beats,
        history=tuple(history),
    )


def blend(predictions: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The weighted average of ``predictions`` named in ``weights``."""
    return sum(weights[name] * np.asarray(predictions[name], dtype=np.float64) for name in weights)  # type: ignore[return-value]


def fit_ensemble(
    selection: EnsembleSelection,
    members: Mapping[str, Any],
    X: pd.DataFrame,
    y: pd.Series,
    *,
    target: str | None = None,
) -> EnsembleModel:
    """Fit the selected candidates on ``X``, ``y`` and wrap them as one :class:`EnsembleModel`.

    Args:
        selection: From :func:`select_ensemble`.
        members: Candidate name -> an unfitted model (e.g. ``TabularModel(family,
            task, columns, params=...)``) or one already fitted on ``X`` (it is
            used as is when it has ``input_columns_``).
        X: All training rows, original columns.
        y: Their targets.
        target: The target's name, kept as ``target_``.

    Raises:
        DataError: a selected candidate has no model in ``members``.
    """
    missing = [name for name in selection.weights if name not in members]
    if missing:
        raise DataError(f"No model was given for the ensemble member(s) {', '.join(missing)}.")
    fitted = [
        members[name]
        if hasattr(members[name], "input_columns_")
        else clone(members[name]).fit(X, y)
        for name in selection.weights
    ]
    return EnsembleModel.from_fitted(fitted, list(selection.weights.values()), target=target)


class EnsembleModel(BaseEstimator):
    """A weighted average of fitted models, used like one ``TabularModel``.

    Parameters are only stored by ``__init__``: ``members`` (models with the
    ``TabularModel`` contract) and ``weights`` (one per member). :meth:`fit`
    refits clones of the members on new data; :meth:`from_fitted` wraps
    members that are already fitted. Fitted attributes: ``members_``,
    ``weights_`` (normalised), ``input_columns_``, ``classes_``
    (classification), ``task_``, ``target_``, ``family_`` ("ensemble"); set
    ``threshold_`` to predict the second of two classes when its probability
    is at least that (an F1 decision threshold).
    """

    def __init__(self, members: Sequence[Any] = (), weights: Sequence[float] = ()) -> None:
        self.members = members
        self.weights = weights

    @classmethod
    def from_fitted(
        cls, members: Sequence[Any], weights: Sequence[float], *, target: str | None = None
    ) -> EnsembleModel:
        """An ensemble of already fitted members (no refit)."""
        model = cls(members=tuple(members), weights=tuple(weights))
        model._set_fitted(list(members))
        if target is not None:
            model.target_ = target
        return model

    def fit(
        self, X: pd.DataFrame, y: pd.Series, *, deadline: Deadline | None = None
    ) -> EnsembleModel:
        """Refit clones of every member on ``X``, ``y``; each stops at ``deadline``."""
        fitted = [clone(member).fit(X, y, deadline=deadline) for member in self._checked_members()]
        self._set_fitted(fitted)
        return self

    def _checked_members(self) -> list[Any]:
        members = list(self.members)
        if not members:
            raise DataError("An ensemble needs at least one member model.")
        if len(members) != len(self.weights):
            raise DataError(f"{len(members)} members but {len(self.weights)} weights.")
        return members

    def _set_fitted(self, members: list[Any]) -> None:
        self._checked_members()
        weights = np.asarray(self.weights, dtype=np.float64)
        if (weights < 0).any() or weights.sum() <= 0:
            raise DataError("Ensemble weights must be non-negative and not all zero.")
        tasks = {getattr(m, "task_", None) for m in members}
        if len(tasks) != 1:
            raise DataError("Ensemble members must all be trained for the same task.")
        self.task_ = tasks.pop()
        if hasattr(members[0], "classes_"):
            self.classes_ = np.asarray(members[0].classes_)
            for member in members[1:]:
                if not np.array_equal(np.asarray(member.classes_), self.classes_):
                    raise DataError("Ensemble members were trained on different classes.")
        self.members_ = members
        self.weights_ = weights / weights.sum()
        columns: list[str] = []
        for member in members:
            columns += [c for c in member.input_columns_ if c not in columns]
        self.input_columns_ = columns
        self.target_ = getattr(members[0], "target_", None)
        self.family_ = "ensemble"

    @property
    def pipeline_(self) -> Any:
        """The members' fitted pipelines as one scikit-learn estimator (for exporting a script).

        A soft ``VotingClassifier`` or a ``VotingRegressor`` with the ensemble's weights:
        the same weighted average of probabilities or values, on label-encoded targets
        like each member's pipeline.
        """
        from sklearn.ensemble import VotingClassifier, VotingRegressor

        self._check_fitted()
        estimators = [(f"m{i}", m.pipeline_) for i, m in enumerate(self.members_)]
        weights = [float(w) for w in self.weights_]
        if hasattr(self, "classes_"):
            return VotingClassifier(estimators, voting="soft", weights=weights)
        return VotingRegressor(estimators, weights=weights)

    def _check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            raise DataError("This ensemble has not been trained yet; call fit first.")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """The weighted average of the members' class probabilities, columns in ``classes_`` order."""
        self._check_fitted()
        if not hasattr(self, "classes_"):
            raise DataError("Probabilities exist only for classification models.")
        return sum(
            w * m.predict_proba(X) for m, w in zip(self.members_, self.weights_, strict=True)
        )  # type: ignore[return-value]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Labels (the most probable class, or for two classes with a ``threshold_`` the
        second when its probability reaches it) or the weighted average of the members' values."""
        self._check_fitted()
        if hasattr(self, "classes_"):
            proba = self.predict_proba(X)
            threshold = getattr(self, "threshold_", None)
            if threshold is not None and len(self.classes_) == 2:
                return self.classes_[(proba[:, 1] >= threshold).astype(np.int64)]
            return self.classes_[np.argmax(proba, axis=1)]
        values = sum(
            w * np.asarray(m.predict(X), dtype=np.float64)
            for m, w in zip(self.members_, self.weights_, strict=True)
        )
        return np.asarray(values, dtype=np.float64)


def _natural(spec: Any, rankable: float) -> float:
    if not math.isfinite(rankable):
        return math.nan
    return float(rankable if spec.greater_is_better else -rankable)


__all__ = [
    "MAX_ROUNDS",
    "EnsembleModel",
    "EnsembleSelection",
    "blend",
    "fit_ensemble",
    "select_ensemble",
]
