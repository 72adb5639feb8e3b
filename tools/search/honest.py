"""What to expect on new data: nested selection over out-of-fold predictions.

The cross-validated leaderboard score of the winner is optimistic: the same
out-of-fold rows chose the model among many candidates, each tuned family's best
trial, the ensemble weights and the F1 threshold. On pure noise that choice alone
lifts ROC AUC well above 0.5.

:func:`expected_metrics` replays the whole choice once per validation group with
that group left out. It picks the best trial per tuned family, the best candidate,
the ensemble (kept only if it beats the best single model, as
:func:`tools.search.automl.fit_automl` does) and the F1 cut on the other groups' rows, then
scores what it picked on the left-out group. Every out-of-fold prediction comes from
a model that never saw its row, so the left-out group was used neither to fit nor
to choose. The estimate is the mean over groups: the same definition as every other
metric here (:func:`tools.metrics.fold_mean_metrics`).

Left in: tuning proposes its next configurations from scores that include every
group, and only the best :data:`tools.search.tune.KEEP_CANDIDATES` trials keep their
predictions; both are second-order and say so in :data:`METHOD`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tools.analyze.kinds import Task
from tools.imbalance import f1_of, f1_threshold
from tools.metrics import MetricSpec, fold_mean_metrics
from tools.search.ensemble import ensemble_is_worth_it, select_ensemble
from tools.search.fast_scores import bind_metric

MIN_GROUPS = 3
"""With fewer validation folds (a holdout or a time split) the held-out rows are cut into
:data:`SPLIT_GROUPS` random groups for the nested choice."""
SPLIT_GROUPS = 5
MAX_REPLAY_ROWS = 10_000
"""The replay runs on a seeded sample of at most this many out-of-fold rows (it repeats
the ensemble selection once per group)."""

METHOD = (
    "nested selection: for each validation fold, the model, tuned configuration, ensemble "
    "and decision threshold were chosen on the other folds' out-of-fold predictions and "
    "scored on the left-out fold; the figure is the mean over folds"
)


@dataclass(frozen=True, slots=True)
class CandidatePool:
    """Every choice the search made, as out-of-fold predictions on the same rows.

    ``singles`` are fixed candidates (breadth search); ``trials`` maps a tuned
    leaderboard key (``"lightgbm:tuned"``) to its trials, of which the best on the
    choosing rows stands for the key.
    """

    singles: Mapping[str, np.ndarray]
    trials: Mapping[str, Sequence[np.ndarray]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Choice:
    """How a selection problem is scored: the metric, the task and what may be chosen."""

    spec: MetricSpec
    task: Task
    classes: np.ndarray | None
    ensemble: bool
    """Whether an ensemble may replace the best single candidate."""

    @property
    def binary_f1(self) -> bool:
        """Ranked by F1 at a chosen threshold (binary task, F1 metric)."""
        return self.task == "binary" and self.spec.name == "f1"


@dataclass(frozen=True, slots=True)
class HonestEstimate:
    """Every metric of the task as expected on new data, and how that was measured."""

    metrics: dict[str, float]
    method: str
    n_groups: int


def expected_metrics(
    pool: CandidatePool,
    y: np.ndarray,
    folds: np.ndarray,
    choice: Choice,
    *,
    seed: int = 0,
) -> HonestEstimate | None:
    """Metrics of the search's choice on rows that did not take part in choosing it.

    Args:
        pool: The candidates' out-of-fold predictions, rows aligned with ``y``.
        y: True targets of the out-of-fold rows.
        folds: Validation fold of each row (all the same for a holdout).
        choice: The metric and what the search may choose.
        seed: For cutting a single holdout into groups.

    Returns None when there are too few rows to leave any out.
    """
    y = np.asarray(y)
    folds = np.asarray(folds)
    if len(y) > MAX_REPLAY_ROWS:  # an unbiased estimate from a sample, in bounded time
        rows = np.sort(np.random.default_rng(seed).choice(len(y), MAX_REPLAY_ROWS, False))
        pool = CandidatePool(
            singles={k: np.asarray(v)[rows] for k, v in pool.singles.items()},
            trials={k: [np.asarray(t)[rows] for t in v] for k, v in pool.trials.items()},
        )
        y, folds = y[rows], folds[rows]
    groups = _groups(folds, y, choice, seed)
    labels = np.unique(groups)
    if len(labels) < 2:
        return None
    per_group: list[dict[str, float]] = []
    scorer = FoldScorer(y, groups, choice)
    for label in labels:
        picked, cut = _choose(pool, y, groups, groups != label, choice, scorer)
        outer = (groups == label) & ~np.isnan(np.reshape(picked, (len(y), -1))).any(axis=1)
        if not outer.any():
            continue
        per_group.append(
            fold_mean_metrics(
                y[outer],
                _labels(picked[outer], cut, choice),
                picked[outer] if choice.classes is not None else None,
                np.zeros(int(outer.sum()), dtype=np.int64),
                task=choice.task,
                classes=choice.classes,
            )
        )
    names = {name for metrics in per_group for name in metrics}
    metrics = {
        name: float(np.mean([m[name] for m in per_group if name in m])) for name in sorted(names)
    }
    return HonestEstimate(metrics=metrics, method=METHOD, n_groups=len(labels))


def fold_scores(
    predictions: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    choice: Choice,
) -> list[float]:
    """Per-fold values of ``choice.spec`` for one candidate, as the leaderboard scores it.

    Binary F1 is taken at the F1-best cut of all the rows: the cut that would ship.
    Folds without a defined value (one class) are left out.
    """
    scorer = FoldScorer(np.asarray(y), np.asarray(folds), choice)
    return scorer.scores(np.asarray(predictions, dtype=np.float64), scorer.labels)


class FoldScorer:
    """Scores predictions of fixed rows fold by fold, with each fold's labels encoded once."""

    def __init__(self, y: np.ndarray, folds: np.ndarray, choice: Choice) -> None:
        self.y, self.folds, self.choice = y, folds, choice
        self.labels = np.unique(folds)
        self._rows = {fold: np.flatnonzero(folds == fold) for fold in self.labels}
        self._bound = {
            fold: bind_metric(choice.spec, y[rows], choice.classes)
            for fold, rows in self._rows.items()
        }
        self._positive = (
            y == choice.classes[-1] if choice.binary_f1 and choice.classes is not None else None
        )

    def scores(self, predictions: np.ndarray, use: np.ndarray) -> list[float]:
        """The metric on each fold in ``use`` (rows with a NaN prediction left out)."""
        rows = np.concatenate([self._rows[fold] for fold in use])
        finite = ~np.isnan(np.reshape(predictions, (len(self.y), -1))).any(axis=1)
        cut = None
        if self._positive is not None:
            chosen = rows[finite[rows]]
            if len(chosen) == 0:
                return []
            cut = f1_threshold(self._positive[chosen], predictions[chosen, -1])[0]
        values = []
        for fold in use:
            fold_rows = self._rows[fold]
            if cut is not None:
                kept = fold_rows[finite[fold_rows]]
                value = f1_of(self._positive[kept], predictions[kept, -1] >= cut)
            elif finite[fold_rows].all():
                value = self._bound[fold](predictions[fold_rows])
            else:
                kept = fold_rows[finite[fold_rows]]
                value = bind_metric(self.choice.spec, self.y[kept], self.choice.classes)(
                    predictions[kept]
                )
            if math.isfinite(value):
                values.append(float(value))
        return values


# --- pieces --------------------------------------------------------------------------


def _groups(folds: np.ndarray, y: np.ndarray, choice: Choice, seed: int) -> np.ndarray:
    if len(np.unique(folds)) >= MIN_GROUPS:
        return folds
    rng = np.random.default_rng(seed)
    groups = np.empty(len(y), dtype=np.int64)
    if choice.classes is None:
        groups[rng.permutation(len(y))] = np.arange(len(y)) % SPLIT_GROUPS
        return groups
    for value in np.unique(y):  # stratified: each class spread over the groups
        rows = np.flatnonzero(y == value)
        groups[rng.permutation(rows)] = np.arange(len(rows)) % SPLIT_GROUPS
    return groups


def _choose(
    pool: CandidatePool,
    y: np.ndarray,
    groups: np.ndarray,
    inner: np.ndarray,
    choice: Choice,
    scorer: FoldScorer,
) -> tuple[np.ndarray, float | None]:
    """The search's pick using only the ``inner`` rows: predictions for all rows and the cut."""

    use = np.unique(groups[inner])

    def score(predictions: np.ndarray) -> float:
        values = scorer.scores(np.asarray(predictions, dtype=np.float64), use)
        return choice.spec.to_score(float(np.mean(values))) if values else -math.inf

    singles = dict(pool.singles)
    for key, trials in pool.trials.items():
        if trials:
            singles[key] = max(trials, key=score)
    scores = {key: score(predictions) for key, predictions in singles.items()}
    best = max(scores, key=lambda key: scores[key])
    picked = np.asarray(singles[best], dtype=np.float64)
    if choice.ensemble and len(singles) >= 2:
        usable = {k: v for k, v in singles.items() if math.isfinite(scores[k])}
        selection = select_ensemble(
            {k: np.asarray(v)[inner] for k, v in usable.items()},
            y[inner],
            spec=choice.spec,
            classes=choice.classes,
        )
        blend = np.sum(
            [w * np.asarray(usable[k], dtype=np.float64) for k, w in selection.weights.items()],
            axis=0,
        )
        # score() is higher-is-better; to_score turns it back into the metric's own units.
        natural = choice.spec.to_score(score(blend))
        if ensemble_is_worth_it(
            selection, natural, choice.spec.to_score(scores[best]), choice.spec
        ):
            picked = blend
    keep = inner & ~np.isnan(np.reshape(picked, (len(y), -1))).any(axis=1)
    return picked, _cut(picked, y, keep, choice)


def _cut(predictions: np.ndarray, y: np.ndarray, rows: np.ndarray, choice: Choice) -> float | None:
    if not choice.binary_f1 or choice.classes is None or not rows.any():
        return None
    return f1_threshold(y[rows] == choice.classes[-1], predictions[rows, -1])[0]


def _labels(predictions: np.ndarray, cut: float | None, choice: Choice) -> np.ndarray:
    if choice.classes is None:
        return predictions
    if cut is None:
        return choice.classes[np.argmax(predictions, axis=1)]
    return choice.classes[(predictions[:, -1] >= cut).astype(np.int64)]
