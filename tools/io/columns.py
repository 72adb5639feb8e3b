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

_TRUE_WORDS = frozenset({"yes", "true", "y", "t"})

_FALSE_WORDS = frozenset({"no", "false", "n", "f"})

_CURRENCY = "[$€£¥]"

_DECORATION = "[$€£¥( \\x{00A0}\\x{202F}]"  # what _bare_number_text removes

_NUMBER_RE = r"^[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?%?$"  # 1,234.5  12%  (after _bare_number_text)

_DECIMAL_COMMA_RE = r"^[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?%?$"  # 1.234,5  3,75

_DECIMAL_COMMA_HINT = r"(,\d{1,2}|,\d{4,})%?$|\.\d{3},"

_DATE_FORMATS: tuple[tuple[str, str], ...] = (
    ("%Y-%m-%d", "2024-01-31"),
    ("%d/%m/%y", "31/01/24"),
    ("%m/%d/%y", "01/31/24"),
    ("%d.%m.%y", "31.01.24"),
    ("%Y-%m-%d %H:%M:%S", "2024-01-31 13:45:00"),
    ("%Y-%m-%dT%H:%M:%S", "2024-01-31T13:45:00"),
    ("%Y-%m-%d %H:%M", "2024-01-31 13:45"),
    ("%Y/%m/%d", "2024/01/31"),
    ("%d/%m/%Y", "31/01/2024"),
    ("%m/%d/%Y", "01/31/2024"),
    ("%d.%m.%Y", "31.01.2024"),
    ("%d-%m-%Y", "31-01-2024"),
    ("%d/%m/%Y %H:%M", "31/01/2024 13:45"),
    ("%m/%d/%Y %H:%M", "01/31/2024 13:45"),
    ("%b %d %Y", "Jan 5 2024"),
    ("%b %d, %Y", "Jan 5, 2024"),
    ("%d %b %Y", "5 Jan 2024"),
    ("%B %d %Y", "January 5 2024"),
    ("%B %d, %Y", "January 5, 2024"),
    ("%d %B %Y", "5 January 2024"),
)

_DATE_MIN_SHARE = 0.9

_NUMBER_MIN_SHARE = 0.98

_TYPE_SAMPLE = 2_000


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
            return _whole_to_int(series.to_numpy(dtype=np.float64, na_value=np.nan))
        if decision.kind != "text" or series.isna().all():
            return series  # typed already: by load_table, or by pandas.read_csv
        series = series.astype(object)  # numbers in a text column (codes read as ints)
    array = _missing_tokens(pc.utf8_trim_whitespace(_arrow_strings(_text_cells(series))))
    if decision.kind == "number":
        numbers = _numbers_from_text(array, decimal_comma=decision.decimal_comma)
        return _whole_to_int(numbers.to_numpy(zero_copy_only=False).astype(np.float64))
    if decision.kind == "boolean":
        return _truth_values(_truth(pc.utf8_lower(array)))
    if decision.kind == "date":
        if decision.date_format is None:
            return _iso_values(array)
        return _date_values(array, decision.date_format)
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
    if n_raw and _casts(_sample(array), pa.float64()):
        # Clean numeric text (the common case) needs no whitespace trimming pass.
        number = _as_number(array, n_raw)
        if number is not None:
            return number
    trimmed = _missing_tokens(pc.utf8_trim_whitespace(array))
    n_valid = len(trimmed) - trimmed.null_count
    if n_valid == 0:
        return trimmed.to_pandas().array, ColumnParse("text"), None
    number = _as_number(trimmed, n_valid)
    if number is not None:
        return number
    words = _boolean_words(trimmed)
    if words is not None:
        truth = _truth_values(_truth(pc.utf8_lower(trimmed)))
        return truth, ColumnParse("boolean", words=words), "yes/no values"
    dates = _as_dates(trimmed, n_valid)
    if dates is not None:
        values, fmt, how = dates
        return values, ColumnParse("date", date_format=fmt), how
    return trimmed.to_pandas().array, ColumnParse("text"), None


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


def _has_long_integer(array: pa.ChunkedArray) -> bool:
    """Whole numbers of 16+ digits lose digits as floats (IDs, card and phone numbers)."""
    candidates = pc.filter(array, pc.greater_equal(pc.utf8_length(array), 16))
    if len(candidates) == 0:
        return False
    return bool(pc.any(pc.match_substring_regex(candidates, r"^[-+]?\d{16,}$")).as_py())


def _has_leading_zero(array: pa.ChunkedArray) -> bool:
    # A cheap prefix test first; the regex only runs on values starting with "0".
    candidates = pc.filter(array, pc.starts_with(array, "0"))
    if len(candidates) == 0:
        return False
    return bool(pc.any(pc.match_substring_regex(candidates, r"^0\d")).as_py())


def _as_number(
    array: pa.ChunkedArray, n_valid: int
) -> tuple[np.ndarray, ColumnParse, str | None] | None:
    how: str | None = None
    values: pa.ChunkedArray | None = None
    decimal_comma = False
    if _casts(_sample(array), pa.float64()):
        try:
            values = pc.cast(array, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = None
    if values is None:
        cleaned = _clean_number_text(array, n_valid)
        if cleaned is None:
            return None
        text, how, decimal_comma = cleaned
        values = pc.cast(text, pa.float64())
    numbers = values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    present = numbers[~np.isnan(numbers)]
    largest = float(np.abs(present).max()) if len(present) else 0.0
    if _has_leading_zero(array) or (largest >= 1e15 and _has_long_integer(array)):
        return None  # codes (ZIP codes, IDs, card numbers) stay text: no lost zeros or digits
    decision = ColumnParse("number", decimal_comma=decimal_comma)
    return _whole_to_int(numbers), decision, how


def _whole_to_int(numbers: np.ndarray) -> np.ndarray:
    present = numbers[~np.isnan(numbers)]
    largest = float(np.abs(present).max()) if len(present) else 0.0
    if len(present) == len(numbers) and largest < 2**53 and np.all(np.mod(numbers, 1) == 0):
        return numbers.astype(np.int64)
    return numbers


def _casts(array: pa.ChunkedArray, to: pa.DataType) -> bool:
    try:
        pc.cast(array, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _numbers_from_text(array: pa.ChunkedArray, *, decimal_comma: bool) -> pa.ChunkedArray:
    """Text to float64 as decided: plain numbers, else separators and signs stripped;
    a cell that is no such number becomes missing."""
    if not decimal_comma:
        try:
            return pc.cast(array, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    text, _ = _number_text(array, decimal_comma=decimal_comma, decorated=True)
    return pc.cast(text, pa.float64())


def _number_text(
    array: pa.ChunkedArray, *, decimal_comma: bool, decorated: bool
) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """Plain number text (missing where a cell does not match), and the match mask."""
    bare = _bare_number_text(array) if decorated else array
    pattern = _DECIMAL_COMMA_RE if decimal_comma else _NUMBER_RE
    matches = pc.match_substring_regex(bare, pattern)
    if decimal_comma:
        text = pc.replace_substring_regex(bare, r"[.%]", "")
        text = pc.replace_substring(text, ",", ".")
    else:
        text = pc.replace_substring_regex(bare, r"[,%]", "")
    return pc.if_else(matches, text, pa.scalar(None, pa.string())), matches


def _clean_number_text(
    array: pa.ChunkedArray, n_valid: int
) -> tuple[pa.ChunkedArray, str, bool] | None:
    """Strip separators, currency and % signs when nearly every value is such a number."""
    sample = _bare_number_text(_sample(array))
    sample_valid = len(sample) - sample.null_count
    if sample_valid == 0:
        return None
    decimal_comma = bool(pc.any(pc.match_substring_regex(sample, _DECIMAL_COMMA_HINT)).as_py())
    pattern = _DECIMAL_COMMA_RE if decimal_comma else _NUMBER_RE
    hits = pc.sum(pc.match_substring_regex(sample, pattern)).as_py() or 0
    if hits / sample_valid < _NUMBER_MIN_SHARE:
        return None
    decorated = bool(pc.any(pc.match_substring_regex(array, _DECORATION)).as_py())
    text, matches = _number_text(array, decimal_comma=decimal_comma, decorated=decorated)
    n_matched = pc.sum(matches).as_py() or 0
    if n_matched / n_valid < _NUMBER_MIN_SHARE:
        return None
    n_bad = n_valid - n_matched
    # The note describes the sample: cheap, and what the values look like is clear from it.
    raw_sample = _sample(array)
    parts = []
    if decimal_comma:
        parts.append("decimal commas")
    if pc.any(pc.match_substring_regex(raw_sample, r"\d[, \x{00A0}\x{202F}]\d{3}")).as_py():
        parts.append("thousands separators")
    if pc.any(pc.match_substring(raw_sample, "%")).as_py():
        parts.append("% signs")
    if decorated and pc.any(pc.match_substring_regex(raw_sample, _CURRENCY)).as_py():
        parts.append("currency signs")
    how = "numbers (" + ", ".join(parts) + ")" if parts else "numbers"
    if n_bad:
        how += f"; {n_bad:,} value(s) that are not numbers became missing"
    return text, how, decimal_comma


def _bare_number_text(array: pa.ChunkedArray) -> pa.ChunkedArray:
    """Drop a leading or trailing currency sign, spaces between groups of thousands and
    before %, and turn accounting negatives "(1,234)" into "-1,234"."""
    bare = pc.replace_substring_regex(array, r"^\(([^()]*)\)$", r"-\1")
    bare = pc.replace_substring_regex(bare, r"^([-+]?)" + _CURRENCY + r"\s*", r"\1")
    bare = pc.replace_substring_regex(bare, r"\s*" + _CURRENCY + "$", "")
    bare = pc.replace_substring_regex(bare, r"(\d)\s+%$", r"\1%")
    for _ in range(2):  # "1 234 567": each pass joins every other group
        bare = pc.replace_substring_regex(bare, r"(\d)[ \x{00A0}\x{202F}](\d{3})", r"\1\2")
    return bare


def _boolean_words(array: pa.ChunkedArray) -> tuple[str, str] | None:
    """The (false word, true word) of a column holding only yes/no words, else None."""
    lowered = pc.utf8_lower(array)
    distinct = {v for v in pc.unique(lowered).to_pylist() if v is not None}
    if not distinct or not distinct <= (_TRUE_WORDS | _FALSE_WORDS):
        return None
    if len(distinct) == 1 and len(next(iter(distinct))) == 1:
        return None  # a lone "y" or "n" is more likely a code than a yes/no column
    counts = pc.value_counts(array.drop_null()).to_pylist()
    spelled = sorted(counts, key=lambda item: -item["counts"])
    true_word = next((c["values"] for c in spelled if c["values"].lower() in _TRUE_WORDS), "True")
    false_word = next(
        (c["values"] for c in spelled if c["values"].lower() in _FALSE_WORDS), "False"
    )
    return false_word, true_word


def _truth(lowered: pa.ChunkedArray) -> pa.ChunkedArray:
    """True for a yes word, False for a no word, missing for anything else."""
    is_true = pc.is_in(lowered, value_set=pa.array(sorted(_TRUE_WORDS)))
    is_false = pc.is_in(lowered, value_set=pa.array(sorted(_FALSE_WORDS)))
    return pc.if_else(pc.or_(is_true, is_false), is_true, pa.scalar(None, pa.bool_()))


def _truth_values(truth: pa.ChunkedArray) -> np.ndarray | pd.arrays.BooleanArray:
    if truth.null_count == 0:
        return truth.to_numpy(zero_copy_only=False).astype(bool)
    return pd.array(truth.to_pylist(), dtype="boolean")


def _as_dates(array: pa.ChunkedArray, n_valid: int) -> tuple[np.ndarray, str | None, str] | None:
    """The column as datetimes, the format used (None: ISO 8601), and the note's words."""
    sample = _sample(array)
    sample_valid = len(sample) - sample.null_count
    if sample_valid == 0:
        return None
    first = sample.drop_null()[0].as_py()
    if not any(ch.isdigit() for ch in first) or len(first) > 40:
        return None
    candidates: list[tuple[float, int, str, str]] = []
    for order, (fmt, example) in enumerate(_DATE_FORMATS):
        parsed = pc.strptime(sample, format=fmt, unit="s", error_is_null=True)
        share = (len(parsed) - parsed.null_count) / sample_valid
        if share >= _DATE_MIN_SHARE:
            candidates.append((-share, order, fmt, example))
    # Sample shares tie when every day in the sample is <= 12 (31/01 vs 01/31), so the
    # candidates are compared on the whole column.
    best: tuple[float, str, pa.ChunkedArray, str] | None = None
    for _, _, fmt, example in sorted(candidates):
        parsed = pc.strptime(array, format=fmt, unit="s", error_is_null=True)
        share = (len(parsed) - parsed.null_count) / n_valid
        if share >= _DATE_MIN_SHARE and (best is None or share > best[0]):
            best = (share, fmt, parsed, example)
    if best is not None:
        values = best[2].to_numpy(zero_copy_only=False).astype("datetime64[ns]")
        return values, best[1], f"dates (like {best[3]})"
    if candidates:
        return None
    sample_text = sample.to_pandas()
    if not sample_text.dropna().str.match(r"^\d{4}-\d{2}-\d{2}[T ]\d").all():
        return None
    values = _iso_values(array)
    if (~np.isnat(values)).sum() / n_valid < _DATE_MIN_SHARE:
        return None
    return values, None, "dates (ISO 8601 timestamps, in UTC)"


def _date_values(array: pa.ChunkedArray, fmt: str) -> np.ndarray:
    parsed = pc.strptime(array, format=fmt, unit="s", error_is_null=True)
    return parsed.to_numpy(zero_copy_only=False).astype("datetime64[ns]")


def _iso_values(array: pa.ChunkedArray) -> np.ndarray:
    """ISO 8601 timestamps with fractions or time zones, in UTC without a zone."""
    values = pd.to_datetime(array.to_pandas(), format="ISO8601", errors="coerce", utc=True)
    return values.dt.tz_convert(None).to_numpy()


def _sample(array: pa.ChunkedArray) -> pa.ChunkedArray:
    if len(array) <= _TYPE_SAMPLE:
        return array
    step = len(array) // _TYPE_SAMPLE
    return pc.take(array, pa.array(np.arange(0, len(array), step)[:_TYPE_SAMPLE]))
