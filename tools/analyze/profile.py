"""Profile a table: column kinds, statistics, the task a target implies, and expert warnings.

The profile is cheap on large tables: exact per-column statistics are vectorised,
and the expensive checks (near-duplicate columns, single-feature leakage) run on
a seeded sample of at most 5,000 rows.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tools.analyze.duplicates import (
    _collapse_repeats,
    _duplicate_rows,
    _near_duplicates,
    _sample_rows,
)
from tools.analyze.kinds import (
    ColumnKind,
    ColumnProfile,
    DataWarning,
    Task,
    TaskChoice,
    _jsonable,
    _short,
)
from tools.analyze.leakage import LEAKAGE_SAMPLE_ROWS, _leakage
from tools.analyze.meta import _meta_features, _skew
from tools.analyze.task import choose_task, prepare_target
from tools.errors import DataError
from tools.io.load import resolve_column

log = logging.getLogger(__name__)

HIGH_CARDINALITY = 50

IMBALANCE_RATIO = 0.1

HEAVY_TAIL_SKEW = 2.0

FEW_ROWS = 100

_ID_NAME = re.compile(r"(^|[_\s\-.])(id|uuid|guid|key|index|idx)$|^(id|uuid|guid)[_\s\-.]", re.I)


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
        stats = _number_stats(numbers[np.isfinite(numbers)])
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
    elif kind == "numeric":
        stats = _number_stats(finite)
    return ColumnProfile(
        name=name,
        kind=kind,
        dtype=str(series.dtype),
        missing_share=(n_rows - len(present)) / n_rows if n_rows else 0.0,
        n_unique=n_unique,
        stats=stats,
    )


def _number_stats(finite: np.ndarray) -> dict[str, float | str | int]:
    """Mean, standard deviation, min, median, max and skew of the finite values (none when empty)."""
    if not len(finite):
        return {}
    return {
        "mean": float(finite.mean()),
        "std": float(finite.std(ddof=1)) if len(finite) > 1 else 0.0,
        "min": float(finite.min()),
        "p50": float(np.median(finite)),
        "max": float(finite.max()),
        "skew": _skew(finite),
    }


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
