"""Which format a file is in (suffix, magic bytes), binary files refused, and how a file is named in messages."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Literal

from tools.errors import DataError

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
