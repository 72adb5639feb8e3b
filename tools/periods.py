"""Dates in words, read against the data: "2023", "2023-03", "march", "last month", "last 30 days".

Relative words are relative to the data, never to today: "last month" is the
latest calendar month that has rows, "last 30 days" the 30 days up to the
latest date, "march" the latest March in the data. A :class:`Period` is a
half-open span ``[start, end)`` and says itself in words, so an answer can
state which dates it covered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_UNITS = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}
DATE_PARTS = ("year", "quarter", "month", "weekday")
"""What a date column can be grouped by ("order_date:year")."""


@dataclass(frozen=True, slots=True)
class Period:
    """The dates ``start <= d < end``."""

    start: pd.Timestamp
    end: pd.Timestamp

    def words(self) -> str:
        """``2023-03-01 to 2023-03-31``."""
        last = self.end - pd.Timedelta(days=1)
        if last <= self.start:
            return f"{self.start:%Y-%m-%d}"
        return f"{self.start:%Y-%m-%d} to {last:%Y-%m-%d}"


def as_dates(series: pd.Series) -> pd.Series | None:
    """``series`` as datetimes when it holds dates (already parsed, or text that mostly reads
    as dates), else ``None``."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.dt.tz_localize(None) if series.dt.tz is not None else series
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    present = series.dropna()
    if present.empty:
        return None
    sample = pd.to_datetime(present.head(200).astype(str), errors="coerce", format="mixed")
    if sample.notna().mean() < 0.9:
        return None  # decided on a sample: text columns are not parsed whole
    parsed = pd.to_datetime(series, errors="coerce", format="mixed")
    if parsed.notna().sum() < 0.9 * len(present):
        return None
    return parsed.dt.tz_localize(None) if parsed.dt.tz is not None else parsed


def names_a_period(text: str) -> bool:
    """Whether ``text`` has the form of a period (checked before any column is parsed)."""
    said = re.sub(r"\s+", " ", str(text).strip().casefold()).removeprefix("the ")
    return bool(
        re.fullmatch(r"(?:19|20)\d\d(?:-\d{1,2}(?:-\d{1,2})?)?|q[1-4] (?:19|20)\d\d", said)
        or re.fullmatch(rf"({_MONTH})\.?(?:,? (?:19|20)\d\d)?", said)
        or re.fullmatch(r"(?:last|latest|this|most recent|past) (?:\d{1,4} )?[a-z]+", said)
    )


def read_period(text: str, dates: pd.Series) -> Period | None:
    """The period ``text`` names, resolved against ``dates``; ``None`` if it names none."""
    said = re.sub(r"\s+", " ", str(text).strip().casefold()).removeprefix("the ")
    latest = dates.max()
    if pd.isna(latest):
        return None
    latest = pd.Timestamp(latest).normalize()
    if match := re.fullmatch(r"((?:19|20)\d\d)", said):
        return _span(pd.Timestamp(int(match.group(1)), 1, 1), "Y")
    if match := re.fullmatch(r"((?:19|20)\d\d)-(\d{1,2})", said):
        return _span(pd.Timestamp(int(match.group(1)), int(match.group(2)), 1), "M")
    if match := re.fullmatch(r"((?:19|20)\d\d)-(\d{1,2})-(\d{1,2})", said):
        day = pd.Timestamp(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        return Period(day, day + pd.Timedelta(days=1))
    if match := re.fullmatch(rf"({_MONTH})\.?(?:,? ((?:19|20)\d\d))?", said):
        month = _MONTHS[match.group(1)]
        year = int(match.group(2)) if match.group(2) else latest.year
        if not match.group(2) and month > latest.month:
            year -= 1  # "march" in data that ends in February: the March before
        return _span(pd.Timestamp(year, month, 1), "M")
    if match := re.fullmatch(r"q([1-4]) ((?:19|20)\d\d)", said):
        return _span(pd.Timestamp(int(match.group(2)), 3 * int(match.group(1)) - 2, 1), "Q")
    if match := re.fullmatch(
        r"(?:last|latest|this|most recent) (day|week|month|quarter|year)", said
    ):
        return _span(latest.to_period(_UNITS[match.group(1)]).start_time, _UNITS[match.group(1)])
    if match := re.fullmatch(r"(?:last|past|latest) (\d{1,4}) (day|week|month|year)s?", said):
        count, unit = int(match.group(1)), match.group(2)
        end = latest + pd.Timedelta(days=1)
        if unit in ("day", "week"):
            start = end - pd.Timedelta(days=count * (7 if unit == "week" else 1))
        else:
            start = end - pd.DateOffset(months=count * (12 if unit == "year" else 1))
        return Period(pd.Timestamp(start), end)
    return None


def date_part(dates: pd.Series, part: str) -> pd.Series:
    """The ``part`` (one of :data:`DATE_PARTS`) of each date, as text for grouping."""
    if part == "year":
        return dates.dt.year.astype("Int64").astype("string")
    if part == "quarter":
        return dates.dt.to_period("Q").astype("string")
    if part == "month":
        return dates.dt.to_period("M").astype("string")
    return dates.dt.day_name().astype("string")


def _span(start: pd.Timestamp, unit: str) -> Period:
    return Period(start, start.to_period(unit).end_time.normalize() + pd.Timedelta(days=1))
