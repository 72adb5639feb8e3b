"""The one cross-validation core: which columns are features, which rows are searched
(a seeded sample of big tables), single-row classes, and the folds.

Training, tuning, the target-transform choice and feature selection all take their
rows (:func:`prepare`) and folds (:func:`splits`) from here, so the same plan and rows
give the same folds everywhere and their out-of-fold predictions line up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from tools.errors import DataError
from tools.models.kinds import CLASSIFICATION, USED_KINDS
from tools.plan import Plan

MAX_SEARCH_ROWS = 200_000
"""Candidates are compared on at most this many rows (a seeded sample); the winner's refit uses all."""

SEARCH_ROWS_PER_BUDGET_S = 2_000
"""... and at most this many rows per second of budget (60 s: 120,000 rows)."""

MIN_SEARCH_ROWS = 2_000
"""The sample is never shrunk below this many rows to fit a short budget."""


@dataclass(frozen=True, slots=True)
class Split:
    """One fold: positional rows (of the prepared ``y``) to fit on and to validate on."""

    train: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True, slots=True)
class SearchData:
    """The table as every search step sees it: positional index, the target present."""

    table: pd.DataFrame
    """Original columns; models select their own (no copy of a big table)."""
    y: pd.Series
    classes: np.ndarray | None
    """Class labels (classification), positive class last for binary; else None."""
    features: list[str]
    columns: tuple[tuple[str, str], ...]
    """``(name, kind)`` of every model input, derived features included."""
    derived: tuple[tuple[str, str], ...]
    profile: Any
    n_missing_target: int


def prepare(frame: pd.DataFrame, plan: Plan, *, profile: Any, notes: list[str]) -> SearchData:
    """Rows with a missing target dropped (noted), the profile for ``plan.target``, the
    feature columns, classes with a single row dropped (noted: they cannot be validated),
    and the target as numbers (regression) or labels in class order (classification)."""
    from tools.analyze.profile import profile_table
    from tools.analyze.task import prepare_target
    from tools.classes import class_order
    from tools.features import derived_columns
    from tools.models.preprocessing import column_kinds

    table, n_dropped = prepare_target(frame, plan.target)
    if n_dropped:
        notes.append(f"{n_dropped} rows with a missing target were dropped.")
    if profile is None or profile.target != plan.target:
        profile = profile_table(table, target=plan.target, seed=plan.seed)
    if not table.index.equals(pd.RangeIndex(len(table))):
        table = table.reset_index(drop=True)
    features = feature_columns(profile, plan)
    columns = column_kinds(profile, features) + derived_columns(plan.derived_features)
    y = table[plan.target]
    if plan.task in CLASSIFICATION:
        table, y = drop_singleton_classes(table, y, notes)
        classes: np.ndarray | None = class_order(y, task=plan.task, positive=plan.positive_class)
    else:
        y = pd.Series(pd.to_numeric(y, errors="coerce"), name=plan.target).astype(np.float64)
        classes = None
    return SearchData(
        table=table,
        y=y,
        classes=classes,
        features=features,
        columns=columns,
        derived=tuple((f.name, f.expression) for f in plan.derived_features),
        profile=profile,
        n_missing_target=n_dropped,
    )


def feature_columns(profile: Any, plan: Plan) -> list[str]:
    """The profile's usable columns minus the target and the plan's dropped columns."""
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


def drop_singleton_classes(
    table: pd.DataFrame, y: pd.Series, notes: list[str]
) -> tuple[pd.DataFrame, pd.Series]:
    """``table`` and ``y`` without the rows of classes that have one row (noted)."""
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


def splits(
    time_values: pd.Series | None, y: pd.Series, rows: np.ndarray, plan: Plan, notes: list[str]
) -> list[Split]:
    """The plan's validation folds over positional ``rows`` of ``y``: a time split (by
    ``time_values``), a stratified holdout, or (stratified) k-fold, all seeded by the plan."""
    y_rows = y.iloc[rows]
    is_classification = plan.task in CLASSIFICATION
    if plan.validation == "time_split":
        when = order_key(time_values, rows)
        ordered = rows[np.argsort(when, kind="stable")]
        cut = round(len(ordered) * (1 - plan.holdout_fraction))
        cut = min(max(cut, 1), len(ordered) - 1)
        return [Split(np.sort(ordered[:cut]), np.sort(ordered[cut:]))]
    if plan.validation == "holdout":
        stratify = y_rows if is_classification and y_rows.value_counts().min() >= 2 else None
        train_rows, valid_rows = train_test_split(
            rows, test_size=plan.holdout_fraction, random_state=plan.seed, stratify=stratify
        )
        return [Split(np.sort(train_rows), np.sort(valid_rows))]
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
    return [Split(rows[tr], rows[va]) for tr, va in parts]


def order_key(column: pd.Series | None, rows: np.ndarray) -> np.ndarray:
    """Sort keys of ``rows`` by a time column (numbers or dates; missing last)."""
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
