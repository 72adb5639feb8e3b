"""Transforms of a regression target, applied inside the model and undone at predict time.

A heavy-tailed target (prices, claim amounts, counts of visits) lets a few
large values dominate the squared error a model fits. Fitting the model to
``log1p(y)`` (or to the target's normal scores) and transforming its
predictions back often predicts the bulk of the rows much better. Whether it
helps the metric the user chose is an empirical question, so
:func:`choose_target_transforms` cross-validates a cheap strong model per
preprocessing style (LightGBM for tree families, ridge for scaled ones) with
no transform, a log and a quantile transform, and keeps a transform only when
it scores better on every compared fold (:func:`compare_target_transforms`).

The transform lives in the model (:class:`tools.models.TabularModel`'s
``target_transform`` wraps the whole pipeline in scikit-learn's
``TransformedTargetRegressor``), so every saved model, ``mlchat predict``,
the explanations and the exported ``train.py`` predict on the original scale.

Kinds (:data:`TargetTransform`):

- ``"none"``: the target as is.
- ``"log"``: ``sign(y) * log1p(|y|)`` (:class:`SignedLog1p`); equals ``log1p``
  for non-negative targets and stays defined for negative ones.
- ``"quantile"``: the target's normal scores (``QuantileTransformer``);
  predictions stay within the training target's range.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tools.deadline import ESTIMATE_SAFETY, Deadline

log = logging.getLogger(__name__)

SKEW_TO_TRY = 1.0
"""A regression target with at least this absolute skew gets the transform comparison."""

MIN_GAIN = 0.01
"""A transform is kept only if it improves the mean CV score by at least this share, and
beats no transform on every compared fold (a noisy one-fold win does not count)."""

COMPARE_FAMILY_PARAMS = {"n_estimators": 100, "learning_rate": 0.1}
"""Cheaper settings of the family used for the comparison (LightGBM by default)."""

COMPARE_FOLDS = 3


@dataclass(frozen=True, slots=True)
class TransformChoice:
    """The outcome of :func:`compare_target_transforms`."""

    chosen: str
    scores: dict[str, float] = field(default_factory=dict)
    """Transform -> mean CV value of the metric (natural units) for each one compared."""
    family: str = ""
    note: str = ""
    """A plain sentence for the run's notes (empty when nothing was compared)."""


def compare_target_transforms(
    X: pd.DataFrame,
    y: pd.Series,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    columns: tuple[tuple[str, str], ...],
    spec: Any,
    family: str = "lightgbm",
    candidates: Sequence[str] = ("log", "quantile"),
    seed: int = 0,
    deadline: Deadline | None = None,
    derived: tuple[tuple[str, str], ...] = (),
) -> TransformChoice:
    """Cross-validate ``family`` with no transform and with each of ``candidates``.

    A candidate is chosen only if its mean score beats no transform by at
    least :data:`MIN_GAIN` (relative); otherwise ``"none"``. Uses at most
    :data:`COMPARE_FOLDS` of ``splits``. Once ``deadline`` passes the comparison
    stops and keeps ``"none"``; every fit stops at it.

    Args:
        X: Features (original columns); y: the regression target.
        splits: ``(train_rows, valid_rows)`` positional pairs.
        columns: ``(name, kind)`` pairs the model uses.
        spec: The metric (:func:`tools.metrics.resolve_metric`).
        family: The model family to compare with (cheap settings, see
            :data:`COMPARE_FAMILY_PARAMS` for LightGBM).
        candidates: Transforms to try besides ``"none"``.
        derived: Derived features of the plan (``(name, expression)`` pairs, see
            :mod:`tools.features`), listed in ``columns`` as numeric.
    """
    from tools.models.estimator import TabularModel

    params = dict(COMPARE_FAMILY_PARAMS) if family == "lightgbm" else None
    used = list(splits)[:COMPARE_FOLDS]
    scores: dict[str, float] = {}
    per_fold: dict[str, list[float]] = {}
    for transform in ("none", *candidates):
        values: list[float] = per_fold.setdefault(transform, [])
        for train_rows, valid_rows in used:
            if deadline is not None and deadline.passed():
                log.info("target_transform_compare_out_of_time transform=%s", transform)
                return TransformChoice("none", scores, family, "")
            model = TabularModel(
                family,
                "regression",
                columns,
                params=params,
                seed=seed,
                derived=derived,
                target_transform=transform,
            )
            model.fit(X.iloc[train_rows], y.iloc[train_rows], deadline=deadline)
            predicted = model.predict(X.iloc[valid_rows])
            values.append(float(spec.compute(y.iloc[valid_rows], predicted, None, classes=None)))
        scores[transform] = float(np.mean(values))
    base = spec.to_score(scores["none"])
    best = max(candidates, key=lambda t: spec.to_score(scores[t]))
    gain = (spec.to_score(scores[best]) - base) / max(abs(scores["none"]), 1e-12)
    every_fold = all(
        spec.to_score(mine) > spec.to_score(theirs)
        for mine, theirs in zip(per_fold[best], per_fold["none"], strict=True)
    )
    chosen = best if gain >= MIN_GAIN and every_fold else "none"
    words = {"log": "log-transformed", "quantile": "quantile-transformed"}
    shown = ", ".join(
        f"{t if t != 'none' else 'untransformed'} {scores[t]:.4g}" for t in ("none", *candidates)
    )
    if chosen == "none":
        note = (
            f"The target is skewed, but no transform helped in cross-validation "
            f"({spec.label} with a quick {family}: {shown}); it was kept as is."
        )
    else:
        note = (
            f"The target was {words[chosen]} for every model: cross-validated {spec.label} "
            f"{scores[chosen]:.4g} vs {scores['none']:.4g} untransformed (quick {family})."
        )
    log.info("target_transform chosen=%s scores=%s", chosen, scores)
    return TransformChoice(chosen, scores, family, note)


COMPARE_WITH = {"tree": "lightgbm", "scaled": "ridge"}
"""The cheap strong family that decides the target transform for each preprocessing style."""

TRANSFORM_SHARE = 0.2
"""The comparison runs only if it should take at most this share of the budget."""


def choose_target_transforms(
    X: pd.DataFrame,
    y: pd.Series,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    plan: Any,
    profile: Any,
    columns: tuple[tuple[str, str], ...],
    spec: Any,
    n_unique: Mapping[str, int] | None = None,
    deadline: Deadline | None = None,
    notes: list[str] | None = None,
) -> tuple[dict[str, str], dict[str, dict[str, float]]]:
    """The plan's target transform per preprocessing style ("tree", "scaled"), and the CV
    scores behind it.

    ``plan.target_transform`` other than "auto" applies to every style. For
    "auto" on a regression target with ``|skew| >=`` :data:`SKEW_TO_TRY`, tree
    families follow a quick LightGBM comparison and scaled families (linear,
    kNN, MLP) a ridge one: a log target that helps boosting often hurts a linear
    fit, and the other way round. A comparison that would take more than
    :data:`TRANSFORM_SHARE` of ``plan.budget_s`` is skipped (no transform).
    Sentences for the run's notes are appended to ``notes``.
    """
    from tools.models.families import MODEL_FAMILIES
    from tools.models.kinds import CLASSIFICATION
    from tools.models.preprocessing import encoded_width

    notes = notes if notes is not None else []
    styles = sorted({MODEL_FAMILIES[name].preprocessing for name in plan.models})
    if plan.task in CLASSIFICATION:
        return dict.fromkeys(styles, "none"), {}
    if plan.target_transform != "auto":
        return dict.fromkeys(styles, plan.target_transform), {}
    skew = float((getattr(profile, "target_summary", None) or {}).get("skew", 0.0) or 0.0)
    if not math.isfinite(skew) or abs(skew) < SKEW_TO_TRY:
        return dict.fromkeys(styles, "none"), {}
    chosen = dict.fromkeys(styles, "none")
    scores: dict[str, dict[str, float]] = {}
    n_folds = min(COMPARE_FOLDS, len(splits))
    n_train = int(np.mean([len(train_rows) for train_rows, _ in splits])) if splits else 0
    for style in styles:
        name = COMPARE_WITH[style]
        family = MODEL_FAMILIES[name]
        width = encoded_width(columns, preprocessing=family.preprocessing, n_unique=n_unique)
        # Three variants (LightGBM at half its default trees) on up to three folds.
        estimate = 3 * n_folds * 0.5 * family.estimate_fit_s(n_train, width) * ESTIMATE_SAFETY
        if estimate > TRANSFORM_SHARE * plan.budget_s:
            notes.append(
                f"The target is skewed (skew {skew:.1f}), but the budget left no time to "
                f"compare a log transform for the {style}-based models; kept as is."
            )
            continue
        try:
            choice = compare_target_transforms(
                X,
                y,
                splits,
                columns=columns,
                spec=spec,
                family=name,
                seed=plan.seed,
                deadline=deadline,
                derived=tuple((f.name, f.expression) for f in plan.derived_features),
            )
        except Exception:  # the comparison is an optimisation; training goes on without it
            log.warning("target_transform_compare_failed family=%s", name, exc_info=True)
            continue
        chosen[style] = choice.chosen
        scores[style] = dict(choice.scores)
        if choice.note:
            notes.append(choice.note.replace("for every model", f"for the {style}-based models"))
    return chosen, scores


def transforms_by_family(styles: Mapping[str, str], families: Sequence[str]) -> dict[str, str]:
    """Family -> transform, from the per-style choice of :func:`choose_target_transforms`."""
    from tools.models.families import MODEL_FAMILIES

    return {name: styles.get(MODEL_FAMILIES[name].preprocessing, "none") for name in families}
