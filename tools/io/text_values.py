"""Typed values out of text cells, with Arrow: numbers (separators, decimal commas,
currency and % signs, accounting negatives), yes/no words and dates in one format.

:mod:`tools.io.columns` decides with these how each column is read and applies the
same code to later rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


def as_number(array: pa.ChunkedArray, n_valid: int) -> tuple[np.ndarray, bool, str | None] | None:
    """The column as numbers (whole ones as ints), whether it uses decimal commas, and the
    note's words; None when it is not numbers, or is codes that must stay text."""
    how: str | None = None
    values: pa.ChunkedArray | None = None
    decimal_comma = False
    if casts(type_sample(array), pa.float64()):
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
    return whole_to_int(numbers), decimal_comma, how


def whole_to_int(numbers: np.ndarray) -> np.ndarray:
    """Int64 when every value is a whole number below 2**53 and none is missing."""
    present = numbers[~np.isnan(numbers)]
    largest = float(np.abs(present).max()) if len(present) else 0.0
    if len(present) == len(numbers) and largest < 2**53 and np.all(np.mod(numbers, 1) == 0):
        return numbers.astype(np.int64)
    return numbers


def casts(array: pa.ChunkedArray, to: pa.DataType) -> bool:
    """Whether Arrow casts every cell of ``array`` to ``to``."""
    try:
        pc.cast(array, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def numbers_from_text(array: pa.ChunkedArray, *, decimal_comma: bool) -> pa.ChunkedArray:
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
    sample = _bare_number_text(type_sample(array))
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
    raw_sample = type_sample(array)
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


def boolean_words(array: pa.ChunkedArray) -> tuple[str, str] | None:
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


def word_truth(lowered: pa.ChunkedArray) -> pa.ChunkedArray:
    """True for a yes word, False for a no word, missing for anything else."""
    is_true = pc.is_in(lowered, value_set=pa.array(sorted(_TRUE_WORDS)))
    is_false = pc.is_in(lowered, value_set=pa.array(sorted(_FALSE_WORDS)))
    return pc.if_else(pc.or_(is_true, is_false), is_true, pa.scalar(None, pa.bool_()))


def truth_values(truth: pa.ChunkedArray) -> np.ndarray | pd.arrays.BooleanArray:
    """Booleans as numpy, or as pandas' nullable booleans when some are missing."""
    if truth.null_count == 0:
        return truth.to_numpy(zero_copy_only=False).astype(bool)
    return pd.array(truth.to_pylist(), dtype="boolean")


def as_dates(array: pa.ChunkedArray, n_valid: int) -> tuple[np.ndarray, str | None, str] | None:
    """The column as datetimes, the format used (None: ISO 8601), and the note's words."""
    sample = type_sample(array)
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
    values = iso_values(array)
    if (~np.isnat(values)).sum() / n_valid < _DATE_MIN_SHARE:
        return None
    return values, None, "dates (ISO 8601 timestamps, in UTC)"


def date_values(array: pa.ChunkedArray, fmt: str) -> np.ndarray:
    """Dates in ``fmt`` as datetime64; missing where a cell does not match."""
    parsed = pc.strptime(array, format=fmt, unit="s", error_is_null=True)
    return parsed.to_numpy(zero_copy_only=False).astype("datetime64[ns]")


def iso_values(array: pa.ChunkedArray) -> np.ndarray:
    """ISO 8601 timestamps with fractions or time zones, in UTC without a zone."""
    values = pd.to_datetime(array.to_pandas(), format="ISO8601", errors="coerce", utc=True)
    return values.dt.tz_convert(None).to_numpy()


def type_sample(array: pa.ChunkedArray) -> pa.ChunkedArray:
    """At most a few thousand evenly spaced cells, to decide a column's type cheaply."""
    if len(array) <= _TYPE_SAMPLE:
        return array
    step = len(array) // _TYPE_SAMPLE
    return pc.take(array, pa.array(np.arange(0, len(array), step)[:_TYPE_SAMPLE]))
