"""Load a table from a file the user attached, with clear errors and clean column types.

Formats: CSV (delimiter and encoding sniffed), TSV, Parquet, Excel (``.xlsx``, ``.xls``),
JSON (records, columns-oriented, ``{"data": [...]}`` wrappers) and JSON Lines.
Every refusal is a :class:`~tools.errors.DataError` whose message names the file
by its name only and says what to do next.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import logging
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tools.errors import DataError, TargetError
from tools.io import input_limits
from tools.io.columns import RawTableParser, clean_types
from tools.io.delimited import _read_delimited
from tools.io.excel import _read_excel
from tools.io.formats import (
    _FORMAT_NAMES,
    Format,
    _a,
    _detect_format,
    _normalise_name,
    _shown,
    _too_many_columns,
)
from tools.io.input_limits import human_bytes as _human_bytes
from tools.io.json_tables import _read_json

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: int = 1 << 30  # 1 GiB
"""Largest file accepted by :func:`load_table` unless the caller passes another limit."""

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
    first step; see :mod:`tools.io`)."""


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
    take once decoded (estimated per format by :mod:`tools.io.input_limits`; at most
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
