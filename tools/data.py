"""Load a table from a file the user attached, with clear errors and clean column types.

Formats: CSV (delimiter and encoding sniffed), TSV, Parquet, Excel (``.xlsx``, ``.xls``),
JSON (records, columns-oriented, ``{"data": [...]}`` wrappers) and JSON Lines.
Every refusal is a :class:`~tools.errors.DataError` whose message names the file
by its name only and says what to do next.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import json
import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tools import excel_child, input_limits
from tools.errors import DataError, TargetError
from tools.input_limits import human_bytes as _human_bytes
from tools.raw_parsing import NULL_VALUES as _NULL_VALUES
from tools.raw_parsing import RawTableParser, cell_text, clean_types

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: int = 1 << 30  # 1 GiB
"""Largest file accepted by :func:`load_table` unless the caller passes another limit."""

Format = Literal["csv", "tsv", "parquet", "excel", "json", "jsonl"]

_SUFFIX_FORMATS: dict[str, Format] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_FORMAT_NAMES: dict[Format, str] = {
    "csv": "CSV table",
    "tsv": "TSV table",
    "parquet": "Parquet file",
    "excel": "Excel workbook",
    "json": "JSON file",
    "jsonl": "JSON Lines file",
}
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive (for example an Excel workbook)"),
    (b"PAR1", "a Parquet file"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (.xls)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
    (b"SQLite format 3", "an SQLite database"),
)
_UNREADABLE = (
    OSError,
    pa.ArrowException,
    UnicodeError,
    RecursionError,
    MemoryError,
    ValueError,
    TypeError,
    KeyError,
    zipfile.BadZipFile,
    zlib.error,
    csv.Error,
    NotImplementedError,
    EOFError,
)
_DELIMITERS = (",", ";", "\t", "|")
_SAMPLE_BYTES = 1 << 16
_HEADER_SEARCH_LINES = 40
_MAX_HEADER_BYTES = input_limits.MAX_LINE_BYTES


@dataclass(frozen=True, slots=True)
class LoadedTable:
    """A table read from a file, with what loading did to it."""

    frame: pd.DataFrame
    path: Path
    format: Format
    sheet: str | None
    """The sheet used (Excel only)."""
    sheets: tuple[str, ...]
    """Every sheet in the workbook (Excel only), else ``()``."""
    notes: tuple[str, ...]
    """Sentences for the user about what loading did (sheet used, renamed columns, parsed types)."""
    boolean_words: dict[str, tuple[str, str]] = field(default_factory=dict)
    """For columns parsed from yes/no words: column -> (word for False, word for True) as
    spelled most often in the file, so predictions can be written back in the user's words."""
    parser: RawTableParser = field(default_factory=RawTableParser)
    """How each column was parsed, to parse later rows the same way (the saved model's
    first step; see :mod:`tools.raw_parsing`)."""


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_table(
    path: Path,
    *,
    sheet: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_decoded_bytes: int | None = None,
    max_columns: int = 10_000,
    min_columns: int = 2,
    parser: RawTableParser | None = None,
) -> LoadedTable:
    """Read a CSV, TSV, Parquet, Excel or JSON file into a clean DataFrame.

    ``min_columns`` is 2 for training files (a target and a feature); pass 1 to
    read a file to predict on, which has no target column. ``parser`` (a saved
    model's first step) reads the columns it names as the training file was read,
    instead of deciding their types again on this file.

    The size is checked before anything is read, and so is the size the table would
    take once decoded (estimated per format by :mod:`tools.input_limits`; at most
    ``max_decoded_bytes``, by default twice ``max_bytes``). Column names are stripped and
    made unique; text columns holding numbers ("1,234", "12%"), yes/no words or
    dates become numeric, boolean or datetime columns.

    Raises:
        DataError: with one sentence the user can act on (empty, binary, too
            large, too large once decoded, too many columns, no rows, a single column,
            unreadable).
    """
    path = Path(path)
    decoded_limit = (
        input_limits.decoded_limit(max_bytes) if max_decoded_bytes is None else max_decoded_bytes
    )
    name = _shown(path)
    if not path.is_file():
        raise DataError(f"The file “{name}” does not exist or is not a regular file.")
    size = path.stat().st_size
    if size == 0:
        raise DataError(
            f"The file “{name}” is empty (0 bytes). Attach a file with a header row and data rows."
        )
    if size > max_bytes:
        raise DataError(
            f"The file “{name}” is {_human_bytes(size)}, more than the {_human_bytes(max_bytes)} "
            "limit. Attach a smaller extract (for example a sample of the rows), or raise the "
            "limit in the settings."
        )
    with path.open("rb") as handle:
        head = handle.read(4096)
    fmt = _detect_format(path, head)
    notes: list[str] = []
    sheets: tuple[str, ...] = ()
    used_sheet: str | None = None
    try:
        if fmt in ("csv", "tsv"):
            frame = _read_delimited(
                path,
                head,
                fmt,
                max_columns=max_columns,
                decoded_limit=decoded_limit,
                notes=notes,
            )
        elif fmt == "parquet":
            frame = _read_parquet(path, head, max_columns=max_columns, decoded_limit=decoded_limit)
        elif fmt == "excel":
            frame, used_sheet, sheets = _read_excel(
                path,
                head,
                sheet=sheet,
                max_columns=max_columns,
                decoded_limit=decoded_limit,
                notes=notes,
            )
        else:
            input_limits.check_estimate(
                name, input_limits.json_estimate(size), decoded_limit, fmt=fmt
            )
            frame, fmt = _read_json(path, head, fmt, notes=notes)
    except _UNREADABLE as exc:
        # Untrusted bytes can trip any reader; the person gets one sentence, we get the type.
        log.warning("load_table_failed format=%s error=%s", fmt, type(exc).__name__)
        raise DataError(
            f"The file “{name}” could not be read as {_a(_FORMAT_NAMES[fmt])}. Check that it "
            "opens in a spreadsheet program, or save it again as CSV."
        ) from exc
    frame = _drop_empty_unnamed_columns(frame, notes)
    frame = _clean_names(frame, notes)
    if frame.shape[1] > max_columns:
        raise DataError(_too_many_columns(name, frame.shape[1], max_columns))
    frame = _drop_empty_rows(frame, notes)
    if len(frame) == 0:
        raise DataError(
            f"The file “{name}” has a header but no data rows. Attach a file with at least "
            "one row of data under the header."
        )
    if frame.shape[1] < min_columns:
        only = f" (“{frame.columns[0]}”)" if frame.shape[1] == 1 else ""
        hint = (
            " If the values are separated by something other than , ; tab or |, save it as "
            "a standard CSV."
            if fmt in ("csv", "tsv")
            else ""
        )
        raise DataError(
            f"The file “{name}” has only one column{only}; training needs a target column and "
            f"at least one feature column.{hint}"
        )
    frame, parser = clean_types(frame, notes, decided=parser)
    log.info(
        "load_table format=%s rows=%d columns=%d bytes=%d", fmt, len(frame), frame.shape[1], size
    )
    return LoadedTable(
        frame=frame,
        path=path,
        format=fmt,
        sheet=used_sheet,
        sheets=sheets,
        notes=tuple(notes),
        boolean_words=parser.boolean_words(),
        parser=parser,
    )


def resolve_column(columns: Iterable[str], name: str) -> str:
    """Return the column the user meant by ``name``.

    Exact match first, then a match ignoring case, spaces, underscores and
    hyphens. Otherwise raises :class:`TargetError` naming up to three close
    column names and how to pick one.
    """
    columns = [str(c) for c in columns]
    if name in columns:
        return name
    wanted = _normalise_name(name)
    loose = [c for c in columns if _normalise_name(c) == wanted]
    if len(loose) == 1:
        return loose[0]
    if len(loose) > 1:
        listed = ", ".join(f"“{c}”" for c in loose[:3])
        raise TargetError(
            f"“{name}” matches several columns: {listed}. Say “the target is {loose[0]}” "
            "with the exact spelling of the one you mean."
        )
    by_normal = {_normalise_name(c): c for c in columns}
    close = difflib.get_close_matches(wanted, list(by_normal), n=3, cutoff=0.5)
    close_names = [by_normal[c] for c in close]
    if close_names:
        listed = ", ".join(f"“{c}”" for c in close_names)
        raise TargetError(
            f"The table has no column named “{name}”. Closest matches: {listed}. "
            f"Say “the target is {close_names[0]}” to use it."
        )
    shown = ", ".join(f"“{c}”" for c in columns[:8])
    more = f" and {len(columns) - 8} more" if len(columns) > 8 else ""
    raise TargetError(
        f"The table has no column named “{name}”. Its columns are {shown}{more}. "
        "Say “the target is <column>” with one of them."
    )


# --- format detection ---------------------------------------------------------------


def _detect_format(path: Path, head: bytes) -> Format:
    suffix = path.suffix.lower()
    if suffix in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[suffix]
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "excel"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"[", b"{"):
        return "json"
    if suffix in ("", ".dat", ".data"):
        return "csv"
    raise DataError(
        f"The file “{_shown(path)}” has the extension “{suffix}”, which is not a table format "
        "mlchat reads. Attach a CSV, TSV, Parquet, Excel (.xlsx or .xls) or JSON file."
    )


def _refuse_binary(path: Path, head: bytes, fmt: Format) -> None:
    """Raise DataError when a text format's first bytes look binary."""
    what = _FORMAT_NAMES[fmt]
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            raise DataError(
                f"This file does not look like {_a(what)} (it contains binary data; it looks like "
                f"{kind}): “{_shown(path)}”. Attach the table itself, or give the file its real "
                "extension."
            )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    first_kb = head[:1024]
    if b"\x00" in first_kb or _control_share(first_kb) > 0.1:
        raise DataError(
            f"This file does not look like {_a(what)} (it contains binary data): “{_shown(path)}”. "
            "Attach the table itself as CSV, Excel, Parquet or JSON."
        )


def _control_share(data: bytes) -> float:
    if not data:
        return 0.0
    allowed = {9, 10, 12, 13, 8}
    controls = sum(1 for b in data if b < 32 and b not in allowed)
    return controls / len(data)


# --- CSV / TSV ------------------------------------------------------------------------


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


# --- Parquet ---------------------------------------------------------------------------


def _read_parquet(path: Path, head: bytes, *, max_columns: int, decoded_limit: int) -> pd.DataFrame:
    if not head.startswith(b"PAR1"):
        raise DataError(
            f"This file does not look like a Parquet file (it does not start with the Parquet "
            f"signature): “{_shown(path)}”. Attach the original file or save it as CSV."
        )
    try:
        with pq.ParquetFile(path) as parquet:
            metadata = parquet.metadata
            if metadata.num_columns > max_columns:
                raise DataError(_too_many_columns(_shown(path), metadata.num_columns, max_columns))
            estimate = input_limits.parquet_estimate(metadata)
            input_limits.check_estimate(_shown(path), estimate, decoded_limit, fmt="parquet")
            table = input_limits.read_parquet_counted(
                parquet, file_name=_shown(path), limit_bytes=decoded_limit, estimate_bytes=estimate
            )
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"The Parquet file “{_shown(path)}” is damaged or incomplete and could not be read. "
            "Export it again, or save it as CSV."
        ) from exc
    frame = table.to_pandas()
    return frame.reset_index(drop=not _has_named_index(frame))


def _has_named_index(frame: pd.DataFrame) -> bool:
    return any(name is not None for name in frame.index.names)


# --- Excel -----------------------------------------------------------------------------


def _check_real_sizes(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Stream every part once: a part whose header understates its size fails its CRC.

    The declared sizes checked above can be forged; Python's zip reader stops at the
    declared size, so a forged part ends with a CRC mismatch instead of a flood.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            for info in infos:
                with archive.open(info) as part:
                    while part.read(1 << 20):
                        pass
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
        raise DataError(
            f"The workbook “{_shown(path)}” is damaged (a part of it does not unpack to what "
            "its header says), so it was not opened. Save the sheet you need as CSV and "
            "attach that."
        ) from exc


def _read_excel(
    path: Path,
    head: bytes,
    *,
    sheet: str | None,
    max_columns: int,
    decoded_limit: int,
    notes: list[str],
) -> tuple[pd.DataFrame, str, tuple[str, ...]]:
    """Check the zip directory, then read in a capped child unless the workbook is tiny."""
    name = _shown(path)
    is_legacy = head.startswith(b"\xd0\xcf\x11\xe0")  # .xls (OLE2): no zip to check
    if not is_legacy:
        infos = excel_child.check_zip_directory(path, name, decoded_limit=decoded_limit)
        if "xl/workbook.xml" not in {info.filename for info in infos}:
            raise DataError(
                f"This file does not look like an Excel workbook (it is a zip archive without a "
                f"workbook inside): “{name}”. Attach the .xlsx file itself."
            )
        _check_real_sizes(path, infos)
        if excel_child.fits_in_process(path, infos):
            return read_excel_in_process(path, sheet=sheet, max_columns=max_columns, notes=notes)
    book = excel_child.read_in_child(
        path, file_name=name, sheet=sheet, max_columns=max_columns, decoded_limit=decoded_limit
    )
    notes.extend(book.notes)
    return book.frame, book.sheet, book.sheets


def read_excel_in_process(
    path: Path, *, sheet: str | None, max_columns: int, notes: list[str]
) -> tuple[pd.DataFrame, str, tuple[str, ...]]:
    """Read one sheet of a workbook in this process: (frame, sheet used, all sheets).

    No memory cap: :func:`load_table` calls it only for workbooks whose worst
    case is bounded, and :mod:`tools.excel_child` calls it inside the capped child.
    """
    sheets, read_sheet = _open_workbook(path)
    if sheet is not None:
        chosen = _match_sheet(sheets, sheet)
        if chosen is None:
            listed = ", ".join(f"“{s}”" for s in sheets)
            raise DataError(
                f"The workbook “{_shown(path)}” has no sheet named “{sheet}”. Its sheets are "
                f"{listed}; say which one to use."
            )
        rows, skipped = _table_rows(read_sheet(chosen, max_columns), _shown(path), max_columns)
        if not rows:
            raise DataError(
                f"The sheet “{chosen}” of “{_shown(path)}” is empty. Pick another sheet: "
                + ", ".join(f"“{s}”" for s in sheets)
                + "."
            )
    else:
        chosen, rows, skipped = "", [], 0
        for candidate in sheets:
            rows, skipped = _table_rows(
                read_sheet(candidate, max_columns), _shown(path), max_columns
            )
            if rows:
                chosen = candidate
                break
        if not rows:
            raise DataError(f"Every sheet of the workbook “{_shown(path)}” is empty.")
    if len(sheets) > 1:
        why = "as asked" if sheet is not None else "the first non-empty sheet"
        listed = ", ".join(f"'{s}'" for s in sheets[:10])
        listed += f" and {len(sheets) - 10} more" if len(sheets) > 10 else ""
        notes.append(
            f"Used sheet '{chosen}' of {len(sheets)} ({why}); the sheets are {listed}. "
            "Name another sheet to use it instead."
        )
    if skipped:
        notes.append(
            f"Skipped {skipped} row(s) above the header row of sheet '{chosen}' (titles or "
            "notes, not table rows)."
        )
    header, body = rows[0], rows[1:]
    width = len(header)
    body = [list(r) + [None] * (width - len(r)) for r in body]
    columns = ["" if h is None else str(h) for h in header]
    frame = pd.DataFrame(body, columns=pd.Index(columns, dtype=object))
    return _whole_floats_to_int(frame), chosen, sheets


SheetReader = Callable[[str, int], list[list[Any]]]


def _open_workbook(path: Path) -> tuple[tuple[str, ...], SheetReader]:
    """Sheet names and a function reading one sheet's cells (empty cells as None).

    Uses calamine (Rust; ~100x faster than openpyxl and reads .xls too) when it is
    installed, else openpyxl.
    """
    damaged = (
        f"The workbook “{_shown(path)}” is damaged and could not be opened. Open it in Excel, "
        "save it again as .xlsx, or export the sheet as CSV."
    )
    try:
        import python_calamine
    except ImportError:  # pragma: no cover - calamine is a dependency; openpyxl is the fallback
        return _open_with_openpyxl(path, damaged)
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError as exc:
        raise DataError(
            f"The workbook “{_shown(path)}” is password-protected. Save a copy without a "
            "password (or export the sheet as CSV) and attach that."
        ) from exc
    except Exception as exc:  # calamine raises several unrelated types for damaged files
        raise DataError(damaged) from exc

    def read_sheet(name: str, max_columns: int) -> list[list[Any]]:
        try:
            worksheet = workbook.get_sheet_by_name(name)
            if worksheet.total_width > max_columns:
                raise DataError(_too_many_columns(_shown(path), worksheet.total_width, max_columns))
            rows = worksheet.to_python(skip_empty_area=False)
        except DataError:
            raise
        except Exception as exc:
            raise DataError(damaged) from exc
        return [[None if v == "" else v for v in row] for row in rows]

    sheets = tuple(
        meta.name
        for meta in workbook.sheets_metadata
        if meta.typ == python_calamine.SheetTypeEnum.WorkSheet
    )
    return sheets or tuple(workbook.sheet_names), read_sheet


def _open_with_openpyxl(path: Path, damaged: str) -> tuple[tuple[str, ...], SheetReader]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for damaged files
        raise DataError(damaged) from exc

    def read_sheet(name: str, max_columns: int) -> list[list[Any]]:
        rows = []
        for row in workbook[name].iter_rows(values_only=True):
            if len(rows) < 1_000 and len(row) > max_columns:
                last = max((i for i, v in enumerate(row) if not _blank_cell(v)), default=-1)
                if last + 1 > max_columns:
                    raise DataError(_too_many_columns(_shown(path), last + 1, max_columns))
            rows.append(list(row))
        return rows

    return tuple(workbook.sheetnames), read_sheet


def _whole_floats_to_int(frame: pd.DataFrame) -> pd.DataFrame:
    """Excel stores every number as a float; complete whole-number columns become int64."""
    for name in frame.columns[frame.dtypes == np.float64]:
        values = frame[name].to_numpy()
        is_whole = not np.isnan(values).any() and np.all(np.mod(values, 1) == 0)
        if is_whole and np.abs(values).max(initial=0) < 2**53:
            frame[name] = values.astype(np.int64)
    return frame


def _match_sheet(sheets: tuple[str, ...], wanted: str) -> str | None:
    if wanted in sheets:
        return wanted
    loose = [s for s in sheets if _normalise_name(s) == _normalise_name(wanted)]
    return loose[0] if len(loose) == 1 else None


def _table_rows(
    rows: list[list[Any]], file_name: str, max_columns: int
) -> tuple[list[tuple[Any, ...]], int]:
    """A sheet's rows from its header row on (empty rows and columns around trimmed), and
    how many non-empty rows above the header were skipped.

    The header row is the first non-empty one, unless it holds a single cell (a title)
    and a wider row follows within 10 rows; then the rows above it are skipped.
    """
    first = next((i for i, row in enumerate(rows) if not _blank_row(row)), None)
    if first is None:
        return [], 0
    rows = rows[first:]
    while rows and _blank_row(rows[-1]):
        rows.pop()
    filled = [sum(not _blank_cell(v) for v in row) for row in rows[:20]]
    typical = max(set(filled), key=filled.count)
    start = 0
    if filled[0] == 1 and typical >= 2:
        start = next((i for i, n in enumerate(filled[:11]) if n >= 2), 0)
    rows = rows[start:]
    lasts = [
        max((i for i, v in enumerate(row) if not _blank_cell(v)), default=-1) for row in rows[:1000]
    ]
    left = min(
        (
            next(i for i, v in enumerate(row) if not _blank_cell(v))
            for row in rows[:1000]
            if not _blank_row(row)
        ),
        default=0,
    )
    width = 1 + max(lasts, default=0)
    if width - left > max_columns:
        raise DataError(_too_many_columns(file_name, width - left, max_columns))
    return [tuple(row[left:width]) for row in rows], sum(1 for n in filled[:start] if n)


def _blank_cell(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _blank_row(row: Any) -> bool:
    return all(_blank_cell(v) for v in row)


# --- JSON ------------------------------------------------------------------------------

_WRAPPER_KEYS = ("data", "records", "rows", "items", "results", "values")


def _read_json(
    path: Path, head: bytes, fmt: Format, *, notes: list[str]
) -> tuple[pd.DataFrame, Format]:
    _refuse_binary(path, head, fmt)
    raw = path.read_bytes()
    encoding = _sniff_encoding(raw[:_SAMPLE_BYTES])
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.lstrip("\ufeff")
    if fmt == "json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg == "Extra data":
                fmt = "jsonl"
            else:
                raise DataError(
                    f"The file “{_shown(path)}” is not valid JSON (line {exc.lineno}, column "
                    f"{exc.colno}: {exc.msg.lower()}). Fix it or export the table as CSV."
                ) from exc
        else:
            return _json_document_to_frame(document, _shown(path), notes), "json"
    records: list[Any] = []
    # split on "\n" only: str.splitlines would also cut at U+2028, which JSON strings may hold
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if len(line) > input_limits.MAX_LINE_BYTES:
            raise DataError(
                f"Line {number} of “{_shown(path)}” is longer than the "
                f"{_human_bytes(input_limits.MAX_LINE_BYTES)} a JSON Lines record may be; split "
                "it into smaller records or export the table as CSV."
            )
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(
                f"Line {number} of “{_shown(path)}” is not valid JSON ({exc.msg.lower()}). "
                "Each line of a JSON Lines file must be one JSON object."
            ) from exc
    if records and not all(isinstance(r, dict) for r in records):
        raise DataError(
            f"The JSON Lines file “{_shown(path)}” must have one JSON object per line "
            '(like {"age": 31, "churn": "no"}).'
        )
    return _records_to_frame(records, notes), "jsonl"


def _json_document_to_frame(document: Any, file_name: str, notes: list[str]) -> pd.DataFrame:
    if isinstance(document, list):
        if all(isinstance(r, dict) for r in document):
            return _records_to_frame(document, notes)
        if document and all(isinstance(r, list) for r in document):
            header, *body = document
            if all(isinstance(h, str) for h in header):
                notes.append("Read the JSON as rows, taking the first row as column names.")
                return pd.DataFrame(body, columns=pd.Index(header, dtype=object))
    if isinstance(document, dict):
        list_keys = [
            k
            for k, v in document.items()
            if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)
        ]
        preferred = [k for k in list_keys if str(k).lower() in _WRAPPER_KEYS]
        key = (preferred or list_keys)[0] if (preferred or list_keys) else None
        if key is not None and (preferred or len(list_keys) == 1):
            notes.append(f"Used the records under the JSON key '{key}'.")
            return _records_to_frame(document[key], notes)
        values = list(document.values())
        if values and all(isinstance(v, list) for v in values):
            lengths = {len(v) for v in values}
            if len(lengths) == 1:
                return pd.DataFrame(document)
            raise DataError(
                f"The JSON file “{file_name}” holds columns of different lengths "
                f"({min(lengths)} to {max(lengths)} values). Every column needs one value per row."
            )
        if values and all(isinstance(v, dict) for v in values):
            return pd.DataFrame(document).reset_index(drop=True)
    raise DataError(
        f"The JSON file “{file_name}” does not hold a table. Use a list of records "
        '([{"age": 31, "churn": "no"}, ...]), an object of columns ({"age": [31, 45], ...}), '
        "or JSON Lines."
    )


def _records_to_frame(records: list[dict[str, Any]], notes: list[str]) -> pd.DataFrame:
    nested = any(isinstance(v, dict) for r in records[:1000] for v in r.values())
    if nested:
        frame = pd.json_normalize(records, sep=".")
        notes.append(
            "Flattened nested JSON objects into columns named like 'parent.child' "
            "(pandas json_normalize)."
        )
    else:
        frame = pd.DataFrame.from_records(records)
    listy = [
        c
        for c in frame.columns
        if frame[c].dtype == object and frame[c].map(lambda v: isinstance(v, list | dict)).any()
    ]
    for column in listy:
        frame[column] = frame[column].map(
            lambda v: json.dumps(v, sort_keys=True) if isinstance(v, list | dict) else v
        )
    if listy:
        notes.append(
            "Kept JSON lists as text in "
            + ", ".join(f"'{c}'" for c in listy[:5])
            + (" and more" if len(listy) > 5 else "")
            + "."
        )
    return frame


# --- cleaning --------------------------------------------------------------------------


def _clean_names(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    names: list[str] = []
    seen: set[str] = set()
    renamed: list[str] = []
    blank = 0
    for position, raw in enumerate(frame.columns, start=1):
        original = "" if raw is None or (isinstance(raw, float) and np.isnan(raw)) else str(raw)
        name = original.strip()
        if not name or name.lower().startswith("unnamed:"):
            name = f"column_{position}"
            blank += 1
        base, suffix = name, 2
        while name in seen:
            name = f"{base}_{suffix}"
            suffix += 1
        if name != base:
            renamed.append(f"Renamed duplicate column '{base}' to '{name}'.")
        seen.add(name)
        names.append(name)
    if blank:
        notes.append(f"Named {blank} column(s) without a header after their position (column_N).")
    if len(renamed) <= 5:
        notes.extend(renamed)
    else:
        notes.append(f"Renamed {len(renamed)} duplicate column names by adding _2, _3, ...")
    frame = frame.copy(deep=False)
    frame.columns = pd.Index(names, dtype=object)
    return frame


def _drop_empty_unnamed_columns(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Drop columns with neither a name nor a value (trailing delimiters, spreadsheet debris)."""
    unnamed = [i for i, raw in enumerate(frame.columns) if _is_blank_name(raw)]
    if not unnamed:
        return frame
    empty = [i for i in unnamed if frame.iloc[:, i].isna().all()]
    if not empty:
        return frame
    notes.append(f"Dropped {len(empty)} empty column(s) without a name.")
    dropped = set(empty)
    keep = [i for i in range(frame.shape[1]) if i not in dropped]
    return frame.iloc[:, keep]


def _is_blank_name(raw: Any) -> bool:
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return True
    text = str(raw).strip()
    return not text or text.lower().startswith("unnamed:")


def _drop_empty_rows(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    if frame.shape[1] == 0 or len(frame) == 0:
        return frame
    empty = frame.isna().all(axis=1)
    n_empty = int(empty.sum())
    if n_empty == 0:
        return frame
    notes.append(f"Dropped {n_empty:,} completely empty row(s).")
    return frame.loc[~empty].reset_index(drop=True)


# --- messages ----------------------------------------------------------------------------


def _too_many_columns(file_name: str, n_columns: int, max_columns: int) -> str:
    return (
        f"The file “{file_name}” has {n_columns:,} columns, more than the {max_columns:,} "
        "mlchat can profile and train on. Keep the columns you need (or transpose the table if "
        "the rows and columns are swapped) and attach it again."
    )


def _shown(path: Path, max_chars: int = 80) -> str:
    """The file's name as messages show it: no folders, no control characters, bounded."""
    name = "".join(ch for ch in path.name if ch.isprintable()) or "(unnamed file)"
    return name if len(name) <= max_chars else name[: max_chars - 1] + "…"


def _a(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _first_sentence(message: str) -> str:
    return message.strip().splitlines()[0].rstrip(".")[:200]


def _normalise_name(name: str) -> str:
    # spaces, _ - . and quotes or end punctuation a person may type around a name
    return re.sub(r"[\s_\-.'\"“”‘’`?!:;,]+", "", str(name)).casefold()


__all__ = [
    "DEFAULT_MAX_BYTES",
    "LoadedTable",
    "cell_text",
    "file_sha256",
    "load_table",
    "resolve_column",
]
