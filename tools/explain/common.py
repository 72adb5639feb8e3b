"""Small pieces every explanation module shares: the task type, predictions of any fitted model, number formatting."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    r2_score,
)

from tools.models.kinds import Task

Scorer = Callable[[Any, pd.DataFrame, np.ndarray], float]
"""``scorer(model, X, y) -> score``, higher is better."""

_MAX_CURVE_POINTS = 400
"""ROC and PR curves keep at most this many points (the JSON stays small on big tables)."""


def _predict(model: Any, frame: pd.DataFrame, task: Task) -> tuple[np.ndarray, np.ndarray | None]:
    if task == "regression":
        return np.asarray(model.predict(frame), dtype=float), None
    proba = np.asarray(model.predict_proba(frame), dtype=float)
    return np.asarray(model.classes_)[np.argmax(proba, axis=1)], proba


def _default_scorer(task: Task) -> Scorer:
    if task == "regression":
        return lambda model, X, y: float(r2_score(y, np.asarray(model.predict(X), dtype=float)))
    return lambda model, X, y: float(accuracy_score(y, np.asarray(model.predict(X))))


def _classes(model: Any, y: np.ndarray, task: Task) -> list[Any]:
    if task == "regression":
        return []
    found = getattr(model, "classes_", None)
    return list(found) if found is not None else sorted(pd.unique(y).tolist())


def _input_columns(model: Any, frame: pd.DataFrame) -> list[str]:
    columns = getattr(model, "input_columns_", None)
    if columns is None:
        columns = getattr(model, "feature_names_in_", None)
    return [c for c in (list(columns) if columns is not None else frame.columns) if c in frame]


def _focus_class(classes: Sequence[Any], y: pd.Series) -> Any:
    """The class a story is told about: the positive class ``classes[1]`` when binary
    (the run's order puts it second, see :mod:`tools.classes`), else the most common class."""
    if len(classes) == 2:
        return classes[1]
    return y.value_counts().index[0]


def _fmt(value: float) -> str:
    """A number with about four significant digits, no scientific notation for everyday sizes."""
    value = float(value)
    if value == 0 or not np.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 1e6 or abs(value) < 1e-4:
        return f"{value:.3g}"
    digits = max(0, 3 - int(np.floor(np.log10(abs(value)))))
    return f"{value:,.{digits}f}"


def _thin(
    x: np.ndarray, y: np.ndarray, max_points: int = _MAX_CURVE_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most ``max_points`` evenly spaced points of a curve, both ends included."""
    if len(x) <= max_points:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, max_points).round().astype(int))
    return x[keep], y[keep]


def _safe_name(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(text))[:60] or "feature"
