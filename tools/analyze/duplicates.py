"""Duplicate rows and near-duplicate columns, as warnings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.analyze.kinds import ColumnKind, DataWarning
from tools.analyze.leakage import _as_float

DUPLICATE_ROWS_SHARE = 0.01


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
