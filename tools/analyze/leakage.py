"""Likely target leaks: a single column that predicts the target almost perfectly on its own (out-of-fold)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from tools.analyze.kinds import ColumnKind, DataWarning, Task

LEAKAGE_THRESHOLD = 0.98
"""A single feature scoring this well alone (ROC AUC, balanced accuracy or R2) is a likely leak."""

LEAKAGE_SAMPLE_ROWS = 5_000

LEAKAGE_TREE_CHECKS = 10
"""How many of the best single numeric features are re-checked with a small tree."""


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


def _as_float(column: pd.Series, kind: ColumnKind) -> np.ndarray:
    """A float array with NaN for missing values (dates as nanoseconds since 1970)."""
    if kind == "datetime":
        missing = column.isna().to_numpy()
        x = column.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
        x[missing] = np.nan
        return x
    x = column.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isinf(x), np.nan, x)
