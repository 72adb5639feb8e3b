"""Profile a table: column kinds, statistics, the task a target implies, and expert warnings.

The profile is cheap on large tables: exact per-column statistics are vectorised,
and the expensive checks (near-duplicate columns, single-feature leakage) run on
a seeded sample of at most 5,000 rows.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from tools.errors import DataError, TargetError
from tools.io.load import resolve_column

log = logging.getLogger(__name__)

Task = Literal["binary", "multiclass", "regression"]
TaskChoice = Literal["classification", "regression"]
"""What a user may force the task to be ("treat it as regression")."""
ColumnKind = Literal["numeric", "categorical", "boolean", "datetime", "text", "id", "constant"]

MAX_CLASSES_FOR_INTEGER_TARGET = 20
"""An integer target with at most this many distinct values (and few per row) is a class label."""
MAX_CLASS_SHARE_OF_ROWS = 0.05
"""... and its distinct values are at most this share of the rows."""
MAX_FORCED_CLASSES = 100
"""A target treated as classification on request may have at most this many distinct values."""
LEAKAGE_THRESHOLD = 0.98
"""A single feature scoring this well alone (ROC AUC, balanced accuracy or R2) is a likely leak."""
LEAKAGE_SAMPLE_ROWS = 5_000
LEAKAGE_TREE_CHECKS = 10
"""How many of the best single numeric features are re-checked with a small tree."""
HIGH_CARDINALITY = 50
IMBALANCE_RATIO = 0.1
HEAVY_TAIL_SKEW = 2.0
FEW_ROWS = 100
DUPLICATE_ROWS_SHARE = 0.01

_ID_NAME = re.compile(r"(^|[_\s\-.])(id|uuid|guid|key|index|idx)$|^(id|uuid|guid)[_\s\-.]", re.I)


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """What one column holds."""

    name: str
    kind: ColumnKind
    dtype: str
    missing_share: float
    n_unique: int
    stats: dict[str, float | str | int]
    """numeric: mean, std, min, p50, max, skew; categorical/text/constant: top_1..top_5 with
    top_N_count; boolean: true_share; datetime: min, max (ISO); id: unique_share."""


@dataclass(frozen=True, slots=True)
class DataWarning:
    """Something an expert would point out about the data."""

    code: str
    """One of: id_like, constant, near_duplicate, leakage, high_cardinality, imbalance,
    heavy_tail, missing_target, few_rows, duplicate_rows."""
    column: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Profile:
    """A table's profile, optionally relative to a target column."""

    n_rows: int
    n_columns: int
    columns: tuple[ColumnProfile, ...]
    target: str | None
    task: Task | None
    task_reason: str
    target_summary: dict[str, Any]
    warnings: tuple[DataWarning, ...]
    meta_features: dict[str, float]
    n_rows_dropped_missing_target: int
    leaking_columns: tuple[str, ...] = field(default=())
    """Features flagged as likely target leaks (also listed in ``warnings``)."""

    def column(self, name: str) -> ColumnProfile:
        """Return the profile of a column (names matched like :func:`resolve_column`)."""
        resolved = resolve_column([c.name for c in self.columns], name)
        return next(c for c in self.columns if c.name == resolved)

    def feature_columns(self) -> list[str]:
        """Usable features: not the target, not ID-like, not constant (leaks are kept)."""
        return [
            c.name
            for c in self.columns
            if c.name != self.target and c.kind not in ("id", "constant")
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (NaN and infinities become None)."""
        return _jsonable(asdict(self))

    def summary(self, *, max_chars: int = 2_000) -> str:
        """A compact text for a language model: shape, task, kinds, warnings. No rows."""
        kinds: dict[str, list[str]] = {}
        for column in self.columns:
            if column.name != self.target:
                kinds.setdefault(column.kind, []).append(column.name)
        lines = [f"{self.n_rows:,} rows x {self.n_columns} columns."]
        if self.target:
            lines.append(f"Target '{self.target}': {self.task}. {self.task_reason}")
            summary = self.target_summary
            if "classes" in summary:
                counts = list(summary["classes"].items())
                shown = ", ".join(f"{label} {count:,}" for label, count in counts[:10])
                more = f", and {len(counts) - 10} more classes" if len(counts) > 10 else ""
                lines.append(f"Target classes: {shown}{more}.")
            elif "mean" in summary:
                lines.append(
                    f"Target values: mean {summary['mean']:.4g}, median {summary['p50']:.4g}, "
                    f"range {summary['min']:.4g} to {summary['max']:.4g}."
                )
        for kind, names in kinds.items():
            lines.append(f"{kind}: {', '.join(names[:15])}{' ...' if len(names) > 15 else ''}")
        gaps = sorted(
            (c for c in self.columns if c.missing_share > 0), key=lambda c: -c.missing_share
        )
        if gaps:
            shown = ", ".join(f"{c.name} {c.missing_share:.0%}" for c in gaps[:10])
            more = f" and {len(gaps) - 10} more" if len(gaps) > 10 else ""
            lines.append(f"Missing values: {shown}{more}.")
        lines.extend(f"Warning ({w.code}): {w.message}" for w in self.warnings)
        text = "\n".join(lines)
        return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


def infer_task(target: pd.Series) -> tuple[Task, str]:
    """Infer the task from a target column; returns (task, the rule applied in one sentence).

    Rule: a non-numeric or boolean target is classification (2 classes binary,
    else multiclass). A numeric whole-number target with at most 20 distinct
    values that are at most 5% of the rows (or with at most 2 values) is
    classification. Anything else numeric is regression.
    """
    name = str(target.name)
    values = target.dropna()
    n_unique = int(values.nunique())
    if n_unique < 2:
        raise TargetError(
            f"The target “{name}” has {'no values' if n_unique == 0 else 'only one value'}, "
            "so there is nothing to learn. Pick a column whose value varies."
        )
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        raise TargetError(
            f"The target “{name}” holds dates. Pick a numeric or categorical column to predict."
        )
    is_bool = pd.api.types.is_bool_dtype(values.dtype)
    if is_bool or not pd.api.types.is_numeric_dtype(values.dtype):
        task: Task = "binary" if n_unique == 2 else "multiclass"
        what = "true/false" if is_bool else "non-numeric"
        return task, (
            f"The target “{name}” is {what} with {n_unique} distinct values, so this is "
            f"{_task_words(task)}."
        )
    numbers = values.to_numpy(dtype=float)
    is_whole = bool(np.all(np.isfinite(numbers)) and np.all(np.mod(numbers, 1) == 0))
    share = n_unique / max(len(values), 1)
    if n_unique <= 2 or (
        is_whole and n_unique <= MAX_CLASSES_FOR_INTEGER_TARGET and share <= MAX_CLASS_SHARE_OF_ROWS
    ):
        task = "binary" if n_unique == 2 else "multiclass"
        if n_unique <= 2:
            why = "has only 2 distinct values"
        else:
            why = (
                f"holds whole numbers with {n_unique} distinct values (at most "
                f"{MAX_CLASSES_FOR_INTEGER_TARGET}, and at most {MAX_CLASS_SHARE_OF_ROWS:.0%} "
                "of the rows)"
            )
        return task, (
            f"The numeric target “{name}” {why}, so its values are treated as classes: "
            f"{_task_words(task)}."
        )
    if is_whole:
        why = (
            f"holds whole numbers with {n_unique:,} distinct values ({share:.1%} of the rows), "
            f"more than {MAX_CLASSES_FOR_INTEGER_TARGET} or more than "
            f"{MAX_CLASS_SHARE_OF_ROWS:.0%} of the rows"
        )
    else:
        why = f"is numeric with fractional values ({n_unique:,} distinct)"
    return "regression", f"The target “{name}” {why}, so this is regression."


def choose_task(target: pd.Series, wanted: TaskChoice | None = None) -> tuple[Task, str]:
    """The task of a target: inferred (:func:`infer_task`), or as the user asked.

    A numeric target can be a classification (at most :data:`MAX_FORCED_CLASSES`
    values); a text or yes/no target cannot be a regression.

    Raises:
        TargetError: the asked task does not fit the column, in one sentence.
    """
    if wanted is None:
        return infer_task(target)
    if wanted not in ("classification", "regression"):
        raise TargetError(f"The task can be “classification” or “regression”, not “{wanted}”.")
    inferred, reason = infer_task(target)
    name = str(target.name)
    values = target.dropna()
    if wanted == "regression":
        if inferred == "regression":
            return inferred, reason
        is_bool = pd.api.types.is_bool_dtype(values.dtype)
        if is_bool or not pd.api.types.is_numeric_dtype(values.dtype):
            example = _short(values.iloc[0], 30)
            raise TargetError(
                f"The target “{name}” holds {'yes/no values' if is_bool else 'text'} (such as "
                f"“{example}”), not numbers, so it cannot be treated as a regression; "
                "keep it a classification or pick a numeric column."
            )
        return "regression", (
            f"The numeric target “{name}” is treated as a regression, as asked "
            f"(it would otherwise be {_task_words(inferred)})."
        )
    if inferred != "regression":
        return inferred, reason
    n_unique = int(values.nunique())
    if n_unique > MAX_FORCED_CLASSES:
        raise TargetError(
            f"The target “{name}” has {n_unique:,} distinct values, too many to treat as classes "
            f"(at most {MAX_FORCED_CLASSES}); keep it a regression or pick another column."
        )
    task: Task = "binary" if n_unique == 2 else "multiclass"
    return task, (
        f"The numeric target “{name}” is treated as classes, as asked: {_task_words(task)} "
        f"with {n_unique} classes."
    )


def prepare_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, int]:
    """Drop rows whose target is missing; returns (frame, number of rows dropped).

    Raises:
        TargetError: the column does not exist (closest names suggested), is all
            missing, is constant, or is non-numeric with a different value in
            (almost, >= 90%) every row (an identifier, not something to predict).
    """
    name = resolve_column(frame.columns, target)
    column = frame[name]
    missing = column.isna()
    if pd.api.types.is_float_dtype(column.dtype):
        missing |= np.isinf(column.to_numpy(dtype=float, na_value=np.nan))
    n_missing = int(missing.sum())
    if n_missing == len(frame):
        raise TargetError(
            f"The target “{name}” is empty in every row, so there is nothing to learn. "
            "Pick a column that has values."
        )
    kept = frame.loc[~missing].reset_index(drop=True) if n_missing else frame
    values = kept[name]
    n_unique = int(values.nunique())
    if n_unique == 1:
        raise TargetError(
            f"The target “{name}” has the same value (“{values.iloc[0]}”) in every row, so "
            "there is nothing to learn. Pick a column whose value varies."
        )
    is_numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    )
    if _is_row_number(values, n_unique):
        raise TargetError(
            f"The target “{name}” numbers the rows (a different whole number in every row, "
            "one after another), like an ID, so there is nothing to learn. Pick the column "
            "that holds the outcome."
        )
    if not is_numeric and len(values) > 20 and n_unique >= 0.9 * len(values):
        every = "every row" if n_unique == len(values) else "almost every row"
        raise TargetError(
            f"The target “{name}” has a different value in {every}, like an ID or a name, "
            "so a model cannot learn to predict it. Pick the column that holds the outcome."
        )
    return kept, n_missing


def _is_row_number(values: pd.Series, n_unique: int) -> bool:
    if not pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return False
    if len(values) <= 20 or n_unique != len(values):
        return False
    return float(values.max()) - float(values.min()) + 1 <= 1.1 * n_unique


def profile_table(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    seed: int = 0,
    task: TaskChoice | None = None,
) -> Profile:
    """Profile every column and, with a target, infer the task and check for leaks.

    ``task`` ("classification" or "regression") overrides the inferred task
    (see :func:`choose_task`).

    Raises:
        TargetError: the target does not exist or cannot be learned (see
            :func:`prepare_target`).
        DataError: the frame repeats a column name.
    """
    if not frame.columns.is_unique:
        repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise DataError(
            "The table has repeated column names ("
            + ", ".join(f"“{c}”" for c in repeated[:5])
            + "); give every column its own name. (load_table renames them for you.)"
        )
    target_name = resolve_column(frame.columns, target) if target is not None else None
    columns = tuple(_profile_column(frame[name], len(frame)) for name in frame.columns)
    kinds = {c.name: c.kind for c in columns}
    warnings: list[DataWarning] = []
    for column in columns:
        if column.name == target_name:
            continue
        warnings.extend(_column_warnings(column, len(frame)))

    wanted, task = task, None
    task_reason = "No target given yet."
    target_summary: dict[str, Any] = {}
    n_dropped = 0
    prepared = frame
    if target_name is not None:
        prepared, n_dropped = prepare_target(frame, target_name)
        task, task_reason = choose_task(prepared[target_name], wanted)
        target_summary = _target_summary(prepared[target_name], task)
        target_summary["n_missing"] = n_dropped
        warnings.extend(_target_warnings(target_name, task, target_summary, n_dropped, len(frame)))
    duplicates = _duplicate_rows(frame)
    if duplicates is not None:
        warnings.append(duplicates)
    rng = np.random.default_rng(seed)
    sample = _sample_rows(prepared, LEAKAGE_SAMPLE_ROWS, rng)
    warnings.extend(_near_duplicates(sample, kinds, target_name))
    leaks: list[str] = []
    if target_name is not None and task is not None:
        leak_warnings = _leakage(sample, kinds, target_name, task, seed)
        leaks = [w.column for w in leak_warnings if w.column is not None]
        warnings.extend(leak_warnings)
    meta = _meta_features(frame, columns, target_name, task, target_summary)
    warnings = _collapse_repeats(warnings)
    log.info(
        "profile_table rows=%d columns=%d task=%s warnings=%d",
        len(frame),
        frame.shape[1],
        task,
        len(warnings),
    )
    return Profile(
        n_rows=len(frame),
        n_columns=frame.shape[1],
        columns=columns,
        target=target_name,
        task=task,
        task_reason=task_reason,
        target_summary=target_summary,
        warnings=tuple(warnings),
        meta_features=meta,
        n_rows_dropped_missing_target=n_dropped,
        leaking_columns=tuple(leaks),
    )


# --- columns -----------------------------------------------------------------------------


def _profile_column(series: pd.Series, n_rows: int) -> ColumnProfile:
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iuf":
        return _profile_numpy_column(series, n_rows)
    name = str(series.name)
    n_missing = int(series.isna().sum())
    missing_share = n_missing / n_rows if n_rows else 0.0
    values = series.dropna()
    n_unique = int(values.nunique())
    kind = _kind(series, values, n_unique, n_rows)
    stats: dict[str, float | str | int] = {}
    if kind == "numeric":
        numbers = values.to_numpy(dtype=float)
        numbers = numbers[np.isfinite(numbers)]
        if len(numbers):
            stats = {
                "mean": float(numbers.mean()),
                "std": float(numbers.std(ddof=1)) if len(numbers) > 1 else 0.0,
                "min": float(numbers.min()),
                "p50": float(np.median(numbers)),
                "max": float(numbers.max()),
                "skew": _skew(numbers),
            }
    elif kind == "boolean":
        stats = {"true_share": float(values.astype(float).mean()) if len(values) else 0.0}
    elif kind == "datetime":
        stats = {"min": values.min().isoformat(), "max": values.max().isoformat()}
    elif kind == "id":
        # Identifiers say nothing in aggregate, and their values should not reach a model.
        stats = {"unique_share": n_unique / max(len(values), 1)}
    elif len(values):
        counts = values.value_counts().head(5)
        for i, (value, count) in enumerate(counts.items(), start=1):
            stats[f"top_{i}"] = _short(value)
            stats[f"top_{i}_count"] = int(count)
    return ColumnProfile(
        name=name,
        kind=kind,
        dtype=str(series.dtype),
        missing_share=missing_share,
        n_unique=n_unique,
        stats=stats,
    )


def _profile_numpy_column(series: pd.Series, n_rows: int) -> ColumnProfile:
    """The numeric case without pandas overhead (wide tables have thousands of these)."""
    name = str(series.name)
    numbers = series.to_numpy(dtype=float)
    present = numbers[~np.isnan(numbers)]
    distinct = pd.unique(present)  # hashing: faster than sorting a million values
    n_unique = len(distinct)
    kind: ColumnKind = "numeric"
    if n_unique <= 1:
        kind = "constant"
    elif n_unique == 2 and set(distinct.tolist()) == {0, 1}:
        kind = "boolean"
    elif series.dtype.kind in "iu" and n_unique == len(present) and n_unique >= 20:
        span = distinct.max() - distinct.min() + 1
        if _ID_NAME.search(name) or span <= 1.1 * n_unique:
            kind = "id"
    stats: dict[str, float | str | int] = {}
    finite = present[np.isfinite(present)]
    if kind == "boolean":
        stats = {"true_share": float(present.mean())}
    elif kind == "id":
        stats = {"unique_share": 1.0}
    elif kind == "numeric" and len(finite):
        stats = {
            "mean": float(finite.mean()),
            "std": float(finite.std(ddof=1)) if len(finite) > 1 else 0.0,
            "min": float(finite.min()),
            "p50": float(np.median(finite)),
            "max": float(finite.max()),
            "skew": _skew(finite),
        }
    return ColumnProfile(
        name=name,
        kind=kind,
        dtype=str(series.dtype),
        missing_share=(n_rows - len(present)) / n_rows if n_rows else 0.0,
        n_unique=n_unique,
        stats=stats,
    )


def _kind(series: pd.Series, values: pd.Series, n_unique: int, n_rows: int) -> ColumnKind:
    if n_unique <= 1:
        return "constant"
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    n_valid = len(values)
    unique_share = n_unique / max(n_valid, 1)
    looks_like_id_name = bool(_ID_NAME.search(str(series.name)))
    if pd.api.types.is_numeric_dtype(dtype):
        if n_unique == 2 and set(np.unique(values.to_numpy())) <= {0, 1}:
            return "boolean"
        if pd.api.types.is_integer_dtype(dtype) and n_unique == n_valid and n_valid >= 20:
            span = float(values.max()) - float(values.min()) + 1
            if looks_like_id_name or span <= 1.1 * n_unique:
                return "id"
        return "numeric"
    text = values.astype(str)
    sample = text.iloc[:: max(1, len(text) // 2_000)]
    mean_length = float(sample.str.len().mean())
    mean_words = float(sample.str.count(r"\s+").mean()) + 1
    if n_valid >= 20 and unique_share >= 0.5 and (mean_words >= 4 or mean_length >= 40):
        return "text"
    if n_valid >= 20 and (unique_share >= 0.95 or (looks_like_id_name and unique_share >= 0.5)):
        return "id"
    return "categorical"


def _column_warnings(column: ColumnProfile, n_rows: int) -> list[DataWarning]:
    name = column.name
    if column.kind == "id":
        return [
            DataWarning(
                "id_like",
                name,
                f"“{name}” looks like an identifier ({column.n_unique:,} distinct values in "
                f"{n_rows:,} rows); it is left out of the features.",
            )
        ]
    if column.kind == "constant":
        return [
            DataWarning(
                "constant",
                name,
                f"“{name}” has {'no values' if column.n_unique == 0 else 'a single value'}; "
                "it carries no information and is left out.",
            )
        ]
    if column.kind == "categorical" and column.n_unique > HIGH_CARDINALITY:
        return [
            DataWarning(
                "high_cardinality",
                name,
                f"“{name}” has {column.n_unique:,} categories; they are target-encoded "
                "(each category replaced by its average target, learned without leaking).",
            )
        ]
    return []


def _target_summary(target: pd.Series, task: Task) -> dict[str, Any]:
    if task == "regression":
        numbers = target.to_numpy(dtype=float)
        return {
            "mean": float(numbers.mean()),
            "std": float(numbers.std(ddof=1)),
            "min": float(numbers.min()),
            "p50": float(np.median(numbers)),
            "max": float(numbers.max()),
            "skew": _skew(numbers),
        }
    counts = target.value_counts()
    shares = counts / counts.sum()
    return {
        "classes": {_short(k): int(v) for k, v in counts.items()},
        "n_classes": len(counts),
        "majority_share": float(shares.iloc[0]),
        "minority_share": float(shares.iloc[-1]),
        "minority_class": _short(counts.index[-1]),
    }


def _target_warnings(
    name: str, task: Task, summary: dict[str, Any], n_dropped: int, n_rows: int
) -> list[DataWarning]:
    warnings: list[DataWarning] = []
    if n_dropped:
        warnings.append(
            DataWarning(
                "missing_target",
                name,
                f"{n_dropped:,} of {n_rows:,} rows ({n_dropped / n_rows:.1%}) have no value for "
                f"“{name}”; they are dropped before training.",
            )
        )
    n_kept = n_rows - n_dropped
    if n_kept < FEW_ROWS:
        warnings.append(
            DataWarning(
                "few_rows",
                None,
                f"Only {n_kept:,} rows have a target; scores will be noisy and simple models "
                "are likely to do best. More rows would help most.",
            )
        )
    if task != "regression":
        ratio = summary["minority_share"] / summary["majority_share"]
        if ratio < IMBALANCE_RATIO:
            warnings.append(
                DataWarning(
                    "imbalance",
                    name,
                    f"The classes of “{name}” are imbalanced: “{summary['minority_class']}” is "
                    f"{summary['minority_share']:.1%} of the rows. Accuracy will look good even "
                    "for a useless model; ROC AUC, PR AUC or balanced accuracy say more.",
                )
            )
    elif abs(summary["skew"]) >= HEAVY_TAIL_SKEW:
        hint = "predicting its logarithm may help" if summary["min"] >= 0 else "MAE is more robust"
        warnings.append(
            DataWarning(
                "heavy_tail",
                name,
                f"“{name}” is heavy-tailed (skew {summary['skew']:.1f}); a few large values "
                f"dominate RMSE, so {hint}.",
            )
        )
    return warnings


# --- sampled checks ------------------------------------------------------------------------


def _collapse_repeats(
    warnings: list[DataWarning], *, keep: int = 5, limit: int = 10
) -> list[DataWarning]:
    """On wide tables, list the first few column warnings of a kind and count the rest.

    Leakage warnings are never collapsed; each names a column the person must decide about.
    """
    by_code: dict[str, list[DataWarning]] = {}
    for warning in warnings:
        by_code.setdefault(warning.code, []).append(warning)
    collapsed: list[DataWarning] = []
    summarised: set[str] = set()
    position = {id(w): i for group in by_code.values() for i, w in enumerate(group)}
    for warning in warnings:
        group = by_code[warning.code]
        is_shown = len(group) <= limit or position[id(warning)] < keep
        if warning.code == "leakage" or is_shown:
            collapsed.append(warning)
        elif warning.code not in summarised:
            summarised.add(warning.code)
            rest = [w.column for w in group[keep:] if w.column]
            shown = ", ".join(f"“{c}”" for c in rest[:10])
            more = f" and {len(rest) - 10:,} more" if len(rest) > 10 else ""
            collapsed.append(
                DataWarning(
                    warning.code,
                    None,
                    f"{len(rest):,} more columns have the same warning ({warning.code}): "
                    f"{shown}{more}.",
                )
            )
    return collapsed


def _duplicate_rows(frame: pd.DataFrame) -> DataWarning | None:
    """Warn when at least 1% of the rows repeat an earlier row exactly (hashed, so cheap)."""
    if len(frame) < 2 or frame.shape[1] == 0:
        return None
    try:
        hashes = pd.util.hash_pandas_object(frame, index=False)
    except TypeError:  # unhashable cells (lists) in a frame that did not come from load_table
        return None
    n_repeated = int(hashes.duplicated().sum())
    share = n_repeated / len(frame)
    if share < DUPLICATE_ROWS_SHARE:
        return None
    return DataWarning(
        "duplicate_rows",
        None,
        f"{n_repeated:,} rows ({share:.1%}) repeat an earlier row exactly. Copies can land in "
        "both training and validation folds and flatter the scores; remove them unless they "
        "are real repeated events.",
    )


def _sample_rows(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= n:
        return frame
    rows = np.sort(rng.choice(len(frame), size=n, replace=False))
    return frame.iloc[rows].reset_index(drop=True)


def _near_duplicates(
    sample: pd.DataFrame, kinds: dict[str, ColumnKind], target: str | None
) -> list[DataWarning]:
    usable = [c for c, k in kinds.items() if c != target and k not in ("constant", "id", "text")]
    numeric = [c for c in usable if kinds[c] in ("numeric", "boolean")][:200]
    categorical = [c for c in usable if kinds[c] == "categorical"][:60]
    warnings: list[DataWarning] = []
    seen: set[str] = set()
    if len(numeric) > 1:
        frame = pd.DataFrame({c: _as_float(sample[c], kinds[c]) for c in numeric})
        corr = frame.corr(min_periods=10).abs().to_numpy()
        for i in range(len(numeric)):
            for j in range(i + 1, len(numeric)):
                if numeric[j] in seen or not corr[i, j] >= 0.995:
                    continue
                seen.add(numeric[j])
                warnings.append(_duplicate_warning(numeric[i], numeric[j], "correlated"))
    # Codes and labels ("plan_id" 1/2/3 next to "plan" basic/pro/max) are duplicates too.
    low_cardinality = [c for c in numeric if sample[c].nunique() <= 50]
    coded = [c for c in usable if c in set(categorical) | set(low_cardinality)][:80]
    codes = {c: pd.factorize(sample[c], use_na_sentinel=False)[0] for c in coded}
    # A mapping only means something when values repeat; unique values map one-to-one trivially.
    coded = [c for c in coded if codes[c].max(initial=0) + 1 <= 0.5 * len(sample)]
    for i, first in enumerate(coded):
        for second in coded[i + 1 :]:
            if second in seen or (kinds[first] != "categorical" and kinds[second] != "categorical"):
                continue
            a, b = codes[first], codes[second]
            pairs = len(np.unique(a * (b.max() + 1) + b))
            if pairs == len(np.unique(a)) == len(np.unique(b)):
                seen.add(second)
                warnings.append(_duplicate_warning(first, second, "one-to-one"))
    return warnings


def _duplicate_warning(first: str, second: str, how: str) -> DataWarning:
    what = "moves in lockstep with" if how == "correlated" else "maps one-to-one onto"
    return DataWarning(
        "near_duplicate",
        second,
        f"“{second}” {what} “{first}”; keeping both adds no information.",
    )


def _leakage(
    sample: pd.DataFrame, kinds: dict[str, ColumnKind], target: str, task: Task, seed: int
) -> list[DataWarning]:
    """Flag features that alone predict the target almost perfectly on held-out rows.

    Every feature is scored by grouping its values (categories, or up to 32 quantile
    bins of a number) and predicting each held-out row from its group's target
    statistics in the other folds. The best few are scored again with a depth-4
    tree, which places its own thresholds.
    """
    y = sample[target]
    if task == "regression":
        y_values = y.to_numpy(dtype=float)
        splitter: KFold = KFold(n_splits=3, shuffle=True, random_state=seed)
    else:
        y_values = pd.factorize(y, sort=True)[0]
        if int(np.bincount(y_values).min()) < 3:
            return []
        splitter = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    folds = list(splitter.split(np.zeros(len(y_values)), y_values))
    n_classes = 0 if task == "regression" else int(y_values.max()) + 1
    scores: dict[str, float] = {}
    numeric: dict[str, np.ndarray] = {}
    for name, kind in kinds.items():
        if name == target or kind in ("constant", "id", "text"):
            continue
        if kind == "categorical":
            codes = pd.factorize(sample[name], use_na_sentinel=False)[0]
        else:
            numeric[name] = _as_float(sample[name], kind)
            codes = _bin_codes(numeric[name])
        out = _grouped_oof(codes, y_values, task, n_classes, folds)
        scores[name] = _oof_score(y_values, out, task)
    if task == "regression":
        for name, x in numeric.items():
            scores[name] = max(scores[name], _squared_correlation(x, y_values))
    ranked = sorted(numeric, key=lambda n: -scores[n])[:LEAKAGE_TREE_CHECKS]
    for name in ranked:
        x = numeric[name].reshape(-1, 1)
        out = _tree_oof(x, y_values, task, n_classes, folds, seed)
        scores[name] = max(scores[name], _oof_score(y_values, out, task))
    measure = {"binary": "ROC AUC", "multiclass": "balanced accuracy"}.get(task, "R2")
    return [
        DataWarning(
            "leakage",
            name,
            f"“{name}” alone predicts “{target}” almost perfectly ({measure} {score:.3f} on "
            "held-out rows). It may be recorded after the outcome; drop it unless it will be "
            "known at prediction time.",
        )
        for name, score in scores.items()
        if score >= LEAKAGE_THRESHOLD
    ]


def _bin_codes(x: np.ndarray, n_bins: int = 32) -> np.ndarray:
    """Group codes of a numeric column: its values when few, else quantile bins; NaN apart."""
    missing = np.isnan(x)
    present = x[~missing]
    codes = np.full(len(x), 0, dtype=np.int64)
    if len(present) == 0:
        return codes
    distinct = np.unique(present)
    edges = (
        distinct
        if len(distinct) <= 2 * n_bins
        else np.unique(np.quantile(present, np.linspace(0, 1, n_bins + 1)))
    )
    codes[~missing] = np.searchsorted(edges, present, side="left") + 1
    return codes


def _oof_score(y: np.ndarray, out: np.ndarray, task: Task) -> float:
    """ROC AUC (binary), balanced accuracy (multiclass) or R2 of out-of-fold predictions."""
    if task == "binary":
        return _roc_auc(y, out[:, 1])
    if task == "multiclass":
        predicted = out.argmax(axis=1)
        recalls = [np.mean(predicted[y == c] == c) for c in np.unique(y)]
        return float(np.mean(recalls))
    residual = float(np.sum((y - out[:, 0]) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    return 1 - residual / total if total > 0 else 0.0


def _squared_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """The larger squared Pearson or Spearman correlation (0 when undefined)."""
    valid = ~np.isnan(x)
    if valid.sum() < 10:
        return 0.0
    pair = pd.DataFrame({"x": x[valid], "y": y[valid]})
    best = 0.0
    for method in ("pearson", "spearman"):
        value = pair["x"].corr(pair["y"], method=method)
        if np.isfinite(value):
            best = max(best, float(value) ** 2)
    return best


def _roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney ROC AUC with ties counted half (labels 0/1)."""
    positives = y == 1
    n_pos = int(positives.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    ranks = rankdata(score)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _tree_oof(
    x: np.ndarray,
    y: np.ndarray,
    task: Task,
    n_classes: int,
    folds: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
) -> np.ndarray:
    out = np.zeros((len(y), max(n_classes, 1)))
    for train, test in folds:
        if task == "regression":
            model = DecisionTreeRegressor(max_depth=4, min_samples_leaf=5, random_state=seed)
            model.fit(x[train], y[train])
            out[test, 0] = model.predict(x[test])
        else:
            model = DecisionTreeClassifier(max_depth=4, min_samples_leaf=5, random_state=seed)
            model.fit(x[train], y[train])
            out[np.ix_(test, model.classes_)] = model.predict_proba(x[test])
    return out


def _grouped_oof(
    codes: np.ndarray,
    y: np.ndarray,
    task: Task,
    n_classes: int,
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Predict each held-out row from its category's target statistics in the other folds."""
    n_codes = int(codes.max()) + 1
    width = max(n_classes, 1)
    out = np.zeros((len(y), width))
    for train, test in folds:
        if task == "regression":
            sums = np.bincount(codes[train], weights=y[train], minlength=n_codes)
            counts = np.bincount(codes[train], minlength=n_codes)
            means = np.where(counts > 0, sums / np.maximum(counts, 1), y[train].mean())
            out[test, 0] = means[codes[test]]
        else:
            table = np.zeros((n_codes, n_classes))
            np.add.at(table, (codes[train], y[train]), 1)
            prior = np.bincount(y[train], minlength=n_classes) / len(train)
            totals = table.sum(axis=1, keepdims=True)
            rates = np.where(totals > 0, table / np.maximum(totals, 1), prior)
            out[test] = rates[codes[test]]
    return out


# --- meta-features ---------------------------------------------------------------------------


def _meta_features(
    frame: pd.DataFrame,
    columns: tuple[ColumnProfile, ...],
    target: str | None,
    task: Task | None,
    target_summary: dict[str, Any],
) -> dict[str, float]:
    features = [c for c in columns if c.name != target]
    n_features = max(len(features), 1)
    counts = {kind: 0 for kind in ColumnKind.__args__}  # type: ignore[attr-defined]
    for column in features:
        counts[column.kind] += 1
    skews = [abs(float(c.stats["skew"])) for c in features if "skew" in c.stats]
    cardinalities = [c.n_unique for c in features if c.kind == "categorical"]
    meta: dict[str, float] = {
        "n_rows": float(len(frame)),
        "log_rows": math.log10(max(len(frame), 1)),
        "n_features": float(len(features)),
        "log_features": math.log10(n_features),
        "rows_per_feature": len(frame) / n_features,
        "missing_share": float(np.mean([c.missing_share for c in columns])) if columns else 0.0,
        "max_missing_share": max((c.missing_share for c in columns), default=0.0),
        "mean_abs_skew": float(np.mean(skews)) if skews else 0.0,
        "mean_categorical_cardinality": float(np.mean(cardinalities)) if cardinalities else 0.0,
    }
    for kind, count in counts.items():
        meta[f"share_{kind}"] = count / n_features
    meta["task_regression"] = float(task == "regression")
    meta["task_binary"] = float(task == "binary")
    meta["task_multiclass"] = float(task == "multiclass")
    if task in ("binary", "multiclass"):
        class_counts = np.array(list(target_summary["classes"].values()), dtype=float)
        shares = class_counts / class_counts.sum()
        entropy = float(-(shares * np.log2(shares)).sum())
        meta["n_classes"] = float(len(shares))
        meta["class_entropy"] = entropy / math.log2(len(shares)) if len(shares) > 1 else 0.0
        meta["minority_share"] = float(shares.min())
    elif task == "regression":
        meta["target_skew"] = float(target_summary["skew"])
        meta["target_cv"] = float(target_summary["std"] / abs(target_summary["mean"]))
        if not math.isfinite(meta["target_cv"]):
            meta["target_cv"] = 0.0
    return meta


# --- helpers -----------------------------------------------------------------------------------


def _as_float(column: pd.Series, kind: ColumnKind) -> np.ndarray:
    """A float array with NaN for missing values (dates as nanoseconds since 1970)."""
    if kind == "datetime":
        missing = column.isna().to_numpy()
        x = column.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
        x[missing] = np.nan
        return x
    x = column.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isinf(x), np.nan, x)


def _skew(numbers: np.ndarray) -> float:
    if len(numbers) < 3:
        return 0.0
    deviations = numbers - numbers.mean()
    squared = deviations * deviations
    m2 = float(squared.mean())
    if m2 == 0 or not math.isfinite(m2):
        return 0.0
    return float(np.dot(squared, deviations) / len(numbers) / m2**1.5)


def _short(value: Any, max_chars: int = 60) -> str:
    text = str(value)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _task_words(task: Task) -> str:
    return {
        "binary": "binary classification",
        "multiclass": "multiclass classification",
        "regression": "regression",
    }[task]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = [
    "ColumnKind",
    "ColumnProfile",
    "DataWarning",
    "Profile",
    "Task",
    "infer_task",
    "prepare_target",
    "profile_table",
]
