"""Derived features: the transformer that computes them in front of every model.

A model (or a person) proposes a feature as ``name = expression`` over the
table's columns, e.g. ``income_per_age = income / age``. The text is parsed and
checked against a whitelist in :mod:`tools.feature_grammar`; here it is
*interpreted* node by node with pandas/numpy operations. Nothing is ever handed
to ``eval``, ``exec`` or ``compile``.

Allowed (see :data:`ALLOWED`): column names (bare, or ``col("a name")`` /
backticks for names with spaces), numbers, ``+ - * /``, ``**`` with a whole
power from -3 to 4, comparisons (``== "text"`` for category columns),
``log log1p sqrt abs exp clip min max is_missing``, date parts
``year month day dayofweek hour quarter`` of a date column,
``days_between(date1, date2)``, and ``bin(x, n)``: quantile bins whose edges
are learned in :meth:`DerivedFeatures.fit`, so cross-validation does not leak.

Results are float columns; division by zero, logs of non-positive numbers
and infinities become NaN (the models impute missing values).
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from tools.errors import FeatureError
from tools.feature_grammar import (
    DATE_FUNCTIONS,
    DerivedFeature,
    bin_count,
    column_name,
    is_text,
    parse_expression,
    referenced_columns,
    small_power,
)


def derived_columns(features: Sequence[DerivedFeature]) -> tuple[tuple[str, str], ...]:
    """``(name, "numeric")`` pairs for the derived columns, as a model's column list wants."""
    return tuple((feature.name, "numeric") for feature in features)


def input_columns(columns: Sequence[str], derived: Sequence[tuple[str, str]]) -> list[str]:
    """The original columns a model reads: ``columns`` that are not derived, then any
    other column the derived expressions use."""
    names = {name for name, _ in derived}
    needed = [c for c in columns if c not in names]
    for _, expression in derived:
        needed += [c for c in referenced_columns(expression) if c not in names and c not in needed]
    return needed


class DerivedFeatures(TransformerMixin, BaseEstimator):
    """Add derived columns to a DataFrame (scikit-learn transformer).

    ``features`` holds ``(name, expression)`` pairs, applied in order (a later
    one may use an earlier one). :meth:`fit` learns the quantile edges of every
    ``bin(x, n)``, kept in ``bin_edges_`` (one list per feature, one array per
    ``bin`` call in reading order). :meth:`transform` returns a copy of the
    input with the new float columns appended.
    """

    def __init__(self, features: tuple[tuple[str, str], ...] = ()) -> None:
        self.features = features

    def fit(self, X: pd.DataFrame, y: Any = None) -> DerivedFeatures:
        frame = _frame(X)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.bin_edges_: list[list[np.ndarray]] = []
        for name, expression in self.features:
            edges: list[np.ndarray] = []
            frame[name] = _interpret(parse_expression(expression), frame, edges, fitting=True)
            self.bin_edges_.append(edges)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "bin_edges_"):
            raise FeatureError("The derived features have not been fitted yet; call fit first.")
        frame = _frame(X)
        for (name, expression), edges in zip(self.features, self.bin_edges_, strict=True):
            frame[name] = _interpret(parse_expression(expression), frame, list(edges))
        return frame

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = [
            str(c)
            for c in (input_features if input_features is not None else self.feature_names_in_)
        ]
        return np.asarray([*names, *(name for name, _ in self.features)], dtype=object)


# --- interpreting ---------------------------------------------------------------------


def _frame(X: Any) -> pd.DataFrame:
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    return frame.copy()


def _interpret(
    node: ast.AST, frame: pd.DataFrame, edges: list[np.ndarray], *, fitting: bool = False
) -> np.ndarray:
    """Evaluate a checked tree on ``frame`` as a float array (NaN where undefined).

    ``edges`` holds the bin edges in reading order: filled when ``fitting``,
    consumed (from the front) otherwise.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = _value(node, frame, edges, fitting)
    values = np.asarray(values, dtype=np.float64).copy()
    values[~np.isfinite(values)] = np.nan
    return values


def _value(node: ast.AST, frame: pd.DataFrame, edges: list[np.ndarray], fitting: bool) -> Any:
    column = column_name(node)
    if column is not None:
        return _numbers(frame[column])
    if isinstance(node, ast.Constant):
        return np.full(len(frame), float(node.value))
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, frame, edges, fitting)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left = _value(node.left, frame, edges, fitting)
        if isinstance(node.op, ast.Pow):
            return np.power(left, float(small_power(node.right) or 0))
        right = _value(node.right, frame, edges, fitting)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return _finite(left / right)
    if isinstance(node, ast.Compare):
        return _compare(node, frame, edges, fitting)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _call(node, frame, edges, fitting)
    raise FeatureError(f"Cannot evaluate a {type(node).__name__} expression.")


def _compare(node: ast.Compare, frame: pd.DataFrame, edges: list[np.ndarray], fitting: bool) -> Any:
    operands = [node.left, *node.comparators]
    if any(is_text(o) for o in operands):
        text = next(o.value for o in operands if isinstance(o, ast.Constant))
        column = next(column_name(o) for o in operands if not is_text(o))
        values = frame[column]
        equal = (values.astype("string") == str(text)).fillna(False).to_numpy(dtype=bool)
        result = equal if isinstance(node.ops[0], ast.Eq) else ~equal
        out = result.astype(np.float64)
        out[values.isna().to_numpy()] = np.nan
        return out
    result = np.ones(len(frame), dtype=np.float64)
    missing = np.zeros(len(frame), dtype=bool)
    left = _value(node.left, frame, edges, fitting)
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        right = _value(comparator, frame, edges, fitting)
        missing |= np.isnan(left) | np.isnan(right)
        if isinstance(op, ast.Lt):
            holds = left < right
        elif isinstance(op, ast.LtE):
            holds = left <= right
        elif isinstance(op, ast.Gt):
            holds = left > right
        elif isinstance(op, ast.GtE):
            holds = left >= right
        elif isinstance(op, ast.Eq):
            holds = left == right
        else:
            holds = left != right
        result *= holds
        left = right
    result[missing] = np.nan
    return result


def _call(node: ast.Call, frame: pd.DataFrame, edges: list[np.ndarray], fitting: bool) -> Any:
    name = node.func.id  # type: ignore[attr-defined]
    if name in DATE_FUNCTIONS:
        when = _dates(frame[column_name(node.args[0])])
        part = when.dt.quarter if name == "quarter" else getattr(when.dt, name)
        return part.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    if name == "days_between":
        first = _dates(frame[column_name(node.args[0])])
        second = _dates(frame[column_name(node.args[1])])
        delta = (first - second).dt.total_seconds() / 86_400.0
        return delta.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    args = [
        _value(a, frame, edges, fitting) for a in (node.args[:1] if name == "bin" else node.args)
    ]
    if name == "bin":
        return _bin(args[0], bin_count(node.args[1]) or 2, edges, fitting)
    if name == "log":
        return np.log(np.where(args[0] > 0, args[0], np.nan))
    if name == "log1p":
        return np.log1p(np.where(args[0] > -1, args[0], np.nan))
    if name == "sqrt":
        return np.sqrt(np.where(args[0] >= 0, args[0], np.nan))
    if name == "abs":
        return np.abs(args[0])
    if name == "exp":
        return _finite(np.exp(args[0]))
    if name == "is_missing":
        return np.isnan(args[0]).astype(np.float64)
    if name == "clip":
        return np.clip(args[0], args[1], args[2])
    if name == "min":
        return np.fmin.reduce(np.vstack(args), axis=0)
    return np.fmax.reduce(np.vstack(args), axis=0)


def _bin(values: np.ndarray, n_bins: int, edges: list[np.ndarray], fitting: bool) -> np.ndarray:
    """Quantile bin index 0..k-1; the edges are learned when fitting, then reused."""
    if fitting:
        finite = values[np.isfinite(values)]
        quantiles = np.linspace(0, 1, n_bins + 1)[1:-1]
        cuts = np.unique(np.quantile(finite, quantiles)) if len(finite) else np.empty(0)
        edges.append(cuts)
    else:
        cuts = edges.pop(0)
    out = np.searchsorted(cuts, values, side="right").astype(np.float64)
    out[~np.isfinite(values)] = np.nan
    return out


def _numbers(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    values = pd.to_numeric(column, errors="coerce")
    return pd.Series(values).astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)


def _dates(column: pd.Series) -> pd.Series:
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return column
    parsed = pd.to_datetime(column, errors="coerce", utc=True)
    return parsed.dt.tz_localize(None)


def _finite(values: Any) -> Any:
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)
