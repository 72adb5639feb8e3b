""" "Why is X important?": a feature's rank, its relationship with the target in plain numbers, and a partial-dependence figure."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from tools.errors import UserFacingError
from tools.explain.common import Task, _classes, _fmt, _focus_class, _safe_name
from tools.explain.importance import FeatureImportance
from tools.figures import (
    FigureArtifact,
    Series,
    line_chart,
)

_MAX_PD_ROWS = 500

_PD_GRID = 20

_MAX_GROUPS = 10


@dataclass(frozen=True, slots=True)
class GroupStat:
    """One group of a feature's values and the target within it."""

    label: str
    count: int
    target_mean: float
    """Mean target (regression) or the share of the reported class (classification)."""
    center: float | None = None
    """Median of the feature within a numeric or date group (seconds since 1970 for dates)."""


@dataclass(frozen=True, slots=True)
class FeatureExplanation:
    """Answer to "why is this feature important?"."""

    feature: str
    kind: Literal["numeric", "categorical", "datetime"]
    rank: int | None
    """Permutation-importance rank (1 = most important); ``None`` when not computed."""
    importance: float | None
    n_features: int
    correlation: float | None
    """Spearman correlation with the target (regression or binary), else ``None``."""
    target_label: str
    """What ``GroupStat.target_mean`` measures, e.g. ``"mean price"`` or ``"share of 'yes'"``."""
    groups: tuple[GroupStat, ...]
    partial_dependence: tuple[tuple[str, float], ...]
    """Model's average prediction when every row gets this value (``target_label`` units)."""
    figure: FigureArtifact
    insights: tuple[str, ...]


def explain_feature(
    model: Any,
    frame: pd.DataFrame,
    y: Sequence[Any] | np.ndarray | pd.Series,
    feature: str,
    *,
    task: Task,
    out_dir: Path,
    importance: Sequence[FeatureImportance] = (),
    max_rows: int = _MAX_PD_ROWS,
    seed: int = 0,
    words: tuple[str, str] | None = None,
) -> FeatureExplanation:
    """Explain one feature: its importance rank, its link with the target, its partial dependence.

    Args:
        model: Fitted model taking a raw DataFrame.
        frame: Training features (original columns).
        y: Training target.
        feature: Column name, spelled as in ``frame``.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        out_dir: Folder for the figure.
        importance: Importances from :func:`explain_model`, for the rank.
        max_rows: Rows sampled for partial dependence.
        seed: Seed for the row sample.
        words: The file's (false, true) words of a yes/no feature, to label its groups.
    """
    if feature not in frame.columns:
        known = ", ".join(map(str, list(frame.columns)[:20]))
        raise UserFacingError(
            f"There is no feature named “{feature}”. The model's features are: {known}."
        )
    y_true = pd.Series(np.asarray(y), index=frame.index)
    classes = _classes(model, y_true.to_numpy(), task)
    focus = _focus_class(classes, y_true) if task != "regression" else None
    if task == "regression":
        target_label = "mean target"
        target_values = pd.to_numeric(y_true, errors="coerce").astype(float)
    else:
        target_label = f"share of “{focus}”"
        target_values = (y_true == focus).astype(float)
    values = frame[feature]
    kind = _feature_kind(values)
    groups = _grouped_target(values, target_values, kind)
    correlation = _spearman(values, target_values, kind) if task != "multiclass" else None
    pd_grid = _partial_dependence(model, frame, feature, kind, task, classes, focus, max_rows, seed)
    if words is not None and kind == "categorical":  # "yes"/"no" as the file says, not True/False
        spelled = {"False": words[0], "True": words[1]}
        groups = [dataclasses.replace(g, label=spelled.get(g.label, g.label)) for g in groups]
        pd_grid = [(spelled.get(label, label), x, a) for label, x, a in pd_grid]
    pd_points = [(label, average) for label, _, average in pd_grid]

    by_column = {i.column: i for i in importance}
    found = by_column.get(feature)
    observed = [g for g in groups if g.label != "(missing)"]
    if kind == "categorical":
        observed_x: list[Any] = [g.label for g in observed]
    elif kind == "datetime":
        observed_x = [pd.Timestamp(g.center, unit="s").to_pydatetime() for g in observed]
    else:
        observed_x = [g.center for g in observed]
    # categories are drawn by their labels: matplotlib cannot mix True/False with text
    pd_x = [label if kind == "categorical" else x for label, x, _ in pd_grid]
    series = [
        Series("model (partial dependence)", pd_x, [a for _, _, a in pd_grid]),
        Series("observed", observed_x, [g.target_mean for g in observed]),
    ]
    figure = line_chart(
        f"feature_{_safe_name(feature)}",
        f"{feature}: {target_label} by value",
        series,
        x_label=feature,
        y_label=target_label,
        out_dir=out_dir,
    )
    insights = _feature_insights(
        feature, found, len(importance), correlation, groups, pd_points, target_label
    )
    return FeatureExplanation(
        feature=feature,
        kind=kind,
        rank=found.rank if found else None,
        importance=found.mean if found else None,
        n_features=len(importance),
        correlation=correlation,
        target_label=target_label,
        groups=tuple(groups),
        partial_dependence=tuple(pd_points),
        figure=figure,
        insights=tuple(insights),
    )


def _feature_kind(values: pd.Series) -> Literal["numeric", "categorical", "datetime"]:
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "categorical"
    return "numeric" if values.nunique(dropna=True) > _MAX_GROUPS else "categorical"


def _as_number(values: pd.Series, kind: str) -> pd.Series:
    if kind == "datetime":
        stamps = values.dt.tz_localize(None) if values.dt.tz is not None else values
        return ((stamps - pd.Timestamp(0)) / pd.Timedelta(seconds=1)).astype(float)
    return pd.to_numeric(values, errors="coerce").astype(float)


def _grouped_target(values: pd.Series, target: pd.Series, kind: str) -> list[GroupStat]:
    if kind == "categorical":
        labels = values.astype("object").where(values.notna(), "(missing)").astype(str)
        top = labels.value_counts().index[:_MAX_GROUPS]
        labels = labels.where(labels.isin(top), "(other)")
        grouped = target.groupby(labels, sort=False).agg(["count", "mean"])
        grouped = grouped.sort_values("count", ascending=False)
        return [
            GroupStat(label=str(label), count=int(row["count"]), target_mean=float(row["mean"]))
            for label, row in grouped.iterrows()
        ]
    numbers = _as_number(values, kind)
    present = numbers.notna()
    bins = pd.qcut(
        numbers[present], q=min(_MAX_GROUPS, int(numbers[present].nunique())), duplicates="drop"
    )
    grouped = target[present].groupby(bins, observed=True).agg(["count", "mean"])
    centers = numbers[present].groupby(bins, observed=True).median()
    stats = [
        GroupStat(
            label=_interval_label(interval, kind),
            count=int(row["count"]),
            target_mean=float(row["mean"]),
            center=float(centers[interval]),
        )
        for interval, row in grouped.iterrows()
    ]
    if (~present).any():
        stats.append(GroupStat("(missing)", int((~present).sum()), float(target[~present].mean())))
    return stats


def _interval_label(interval: pd.Interval, kind: str) -> str:
    if kind == "datetime":
        low = pd.Timestamp(interval.left, unit="s").date()
        high = pd.Timestamp(interval.right, unit="s").date()
        return f"{low}–{high}"
    return f"{_fmt(interval.left)}–{_fmt(interval.right)}"


def _spearman(values: pd.Series, target: pd.Series, kind: str) -> float | None:
    if kind == "categorical":
        return None
    numbers = _as_number(values, kind)
    both = numbers.notna() & target.notna()
    if both.sum() < 3 or numbers[both].nunique() < 2 or target[both].nunique() < 2:
        return None
    return float(numbers[both].rank().corr(target[both].rank()))


def _partial_dependence(
    model: Any,
    frame: pd.DataFrame,
    feature: str,
    kind: str,
    task: Task,
    classes: list[Any],
    focus: Any,
    max_rows: int,
    seed: int,
) -> list[tuple[str, Any, float]]:
    """``(label, value, average prediction)`` with ``feature`` set to each grid value."""
    rng = np.random.default_rng(seed)
    sample = frame
    if len(frame) > max_rows:
        sample = frame.iloc[np.sort(rng.choice(len(frame), max_rows, replace=False))]
    column = frame[feature]
    if kind == "categorical":
        grid = list(column.dropna().value_counts().index[:_MAX_GROUPS])
        labels = [str(v) for v in grid]
    else:
        quantiles = np.linspace(0.05, 0.95, _PD_GRID)
        present = column.dropna()
        if kind == "datetime":
            grid = [pd.Timestamp(v) for v in present.quantile(quantiles).drop_duplicates()]
            labels = [str(v.date()) for v in grid]
        else:
            grid = list(np.unique(np.quantile(present.astype(float), quantiles)))
            labels = [_fmt(v) for v in grid]
    points = []
    for label, value in zip(labels, grid, strict=True):
        changed = sample.copy()
        changed[feature] = pd.Series([value] * len(changed), index=changed.index).astype(
            column.dtype
        )
        if task == "regression":
            average = float(np.mean(np.asarray(model.predict(changed), dtype=float)))
        else:
            proba = np.asarray(model.predict_proba(changed), dtype=float)
            average = float(proba[:, classes.index(focus)].mean())
        x = value.to_pydatetime() if kind == "datetime" else value
        points.append((label, x if kind != "numeric" else float(value), average))
    return points


def _feature_insights(
    feature: str,
    found: FeatureImportance | None,
    n_features: int,
    correlation: float | None,
    groups: Sequence[GroupStat],
    pd_points: Sequence[tuple[str, float]],
    target_label: str,
) -> list[str]:
    sentences = []
    if found is not None:
        sentences.append(
            f"{feature} ranks {found.rank} of {n_features} by permutation importance: "
            f"shuffling it lowers the score by {_fmt(found.mean)} (± {_fmt(found.std)})."
        )
    if correlation is not None:
        strength = (
            "strong"
            if abs(correlation) >= 0.5
            else "moderate"
            if abs(correlation) >= 0.3
            else "weak"
        )
        direction = "rises" if correlation > 0 else "falls"
        sentences.append(
            f"The {target_label} {direction} with {feature} "
            f"(Spearman correlation {correlation:+.2f}, {strength})."
        )
    real = [g for g in groups if g.label not in {"(missing)", "(other)"} and g.count > 0]
    if len(real) >= 2:
        low = min(real, key=lambda g: g.target_mean)
        high = max(real, key=lambda g: g.target_mean)
        sentences.append(
            f"In the data, the {target_label} is {_fmt(high.target_mean)} when {feature} is "
            f"{high.label} ({high.count} rows) and {_fmt(low.target_mean)} when it is "
            f"{low.label} ({low.count} rows)."
        )
    if len(pd_points) >= 2:
        values = [p[1] for p in pd_points]
        sentences.append(
            f"Holding everything else fixed, the model's average {target_label} moves between "
            f"{_fmt(min(values))} and {_fmt(max(values))} as {feature} varies."
        )
    return sentences
