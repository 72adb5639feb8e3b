"""Parse a table's columns the way :func:`tools.io.load_table` does, and again on new rows.

``load_table`` decides once, on the training file, how each column is read: numbers
(thousands separators, decimal commas, currency and % signs), yes/no words,
dates in one format, or trimmed text with "n/a"-like cells missing. Each decision
is a :class:`ColumnParse`. :class:`RawTableParser` holds them and applies them to
any later rows with the same code, so the saved model (``model.joblib``, whose
first step is the parser) takes rows as ``pandas.read_csv`` gives them (text,
ints, floats) as well as rows ``load_table`` already parsed, and predicts the same.

The decisions are plain frozen dataclasses of strings and booleans: they pickle
with the model and load in a fresh interpreter that can import :mod:`tools`.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator, TransformerMixin

from tools.io.text_values import (
    as_dates,
    as_number,
    boolean_words,
    casts,
    date_values,
    iso_values,
    numbers_from_text,
    truth_values,
    type_sample,
    whole_to_int,
    word_truth,
)

NULL_VALUES: list[str] = [
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-NaN",
    "-nan",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "n/a",
    "nan",
    "null",
    "None",
    "none",
    # spreadsheet error values: a formula that failed holds no value
    "#DIV/0!",
    "#VALUE!",
    "#REF!",
    "#NAME?",
    "#NUM!",
    "#NULL!",
]
"""Cells that mean "no value" (the CSV reader's null values, and text cells of other formats)."""

ParseKind = Literal["number", "boolean", "date", "text", "as_is"]


@dataclass(frozen=True, slots=True)
class ColumnParse:
    """How one column of the training file was read; applied as is to later rows."""

    kind: ParseKind
    """``number``, ``boolean`` (yes/no words), ``date``, ``text`` or ``as_is`` (left alone)."""
    decimal_comma: bool = False
    """Numbers written like ``1.234,5``."""
    words: tuple[str, str] | None = None
    """Yes/no columns: the file's (false word, true word), as spelled most often."""
    date_format: str | None = None
    """Dates: the ``strptime`` format; ``None`` reads ISO 8601 timestamps (to UTC)."""


class RawTableParser(TransformerMixin, BaseEstimator):
    """Parse raw rows column by column with the decisions ``load_table`` took on the
    training file (the first step of a saved model).

    ``columns`` holds ``(name, ColumnParse)`` pairs. A header with spaces around a
    known name is renamed to it, as ``load_table`` strips names. Columns it does not
    name pass through untouched; columns it names but the rows lack are the model's to report.
    Rows that are already parsed (booleans, numbers, datetimes) pass through, so
    parsing twice changes nothing.
    """

    def __init__(self, columns: tuple[tuple[str, ColumnParse], ...] = ()) -> None:
        self.columns = columns

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    def fit(self, X: Any = None, y: Any = None) -> RawTableParser:
        """Nothing to learn: the decisions were taken when the training file was loaded."""
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` with every named column parsed as in training."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError("RawTableParser needs a pandas DataFrame with named columns.")
        decisions = dict(self.columns)
        present = {str(name) for name in X.columns}
        parsed: dict[Any, Any] = {}
        for name, series in X.items():
            key = str(name)
            if key not in decisions and key.strip() in decisions and key.strip() not in present:
                key = key.strip()  # load_table strips header names; pandas.read_csv does not
            decision = decisions.get(key)
            if decision is None:
                parsed[name] = series
            else:
                parsed[key] = _finite(parse_column(series, decision))
        return pd.DataFrame(parsed, index=X.index, copy=False)

    def only(self, names: Iterable[str]) -> RawTableParser:
        """The same parser restricted to ``names`` (e.g. the model's input columns)."""
        wanted = set(names)
        return RawTableParser(tuple((n, d) for n, d in self.columns if n in wanted))

    def boolean_words(self) -> dict[str, tuple[str, str]]:
        """Column -> (false word, true word) for every yes/no column read from words."""
        return {n: d.words for n, d in self.columns if d.kind == "boolean" and d.words}

    def words(self, name: str) -> tuple[str, str] | None:
        """The (false word, true word) of a yes/no column, else ``None``."""
        decision = dict(self.columns).get(name)
        return decision.words if decision is not None and decision.kind == "boolean" else None


def clean_types(
    frame: pd.DataFrame, notes: list[str], *, decided: RawTableParser | None = None
) -> tuple[pd.DataFrame, RawTableParser]:
    """Type every column (numbers, yes/no, dates, text) and return the decisions taken.

    Columns ``decided`` names are parsed with its decisions (a file to predict on is
    read as the training file was: a date column whose days are all 12 or less keeps
    the training file's day/month order). Appends a sentence per kind of parsing to
    ``notes``.
    """
    known = dict(decided.columns) if decided is not None else {}
    columns: dict[str, Any] = {}
    decisions: list[tuple[str, ColumnParse]] = []
    parsed: dict[str, list[str]] = {}
    infinite: list[str] = []
    for name, series in frame.items():
        values: Any = series  # pandas tracks copy-on-write for columns passed through as is
        if str(name) in known:
            decision = known[str(name)]
            values = parse_column(series, decision)
        elif _is_textual(series):
            values, decision, how = _type_text_column(series)
            if how:
                parsed.setdefault(how, []).append(name)
        else:
            decision = _typed_decision(series)
        decisions.append((str(name), decision))
        finite = _finite(values)
        if finite is not values:
            infinite.append(name)
        if isinstance(finite, np.ndarray) and not finite.flags.writeable:
            finite = finite.copy()  # zero-copy views of Arrow memory are read-only
        columns[name] = finite
    for how, names in parsed.items():
        notes.append(f"Parsed {_listed(names)} as {how}.")
    if infinite:
        notes.append(f"Treated infinite values in {_listed(infinite)} as missing.")
    # copy=False keeps one block per column instead of copying every number into one block
    return pd.DataFrame(columns, index=frame.index, copy=False), RawTableParser(tuple(decisions))


def parse_column(series: pd.Series, decision: ColumnParse) -> Any:
    """Apply one column's decision to later rows (raw text or already typed)."""
    if decision.kind == "as_is":
        return series
    if not _is_textual(series):
        if decision.kind == "number" and pd.api.types.is_float_dtype(series.dtype):
            # whole numbers are ints, as load_table makes them (2.0 and 2 differ as categories)
            return whole_to_int(series.to_numpy(dtype=np.float64, na_value=np.nan))
        if decision.kind != "text" or series.isna().all():
            return series  # typed already: by load_table, or by pandas.read_csv
        series = series.astype(object)  # numbers in a text column (codes read as ints)
    array = _missing_tokens(pc.utf8_trim_whitespace(_arrow_strings(_text_cells(series))))
    if decision.kind == "number":
        numbers = numbers_from_text(array, decimal_comma=decision.decimal_comma)
        return whole_to_int(numbers.to_numpy(zero_copy_only=False).astype(np.float64))
    if decision.kind == "boolean":
        return truth_values(word_truth(pc.utf8_lower(array)))
    if decision.kind == "date":
        if decision.date_format is None:
            return iso_values(array)
        return date_values(array, decision.date_format)
    return array.to_pandas().array


def _listed(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _is_textual(series: pd.Series) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)


def _typed_decision(series: pd.Series) -> ColumnParse:
    """Columns the reader typed itself (Parquet, Excel, JSON): what text later rows become."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return ColumnParse("boolean")
    if pd.api.types.is_integer_dtype(series.dtype):
        return ColumnParse("number")  # later floats that are whole become ints again
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return ColumnParse("date")
    return ColumnParse("as_is")


def _type_text_column(series: pd.Series) -> tuple[Any, ColumnParse, str | None]:
    """Return the column typed, the decision, and how it was parsed ("numbers",
    "dates (...)") or None."""
    series = _text_cells(series)
    array = _arrow_strings(series)
    n_raw = len(array) - array.null_count
    if n_raw and casts(type_sample(array), pa.float64()):
        # Clean numeric text (the common case) needs no whitespace trimming pass.
        number = _number_column(array, n_raw)
        if number is not None:
            return number
    trimmed = _missing_tokens(pc.utf8_trim_whitespace(array))
    n_valid = len(trimmed) - trimmed.null_count
    if n_valid == 0:
        return trimmed.to_pandas().array, ColumnParse("text"), None
    number = _number_column(trimmed, n_valid)
    if number is not None:
        return number
    words = boolean_words(trimmed)
    if words is not None:
        truth = truth_values(word_truth(pc.utf8_lower(trimmed)))
        return truth, ColumnParse("boolean", words=words), "yes/no values"
    dates = as_dates(trimmed, n_valid)
    if dates is not None:
        values, fmt, how = dates
        return values, ColumnParse("date", date_format=fmt), how
    return trimmed.to_pandas().array, ColumnParse("text"), None


def _number_column(
    array: pa.ChunkedArray, n_valid: int
) -> tuple[np.ndarray, ColumnParse, str | None] | None:
    number = as_number(array, n_valid)
    if number is None:
        return None
    values, decimal_comma, how = number
    return values, ColumnParse("number", decimal_comma=decimal_comma), how


def _text_cells(series: pd.Series) -> pd.Series:
    """An object column with non-text cells (Excel numbers and text, read_csv booleans)
    as the text of its cells."""
    if series.dtype == object:
        non_null = series.dropna()
        if len(non_null) and not non_null.map(type).eq(str).all():
            return series.map(cell_text, na_action="ignore").astype("str")
    return series


def _missing_tokens(array: pa.ChunkedArray) -> pa.ChunkedArray:
    # "" and "NA"-like tokens are already missing in CSV files; Excel and JSON keep them as text.
    is_missing = pc.is_in(array, value_set=pa.array(NULL_VALUES, pa.string()))
    return pc.if_else(is_missing, pa.scalar(None, pa.string()), array)


def cell_text(value: Any) -> str:
    """A spreadsheet cell as text: whole floats without ".0", dates in ISO form."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else str(value)
    return str(value)


def _arrow_strings(series: pd.Series) -> pa.ChunkedArray:
    """The column as Arrow strings, without copying when pandas already stores it in Arrow."""
    values = series.array
    if pd.api.types.is_string_dtype(series.dtype) and hasattr(values, "__arrow_array__"):
        array = values.__arrow_array__()
        if isinstance(array, pa.Array):
            array = pa.chunked_array([array])
        if array.type != pa.string():
            array = pc.cast(array, pa.string())
        return array
    return pa.chunked_array([pa.array(series, type=pa.string(), from_pandas=True)])


def _finite(values: Any) -> Any:
    """Floats with infinities turned missing (models reject infinity; missing they impute);
    anything else as it is."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "f":
        numbers = np.asarray(values)
        is_infinite = np.isinf(numbers)
        if is_infinite.any():
            return np.where(is_infinite, np.nan, numbers)
    return values
