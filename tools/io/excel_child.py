"""Read an Excel workbook in a child process under a memory cap, so a bomb costs only the child.

A small ``.xlsx`` can hold a sheet whose cells expand to gigabytes (one cell at
``XFD1048576`` makes the reader allocate the whole range; one long shared
string can be referenced by every cell). The parent checks the zip directory
first (:func:`check_zip_directory`), then either

- reads in process when the workbook is tiny *and* its worst case is bounded
  from its XML (:func:`fits_in_process`: every cell addressed, a small used
  range, short shared strings), or
- starts ``python -m tools.io.excel_child`` with an address-space limit
  (``RLIMIT_AS``), ``PR_SET_PDEATHSIG`` (it dies with the parent) and a
  timeout. The child sends the table back as an Arrow IPC file and a small
  JSON file of names and notes: no pickle crosses from the process that parsed
  untrusted bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from tools.errors import DataError
from tools.io.input_limits import LIMIT_SETTING, human_bytes

log = logging.getLogger(__name__)

TIMEOUT_S: float = 120.0
"""Longest a workbook may take to read."""

MAX_MEMBERS: int = 10_000
"""Most parts a workbook's zip may hold."""

MAX_RATIO: float = 200.0
"""Largest compression ratio of one part above :data:`_RATIO_MIN_BYTES`."""

MAX_UNCOMPRESSED_BYTES: int = 1 << 30
"""Largest total size of a workbook's parts once unzipped (also at most twice the decoded limit)."""

_RATIO_MIN_BYTES = 1 << 20
_IN_PROCESS_MAX_XML = 1 << 20
_IN_PROCESS_MAX_CELLS = 250_000
_IN_PROCESS_MAX_BYTES = 64 << 20
_MIN_MEMORY = 512 << 20
_MAX_META_BYTES = 4 << 20
_EXIT_MEMORY = 3
_EXIT_UNREADABLE = 4
_PR_SET_PDEATHSIG = 1
_CELL = re.compile(rb"<(?:\w+:)?c[\s>/]")
_CELL_REF = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br=\"([A-Z]{1,3})([0-9]{1,7})\"")
_STRING_CELL = re.compile(rb"<(?:\w+:)?c\s[^>]*?\bt=\"s\"")
_SHARED_STRING = re.compile(rb"<(?:\w+:)?si>(.*?)</(?:\w+:)?si>", re.S)


@dataclass(frozen=True, slots=True)
class Workbook:
    """One sheet of a workbook read as a table."""

    frame: pd.DataFrame
    sheet: str
    sheets: tuple[str, ...]
    notes: tuple[str, ...]


def memory_cap(decoded_limit: int) -> int:
    """Bytes the reading child may allocate beyond its start: twice the decoded limit."""
    return max(2 * decoded_limit, _MIN_MEMORY)


def check_zip_directory(path: Path, file_name: str, *, decoded_limit: int) -> list[zipfile.ZipInfo]:
    """Refuse a workbook whose zip directory looks like a bomb; return its parts.

    Checked before anything is unpacked: the number of parts, their total
    unpacked size, and the compression ratio of each part above 1 MiB.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, NotImplementedError, ValueError) as exc:
        raise DataError(
            f"This file does not look like an Excel workbook (it is not a valid .xlsx): "
            f"“{file_name}”. Open it in Excel and save it as .xlsx or CSV."
        ) from exc
    if len(infos) > MAX_MEMBERS:
        raise DataError(
            f"The workbook “{file_name}” holds {len(infos):,} parts, more than the "
            f"{MAX_MEMBERS:,} a workbook needs, so it was not opened; save the sheet you need "
            "as CSV and attach that."
        )
    total = sum(info.file_size for info in infos)
    limit = min(MAX_UNCOMPRESSED_BYTES, 2 * decoded_limit)
    if total > limit:
        raise DataError(
            f"The workbook “{file_name}” expands to {human_bytes(total)} when unpacked, more "
            f"than the {human_bytes(limit)} limit ({LIMIT_SETTING} sets it), so it was not "
            "opened; save the sheet you need as CSV and attach that."
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_MIN_BYTES and ratio > MAX_RATIO:
            raise DataError(
                f"The workbook “{file_name}” is compressed {ratio:,.0f} to 1, which is how zip "
                "bombs look, so it was not opened; save the sheet you need as CSV and attach that."
            )
    return infos


def fits_in_process(path: Path, infos: list[zipfile.ZipInfo]) -> bool:
    """True when the workbook is small and its worst-case memory is bounded from its XML.

    Tiny files only (all parts together under 1 MiB unpacked). Every cell must
    carry its address, the used range (rows x columns, per sheet) stays under
    250,000 cells, and string cells times the longest shared string stay under
    64 MiB: then reading cannot grow past ~64 MiB, and a child (~0.8 s) is not
    worth starting.
    """
    if sum(info.file_size for info in infos) > _IN_PROCESS_MAX_XML:
        return False
    dense_cells = 0
    string_cells = 0
    longest_string = 0
    with zipfile.ZipFile(path) as archive:
        for info in infos:
            name = info.filename
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                xml = archive.read(info)
                refs = _CELL_REF.findall(xml)
                if len(refs) != len(_CELL.findall(xml)):
                    return False  # unaddressed cells: positions not known without parsing
                rows = max((int(row) for _, row in refs), default=0)
                columns = max((_column_number(letters) for letters, _ in refs), default=0)
                dense_cells += rows * columns
                string_cells += len(_STRING_CELL.findall(xml))
            elif name == "xl/sharedStrings.xml":
                xml = archive.read(info)
                longest_string = max((len(s) for s in _SHARED_STRING.findall(xml)), default=0)
    worst = dense_cells * 100 + string_cells * longest_string * 3
    return dense_cells <= _IN_PROCESS_MAX_CELLS and worst <= _IN_PROCESS_MAX_BYTES


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def read_in_child(
    path: Path,
    *,
    file_name: str,
    sheet: str | None,
    max_columns: int,
    decoded_limit: int,
    timeout_s: float = TIMEOUT_S,
) -> Workbook:
    """Read one sheet in a child process capped at :func:`memory_cap` bytes and ``timeout_s``."""
    cap = memory_cap(decoded_limit)
    with tempfile.TemporaryDirectory(prefix="mlchat-excel-") as folder:
        out = Path(folder)
        request = {
            "path": str(path.resolve()),
            "sheet": sheet,
            "max_columns": max_columns,
            "decoded_limit": decoded_limit,
            "memory_bytes": cap,
            "parent_pid": os.getpid(),
            "out": str(out),
        }
        (out / "request.json").write_text(json.dumps(request), encoding="utf-8")
        root = str(Path(__file__).resolve().parent.parent)
        # only what Python needs: no keys or secrets reach the process parsing untrusted bytes
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.io.excel_child", str(out / "request.json")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        try:
            _, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise DataError(
                f"The workbook “{file_name}” took longer than {timeout_s:g} s to read, so "
                "reading stopped; save the sheet you need as CSV and attach that."
            ) from None
        code = process.returncode
        log.info("excel_child exit=%d cap=%d", code, cap)
        if code == _EXIT_MEMORY or code < 0:
            tail = stderr[-500:].decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            log.warning("excel_child_failed exit=%d last=%s", code, tail[0][:200])
            raise DataError(
                f"The workbook “{file_name}” needed more than the {human_bytes(cap)} of memory "
                f"allowed for reading a workbook (twice the decoded-table limit; raise "
                f"{LIMIT_SETTING}, or save the sheet you need as CSV and attach that)."
            )
        meta = _read_meta(out / "meta.json") if code in (0, _EXIT_UNREADABLE) else {}
        if code == 0 and "error" in meta:
            raise DataError(str(meta["error"]))
        if code != 0:
            # load_table turns this into "could not be read as an Excel workbook"
            raise ValueError(f"excel child failed: {meta.get('failure', code)}")
        table_path = out / "table.arrow"
        if table_path.stat().st_size > decoded_limit + (16 << 20):
            raise ValueError("excel child wrote more than the decoded limit")
        with pa.OSFile(str(table_path)) as source:
            table = ipc.open_file(source).read_all()
    frame = table.to_pandas()
    frame.columns = pd.Index([str(c) for c in meta["columns"]], dtype=object)
    return Workbook(
        frame=frame,
        sheet=str(meta["sheet"]),
        sheets=tuple(str(s) for s in meta["sheets"]),
        notes=tuple(str(n) for n in meta["notes"]),
    )


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.is_file() or path.stat().st_size > _MAX_META_BYTES:
        return {}
    meta = json.loads(path.read_text(encoding="utf-8"))
    return meta if isinstance(meta, dict) else {}


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """The frame as Arrow with positional column names (real names may repeat).

    Object columns holding anything but text become text exactly as
    :func:`tools.io.load_table` would type them (``cell_text``), missing
    cells kept missing, so the parent's result matches reading in process.
    """
    from tools.io.columns import cell_text

    arrays = []
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if column.dtype == object:
            present = column.dropna()
            if len(present) and not present.map(type).eq(str).all():
                column = column.map(cell_text, na_action="ignore")
        arrays.append(pa.array(column, from_pandas=True))
    return pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])


# --- the child ---------------------------------------------------------------------------


def _limit_self(memory_bytes: int, parent_pid: int) -> None:
    """Die with the parent, and cap the address space at what is mapped now plus ``memory_bytes``."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)
    mapped = 0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                mapped = int(line.split()[1]) * 1024
    limit = mapped + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _child(request_path: Path) -> int:
    request = json.loads(request_path.read_text(encoding="utf-8"))
    import python_calamine  # noqa: F401 - mapped before the cap, like the rest of the stack

    from tools.io.excel import read_excel_in_process

    _limit_self(int(request["memory_bytes"]), int(request["parent_pid"]))
    out = Path(request["out"])
    notes: list[str] = []
    try:
        frame, sheet, sheets = read_excel_in_process(
            Path(request["path"]),
            sheet=request["sheet"],
            max_columns=int(request["max_columns"]),
            notes=notes,
        )
        table = to_arrow(frame)
        if table.nbytes > int(request["decoded_limit"]):
            from tools.io.input_limits import too_large

            raise too_large(Path(request["path"]).name, table.nbytes, int(request["decoded_limit"]))
        with (
            pa.OSFile(str(out / "table.arrow"), "wb") as sink,
            ipc.new_file(sink, table.schema) as writer,
        ):
            writer.write_table(table)
        meta: dict[str, Any] = {
            "columns": [str(c) for c in frame.columns],
            "sheet": sheet,
            "sheets": list(sheets),
            "notes": notes,
        }
        code = 0
    except DataError as exc:
        meta, code = {"error": str(exc)}, 0
    except MemoryError:
        return _EXIT_MEMORY
    except Exception as exc:  # untrusted bytes trip readers in many ways; the parent words it
        meta, code = {"failure": type(exc).__name__}, _EXIT_UNREADABLE
    (out / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1])))
