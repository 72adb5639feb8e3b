"""A small, safe query language over one table: count, share, mean, median, min, max, sum.

A :class:`Query` is data (an aggregate, a column, ``column op value``
conditions, an optional group-by and top-k), checked against the table and
run with plain pandas operations; nothing is evaluated. The :class:`Answer`
states the number together with the query in words, e.g. "rows where
tenure > 50: 1,234 of 16,704".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from tools.errors import UserFacingError

Aggregate = Literal["count", "share", "mean", "median", "min", "max", "sum"]
Op = Literal["==", "!=", ">", ">=", "<", "<="]
MAX_GROUPS = 30
_TRUE_WORDS = frozenset({"yes", "true", "1", "y", "t"})
_FALSE_WORDS = frozenset({"no", "false", "0", "n", "f"})


class QueryError(UserFacingError):
    """A query that does not fit the table (unknown column, text compared with a number...)."""


@dataclass(frozen=True, slots=True)
class Condition:
    """Keep the rows where ``column op value``."""

    column: str
    op: Op
    value: str | float


@dataclass(frozen=True, slots=True)
class Query:
    """What to compute, over which rows, per which groups."""

    aggregate: Aggregate = "count"
    column: str | None = None
    where: tuple[Condition, ...] = ()
    by: str | None = None
    top: int | None = None
    lowest: bool = False
    among: tuple[Condition, ...] = ()
    """For a share: the rows it is a share of (all rows when empty); else more filters."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The result of a query, in numbers and in words."""

    text: str
    """The answer as a sentence: the query in words, then the number."""
    query_words: str
    """The query alone in words ("rows where tenure > 50")."""
    value: float | None
    n_rows: int
    n_matching: int
    groups: tuple[tuple[str, float, int], ...] = ()
    """Per group (value of ``by``): the aggregate and the number of rows."""


def run_query(
    frame: pd.DataFrame,
    query: Query,
    *,
    words: Callable[[str], tuple[str, str] | None] = lambda column: None,
) -> Answer:
    """Run ``query`` on ``frame``; ``words`` gives the (false, true) words of a yes/no column."""
    conditions = (*query.where, *query.among)
    for name in (query.column, query.by, *(c.column for c in conditions)):
        if name is not None and name not in frame.columns:
            raise QueryError(f"The table has no column “{name}”.")
    if query.aggregate not in ("count", "share") and query.column is None:
        raise QueryError(f"Say which column to take the {query.aggregate} of.")
    base = _rows(frame, query.among, words)
    mask = base & _rows(frame, query.where, words)
    if query.aggregate == "share" and query.among:
        frame, mask = frame[base], mask[base]
    described = _described(query, words)
    n_rows, n_matching = len(frame), int(mask.sum())
    if query.by is None:
        value = _aggregate(frame, mask, query)
        sentence = _sentence(query, described, value, n_rows, n_matching)
        return Answer(sentence, described, value, n_rows, n_matching)
    groups = _grouped(frame, mask, query, words(query.by))
    shown = "; ".join(f"{label} {_number(query, v)}" for label, v, _ in groups[:10])
    more = f" (and {len(groups) - 10} more)" if len(groups) > 10 else ""
    text = f"{described}: {shown}{more}."
    return Answer(text, described, None, n_rows, n_matching, tuple(groups))


_CONDITION = re.compile(r"^\s*(.+?)\s*(>=|<=|!=|==|=|>|<|≠)\s*(.+?)\s*$", re.S)


def parse_condition(text: str) -> Condition:
    """``"tenure > 50"`` -> ``Condition("tenure", ">", 50.0)``: a column, an operator, a value.

    The value is a number when it reads as one, else text (quotes removed).
    """
    match = _CONDITION.match(text)
    if match is None:
        raise QueryError(
            f"“{text}” is not a condition; write it as column, operator, value, e.g. “tenure > 50”."
        )
    column, op, raw = match.groups()
    op = {"=": "==", "≠": "!="}.get(op, op)
    raw = raw.strip().strip("'\"“”`")
    try:
        value: str | float = float(raw.replace(",", ""))
    except ValueError:
        value = raw
    return Condition(column.strip().strip("'\"“”`"), op, value)  # type: ignore[arg-type]


def _rows(
    frame: pd.DataFrame,
    conditions: tuple[Condition, ...],
    words: Callable[[str], tuple[str, str] | None],
) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for condition in conditions:
        mask &= _matches(frame[condition.column], condition, words(condition.column))
    return mask


def describe_condition(condition: Condition) -> str:
    """``tenure > 50``, ``contract = month-to-month``."""
    op = "=" if condition.op == "==" else "≠" if condition.op == "!=" else condition.op
    value = condition.value
    shown = f"{value:,g}" if isinstance(value, float) else str(value)
    return f"{condition.column} {op} {shown}"


def _matches(series: pd.Series, condition: Condition, said: tuple[str, str] | None) -> pd.Series:
    value = condition.value
    if pd.api.types.is_bool_dtype(series):
        flag = _flag(value, said)
        if flag is None or condition.op not in ("==", "!="):
            raise QueryError(f"“{condition.column}” is yes/no; compare it with = or ≠ yes or no.")
        equal = series == flag
        return equal if condition.op == "==" else ~equal & series.notna()
    if pd.api.types.is_numeric_dtype(series):
        try:
            number = float(value)
        except ValueError:
            raise QueryError(f"“{condition.column}” holds numbers; “{value}” is not one.") from None
        return _compare(series, condition.op, number)
    if condition.op not in ("==", "!="):
        if pd.api.types.is_datetime64_any_dtype(series):
            return _compare(series, condition.op, pd.Timestamp(str(value)))
        raise QueryError(f"“{condition.column}” holds text; compare it with = or ≠.")
    equal = series.astype("string").str.casefold() == str(value).casefold()
    equal = equal.fillna(False).astype(bool)
    return equal if condition.op == "==" else ~equal & series.notna()


def _compare(series: pd.Series, op: Op, value: object) -> pd.Series:
    result = {
        "==": series == value,
        "!=": series != value,
        ">": series > value,
        ">=": series >= value,
        "<": series < value,
        "<=": series <= value,
    }[op]
    return result.fillna(False).astype(bool) & series.notna()


def _flag(value: str | float, said: tuple[str, str] | None) -> bool | None:
    text = str(value).strip().casefold()
    if said is not None and text in (said[0].casefold(), said[1].casefold()):
        return text == said[1].casefold()
    if text in _TRUE_WORDS:
        return True
    if text in _FALSE_WORDS:
        return False
    return None


def _numbers(frame: pd.DataFrame, column: str) -> pd.Series:
    series = frame[column]
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        raise QueryError(f"“{column}” does not hold numbers, so it has no average or total.")
    return series


def _aggregate(frame: pd.DataFrame, mask: pd.Series, query: Query) -> float:
    if query.aggregate == "count":
        return float(mask.sum())
    if query.aggregate == "share":
        return float(mask.mean()) if len(mask) else math.nan
    values = _numbers(frame, str(query.column))[mask].dropna()
    if values.empty:
        return math.nan
    return float(getattr(values, query.aggregate)())


def _grouped(
    frame: pd.DataFrame, mask: pd.Series, query: Query, said: tuple[str, str] | None
) -> list[tuple[str, float, int]]:
    keys = frame[str(query.by)]
    if said is not None and pd.api.types.is_bool_dtype(keys):
        keys = keys.map({False: said[0], True: said[1]})
    keys = keys.astype("string").fillna("(missing)")
    if query.aggregate == "share":
        table = mask.groupby(keys).agg(["mean", "size"])
        rows = [(str(k), float(r["mean"]), int(r["size"])) for k, r in table.iterrows()]
    elif query.aggregate == "count":
        counts = mask.groupby(keys).sum()
        rows = [(str(k), float(v), int(v)) for k, v in counts.items() if v > 0]
    else:
        values = _numbers(frame, str(query.column))[mask]
        table = values.groupby(keys[mask]).agg([query.aggregate, "count"])
        rows = [
            (str(k), float(r[query.aggregate]), int(r["count"]))
            for k, r in table.iterrows()
            if r["count"] > 0
        ]
    rows.sort(key=lambda row: (math.isnan(row[1]), row[1] if query.lowest else -row[1]))
    return rows[: query.top or MAX_GROUPS]


def _described(query: Query, words: Callable[[str], tuple[str, str] | None]) -> str:
    del words
    where = " and ".join(describe_condition(c) for c in query.where)
    rows = f"rows where {where}" if where else "rows"
    if query.among:
        among = " and ".join(describe_condition(c) for c in query.among)
        rows += f", among rows where {among}" if query.aggregate == "share" else f" and {among}"
    if query.aggregate == "count":
        head = rows if query.by is None else f"{rows}, per {query.by}"
    elif query.aggregate == "share":
        head = f"share of {rows}" if query.by is None else f"share of {rows}, per {query.by}"
    else:
        head = f"{query.aggregate} of {query.column}"
        if query.by is not None:
            head += f" per {query.by}"
        if where:
            head += f" ({rows})"
    if query.top is not None and query.by is not None:
        head = f"{'bottom' if query.lowest else 'top'} {query.top}: {head}"
    return head


def _sentence(query: Query, described: str, value: float, n_rows: int, n_matching: int) -> str:
    if query.aggregate == "count":
        return (
            f"{described}: {n_matching:,} of {n_rows:,}."
            if query.where
            else f"{described}: {n_rows:,}."
        )
    if query.aggregate == "share":
        return f"{described}: {_number(query, value)} ({n_matching:,} of {n_rows:,})."
    if math.isnan(value):
        return f"{described}: no rows with a value."
    return f"{described}: {_number(query, value)} (over {n_matching:,} rows)."


def _number(query: Query, value: float) -> str:
    if math.isnan(value):
        return "—"
    if query.aggregate == "share":
        return f"{value * 100:.1f}%"
    if query.aggregate == "count" or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
