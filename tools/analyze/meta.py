"""Meta-features of a table (size, kinds, skew, class balance) for warm-starting tuning from similar past runs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tools.analyze.kinds import ColumnKind, ColumnProfile, Task


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


def _skew(numbers: np.ndarray) -> float:
    if len(numbers) < 3:
        return 0.0
    deviations = numbers - numbers.mean()
    squared = deviations * deviations
    m2 = float(squared.mean())
    if m2 == 0 or not math.isfinite(m2):
        return 0.0
    return float(np.dot(squared, deviations) / len(numbers) / m2**1.5)
