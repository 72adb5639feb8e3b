"""Read Excel workbooks (in process when provably small, else in a capped child: :mod:`tools.io.excel_child`)."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tools.errors import DataError
from tools.io import excel_child
from tools.io.formats import _normalise_name, _shown, _too_many_columns


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
    case is bounded, and :mod:`tools.io.excel_child` calls it inside the capped child.
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
