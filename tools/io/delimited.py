"""Read CSV and TSV files: encoding, delimiter and header sniffed, ragged rows and unclosed quotes refused."""

from __future__ import annotations

import codecs
import csv
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from tools.errors import DataError
from tools.io import input_limits
from tools.io.columns import NULL_VALUES as _NULL_VALUES
from tools.io.formats import Format, _first_sentence, _refuse_binary, _shown, _too_many_columns

log = logging.getLogger(__name__)

_DELIMITERS = (",", ";", "\t", "|")

_SAMPLE_BYTES = 1 << 16

_HEADER_SEARCH_LINES = 40

_MAX_HEADER_BYTES = input_limits.MAX_LINE_BYTES


def _read_delimited(
    path: Path,
    head: bytes,
    fmt: Format,
    *,
    max_columns: int,
    decoded_limit: int,
    notes: list[str],
) -> pd.DataFrame:
    _refuse_binary(path, head, fmt)
    with path.open("rb") as handle:
        header_bytes = handle.readline(_MAX_HEADER_BYTES)
        sample = header_bytes + handle.read(_SAMPLE_BYTES)
    encoding = _sniff_encoding(sample)
    text = sample.decode(encoding, errors="replace").lstrip("\ufeff")
    delimiter = "\t" if fmt == "tsv" else _sniff_delimiter(text)
    lines = [line.rstrip("\r") for line in text.split("\n")[:_HEADER_SEARCH_LINES]]
    lead = _header_line_index(lines, delimiter)
    if lead is None:
        raise DataError(
            f"The file “{_shown(path)}” has no header row: its first lines are empty. Put the "
            "column names on the first line."
        )
    header = next(csv.reader([lines[lead]], delimiter=delimiter))
    if len(header) > max_columns:
        raise DataError(_too_many_columns(_shown(path), len(header), max_columns))
    estimate = input_limits.delimited_estimate(path, n_columns=len(header))
    input_limits.check_estimate(_shown(path), estimate, decoded_limit, fmt=fmt)
    titles = sum(1 for line in lines[:lead] if line.strip())
    if titles:
        notes.append(
            f"Skipped {titles} line(s) above the header row (titles or notes, not table rows)."
        )
    placeholder = [f"__c{i}" for i in range(len(header))]
    table, bad_rows, encoding = _arrow_read_csv(
        path, delimiter, encoding, placeholder, skip_rows=lead + 1
    )
    total = table.num_rows + len(bad_rows)
    if bad_rows and any(number is None for number, _ in bad_rows):
        located = _locate_ragged_rows(path, encoding, delimiter, len(header), skip=lead + 1)
        bad_rows = located + bad_rows[len(located) :] if located else bad_rows
    if bad_rows:
        first = bad_rows[0]
        where = f"line {first[0]}" if first[0] is not None else "one line"
        if len(bad_rows) > max(0.01 * total, 0) or table.num_rows == 0:
            raise DataError(
                f"The file “{_shown(path)}” has rows with a different number of fields than the "
                f"header ({len(bad_rows):,} of {total:,} rows; {where} has {first[1]} fields, "
                f"the header has {len(header)}). Check the separator and quoting, or fix those "
                "rows, then attach it again."
            )
        lines = ", ".join(str(n) for n, _ in bad_rows[:5] if n is not None)
        notes.append(
            f"Skipped {len(bad_rows):,} row(s) with the wrong number of fields"
            + (f" (lines {lines})" if lines else "")
            + "."
        )
    _refuse_unclosed_quote(path, table, delimiter, skip_rows=lead + 1 + len(bad_rows))
    frame = table.to_pandas()  # one call: ~5x faster than column by column on wide files
    frame.columns = pd.Index(header, dtype=object)
    described = {",": "',' delimiter", ";": "';' delimiter", "\t": "tab delimiter"}.get(
        delimiter, f"'{delimiter}' delimiter"
    )
    if delimiter != "," or encoding not in ("utf-8", "utf-8-sig"):
        notes.append(f"Read with {described}, {encoding}.")
    return frame


def _refuse_unclosed_quote(path: Path, table: pa.Table, delimiter: str, *, skip_rows: int) -> None:
    """Raise DataError when an unclosed quote made the rest of the file one value.

    Cheap in the usual case: only when the file has more lines than rows (some value
    spans lines) are values searched for one holding many whole rows.
    """
    n_lines = _count_newlines(path)
    if n_lines <= table.num_rows + skip_rows:
        return
    width = max(table.num_columns - 1, 1)
    for index, column in enumerate(table.columns):
        line_breaks = pc.count_substring(column, "\n")
        most = pc.max(line_breaks).as_py() or 0
        if most < 2 or most < 0.1 * n_lines:
            continue
        row = int(pc.index(line_breaks, most).as_py())
        value = column[row].as_py() or ""
        if value.count(delimiter) * 2 >= width * most:
            raise DataError(
                f'The file “{_shown(path)}” has a quote (") that is never closed, in column '
                f"{index + 1} of data row {row + 1}: everything after it reads as one value. "
                "Close or remove that quote, then attach the file again."
            )


def _count_newlines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            count += chunk.count(b"\n")
    return count


def _locate_ragged_rows(
    path: Path, encoding: str, delimiter: str, n_fields: int, *, skip: int, limit: int = 5
) -> list[tuple[int | None, int]]:
    """Line numbers of the first rows whose field count differs from the header's.

    pyarrow's parallel reader does not know line numbers; this scan (capped at 64 MiB)
    finds them for the message.
    """
    found: list[tuple[int | None, int]] = []
    read = 0
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        for _ in range(skip):  # title lines and the header
            handle.readline()
        reader = csv.reader(handle, delimiter=delimiter)
        for row in reader:
            read += sum(len(v) for v in row) + len(row)
            if row and len(row) != n_fields:
                found.append((skip + reader.line_num, len(row)))
                if len(found) >= limit:
                    break
            if read > 1 << 26:
                break
    return found


def _header_line_index(lines: list[str], delimiter: str) -> int | None:
    """Index of the header line: the first non-blank one, unless title lines come first.

    Leading single-field lines ("Sales report 2024") are skipped when a line with the
    typical field count follows within 10 lines.
    """
    counts = [
        len(next(csv.reader([line], delimiter=delimiter))) if line.strip() else 0 for line in lines
    ]
    first = next((i for i, count in enumerate(counts) if count), None)
    if first is None:
        return None
    filled = [c for c in counts[first:] if c]
    typical = max(set(filled), key=lambda c: (filled.count(c), c))
    if counts[first] != 1 or typical < 2:
        return first
    for index in range(first, min(first + 11, len(counts))):
        if counts[index] >= typical:
            return index
    return first


def _sniff_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _sniff_delimiter(text: str) -> str:
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if len(lines) > 2 and not text.endswith("\n"):
        lines = lines[:-1]  # the sample may cut the last line
    best, best_key = ",", (-1.0, 0)
    for delimiter in _DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        consistency = counts.count(mode) / len(counts)
        key = (round(consistency, 2), mode)
        if key > best_key:
            best, best_key = delimiter, key
    return best


def _arrow_read_csv(
    path: Path, delimiter: str, encoding: str, names: list[str], *, skip_rows: int
) -> tuple[pa.Table, list[tuple[int | None, int]], str]:
    """Read every column as text; returns (table, skipped rows as (line, n_fields), encoding)."""
    for attempt in (encoding, "cp1252", "latin-1"):
        bad_rows: list[tuple[int | None, int]] = []

        def on_invalid(row: Any, bad_rows: list[tuple[int | None, int]] = bad_rows) -> str:
            bad_rows.append((row.number, row.actual_columns))
            return "skip"

        try:
            table = pa_csv.read_csv(
                path,
                read_options=pa_csv.ReadOptions(
                    column_names=names,
                    skip_rows=skip_rows,
                    encoding="utf8" if attempt in ("utf-8", "utf-8-sig") else attempt,
                    block_size=input_limits.MAX_LINE_BYTES,
                ),
                parse_options=pa_csv.ParseOptions(
                    delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    null_values=_NULL_VALUES,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
        except UnicodeError:  # raised by the Python codec pyarrow uses to transcode
            if attempt == "latin-1":
                break
            log.info("csv_encoding_retry from=%s reason=codec", attempt)
            continue
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "UTF8" in message or "utf8" in message.lower() or "decode" in message.lower():
                if attempt == "latin-1":
                    break
                log.info("csv_encoding_retry from=%s", attempt)
                continue
            if "Empty CSV file" in message:
                return pa.table({n: pa.array([], pa.string()) for n in names}), [], attempt
            raise DataError(
                f"The file “{_shown(path)}” could not be read as a table: "
                f"{_first_sentence(message)}. Check that it is a plain CSV file."
            ) from exc
        if table.schema.names and attempt in ("utf-8", "utf-8-sig"):
            # pyarrow does not validate UTF-8 for string columns read as binary-safe text;
            # validating catches Latin-1 bytes outside the sniffed sample.
            try:
                for column in table.columns:
                    column.validate(full=True)
            except pa.ArrowInvalid:
                log.info("csv_encoding_retry from=%s reason=invalid_utf8", attempt)
                continue
        return table, bad_rows, attempt
    raise DataError(
        f"The file “{_shown(path)}” is not readable text in UTF-8 or Latin-1. Save it as CSV "
        "UTF-8 and attach it again."
    )
