"""A small, safe query language over one table: count, share, mean, median, min, max, sum.

A :class:`Query` is data (an aggregate, a column, ``column op value``
conditions, an optional group-by and top-k), checked against the table and
run with plain pandas operations; nothing is evaluated. The :class:`Answer`
states the number together with the query in words, e.g. "rows where
tenure > 50: 1,234 of 16,704". A date column is compared with a period in
words ("order_date in 2023", "order_date > march", "order_date in last
month", read against the data by :mod:`tools.periods`) and grouped by its
year or month ("order_date:year").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from tools.errors import UserFacingError
from tools.periods import DATE_PARTS, Period, as_dates, date_part, names_a_period, read_period

Aggregate = Literal["count", "share", "mean", "median", "min", "max", "sum"]
Op = Literal["==", "!=", ">", ">=", "<", "<=", "in"]
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
    then_by: str | None = None
    """A second column to group by, within ``by`` ("average price by region and year")."""
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
    group_keys: tuple[tuple[str, ...], ...] = ()
    """Per group, its value of ``by`` and of ``then_by`` (when given) apart."""


def run_query(
    frame: pd.DataFrame,
    query: Query,
    *,
    words: Callable[[str], tuple[str, str] | None] = lambda column: None,
) -> Answer:
    """Run ``query`` on ``frame``; ``words`` gives the (false, true) words of a yes/no column."""
    conditions = (*query.where, *query.among)
    for name in (query.column, *(c.column for c in conditions)):
        if name is not None and name not in frame.columns:
            raise QueryError(f"The table has no column “{name}”.")
    for name in (query.by, query.then_by):
        if name is not None:
            _group_keys(frame, name, words)  # checks the column (and date part)
    if query.then_by is not None and query.by is None:
        raise QueryError("Give the first column to group by before the second.")
    periods = _periods(frame, conditions)
    if query.aggregate not in ("count", "share") and query.column is None:
        raise QueryError(f"Say which column to take the {query.aggregate} of.")
    base = _rows(frame, query.among, words, periods)
    mask = base & _rows(frame, query.where, words, periods)
    if query.aggregate == "share" and query.among:
        frame, mask = frame[base], mask[base]
    described = _described(query, periods)
    n_rows, n_matching = len(frame), int(mask.sum())
    if query.by is None:
        value = _aggregate(frame, mask, query)
        sentence = _sentence(query, described, value, n_rows, n_matching)
        return Answer(sentence, described, value, n_rows, n_matching)
    keyed = _grouped(frame, mask, query, words)
    groups = [(" · ".join(keys), value, n) for keys, value, n in keyed]
    shown = "; ".join(f"{label} {_number(query, v)}" for label, v, _ in groups[:10])
    more = f" (and {len(groups) - 10} more)" if len(groups) > 10 else ""
    text = f"{described}: {shown}{more}."
    return Answer(
        text, described, None, n_rows, n_matching, tuple(groups), tuple(k for k, _, _ in keyed)
    )


_CONDITION = re.compile(r"^\s*(.+?)\s*(>=|<=|!=|==|=|>|<|≠|\bin\b)\s*(.+?)\s*$", re.S)


def parse_condition(text: str) -> Condition:
    """``"tenure > 50"`` -> ``Condition("tenure", ">", 50.0)``: a column, an operator, a value.

    The value is a number when it reads as one, else text (quotes removed). ``in`` takes
    a period of a date column: ``"order_date in 2023"``, ``"order_date in last month"``.
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
    periods: dict[Condition, tuple[pd.Series, Period]],
) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for condition in conditions:
        if condition in periods:
            mask &= _in_period(*periods[condition], condition.op)
        elif condition.op == "in":
            value = condition.value
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            raise QueryError(
                f"“{shown}” is not a period of the dates in “{condition.column}”; "
                "say e.g. 2023, 2023-03, march, last month or last 30 days."
            )
        else:
            mask &= _matches(frame[condition.column], condition, words(condition.column))
    return mask


def _periods(
    frame: pd.DataFrame, conditions: tuple[Condition, ...]
) -> dict[Condition, tuple[pd.Series, Period]]:
    """The conditions on a date column whose value is a period, with the dates and the span."""
    found = {}
    for condition in conditions:
        if isinstance(condition.value, float) and not 1900 <= condition.value <= 2100:
            continue
        value = condition.value
        text = f"{value:g}" if isinstance(value, float) else str(value)
        dates = as_dates(frame[condition.column]) if names_a_period(text) else None
        if dates is None:
            continue
        period = read_period(text, dates)
        if period is not None:
            found[condition] = (dates, period)
    return found


def _in_period(dates: pd.Series, period: Period, op: Op) -> pd.Series:
    inside = (dates >= period.start) & (dates < period.end)
    result = {
        "in": inside,
        "==": inside,
        "!=": ~inside,
        ">": dates >= period.end,
        ">=": dates >= period.start,
        "<": dates < period.start,
        "<=": dates < period.end,
    }[op]
    return result.fillna(False).astype(bool) & dates.notna()


def describe_condition(condition: Condition) -> str:
    """``tenure > 50``, ``contract = month-to-month``."""
    op = {"==": "=", "!=": "≠"}.get(condition.op, condition.op)
    value = condition.value
    shown = f"{value:,g}" if isinstance(value, float) else str(value)
    return f"{condition.column} {op} {shown}"


def _matches(series: pd.Series, condition: Condition, said: tuple[str, str] | None) -> pd.Series:
    value = condition.value
    if condition.op == "in":
        raise QueryError(f"“{condition.column}” holds no dates to take a period of.")
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


def _group_keys(
    frame: pd.DataFrame, name: str, words: Callable[[str], tuple[str, str] | None]
) -> pd.Series:
    """The group of each row: a column's values, or a date column's part ("order_date:year")."""
    column, _, part = name.partition(":")
    if column not in frame.columns:
        raise QueryError(f"The table has no column “{column}”.")
    keys = frame[column]
    if part:
        dates = as_dates(keys)
        if dates is None or part not in DATE_PARTS:
            raise QueryError(
                f"“{name}”: only a date column can be grouped by its "
                f"{', '.join(DATE_PARTS)} (e.g. “{column}:year”)."
            )
        return date_part(dates, part).fillna("(missing)")
    said = words(column)
    if said is not None and pd.api.types.is_bool_dtype(keys):
        keys = keys.map({False: said[0], True: said[1]})
    return keys.astype("string").fillna("(missing)")


def _grouped(
    frame: pd.DataFrame,
    mask: pd.Series,
    query: Query,
    words: Callable[[str], tuple[str, str] | None],
) -> list[tuple[tuple[str, ...], float, int]]:
    names = [n for n in (query.by, query.then_by) if n is not None]
    keys = [_group_keys(frame, n, words) for n in names]

    def key(k: object) -> tuple[str, ...]:
        return tuple(str(x) for x in k) if isinstance(k, tuple) else (str(k),)

    if query.aggregate == "share":
        table = mask.groupby(keys).agg(["mean", "size"])
        rows = [(key(k), float(r["mean"]), int(r["size"])) for k, r in table.iterrows()]
    elif query.aggregate == "count":
        counts = mask.groupby(keys).sum()
        rows = [(key(k), float(v), int(v)) for k, v in counts.items() if v > 0]
    else:
        values = _numbers(frame, str(query.column))[mask]
        table = values.groupby([k[mask] for k in keys]).agg([query.aggregate, "count"])
        rows = [
            (key(k), float(r[query.aggregate]), int(r["count"]))
            for k, r in table.iterrows()
            if r["count"] > 0
        ]
    if query.then_by is not None and query.top is None:
        rows.sort(key=lambda row: row[0])  # a table by two columns reads in their order
    else:
        rows.sort(key=lambda row: (math.isnan(row[1]), row[1] if query.lowest else -row[1]))
    return rows[: query.top or MAX_GROUPS * (MAX_GROUPS if query.then_by else 1)]


def _described(query: Query, periods: dict[Condition, tuple[pd.Series, Period]]) -> str:
    def said(condition: Condition) -> str:
        if condition not in periods:
            return describe_condition(condition)
        return _period_words(condition, periods[condition][1])

    where = " and ".join(said(c) for c in query.where)
    rows = f"rows where {where}" if where else "rows"
    per = " and ".join(_group_words(n) for n in (query.by, query.then_by) if n is not None)
    if query.among:
        among = " and ".join(said(c) for c in query.among)
        rows += f", among rows where {among}" if query.aggregate == "share" else f" and {among}"
    if query.aggregate == "count":
        head = rows if query.by is None else f"{rows}, per {per}"
    elif query.aggregate == "share":
        head = f"share of {rows}" if query.by is None else f"share of {rows}, per {per}"
    else:
        head = f"{query.aggregate} of {query.column}"
        if query.by is not None:
            head += f" per {per}"
        if where:
            head += f" ({rows})"
    if query.top is not None and query.by is not None:
        head = f"{'bottom' if query.lowest else 'top'} {query.top}: {head}"
    return head


def _period_words(condition: Condition, period: Period) -> str:
    """``order_date after march (from 2024-04-01)``: the words, and the dates they meant."""
    value = condition.value
    text = f"{value:g}" if isinstance(value, float) else str(value)
    last = period.end - pd.Timedelta(days=1)
    word, dates = {
        "in": ("in", period.words()),
        "==": ("in", period.words()),
        "!=": ("not in", period.words()),
        ">": ("after", f"from {period.end:%Y-%m-%d}"),
        ">=": ("from", f"from {period.start:%Y-%m-%d}"),
        "<": ("before", f"before {period.start:%Y-%m-%d}"),
        "<=": ("up to", f"up to {last:%Y-%m-%d}"),
    }[condition.op]
    return f"{condition.column} {word} {text} ({dates})"


def _group_words(name: str) -> str:
    column, _, part = name.partition(":")
    return f"{part} of {column}" if part else column


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
