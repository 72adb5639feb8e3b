"""How much memory a table may take once decoded, estimated before it is read.

A file's size on disk says little about its size in memory: a 300 KB Parquet
file of one repeated string can decode to gigabytes. :func:`tools.io.load_table`
estimates each format's decoded size from what is cheap to read first (Parquet
metadata, a count of lines, the file size) and refuses the file above
:func:`decoded_limit` before decoding it; Parquet is also counted batch by batch
while it is read, in case its metadata understates it.

The limit follows the upload limit, ``MLCHAT_MAX_UPLOAD_MB`` (twice it), so one
setting raises both.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tools.errors import DataError

log = logging.getLogger(__name__)

LIMIT_SETTING = "MLCHAT_MAX_UPLOAD_MB"
"""The setting whose value (in MB) sets both the upload and the decoded-table limit."""

DECODED_FACTOR = 2
"""The decoded-table limit is this many times the upload limit."""

MAX_LINE_BYTES = 16 << 20
"""Longest line of a CSV or JSON Lines file (and the block pyarrow reads CSV in)."""

JSON_EXPANSION = 10
"""Bytes in memory per byte of JSON text: Python dicts, strings and floats, then the frame."""

_CELL_BYTES = 8
"""Per CSV cell once decoded: a 4-byte Arrow offset, then an 8-byte number or pointer."""

_PARQUET_BATCH_ROWS = 1 << 16

_FIXED_WIDTHS = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8}


def decoded_limit(max_file_bytes: int) -> int:
    """The decoded-table limit that goes with an upload limit of ``max_file_bytes``."""
    return DECODED_FACTOR * max_file_bytes


def human_bytes(n_bytes: int) -> str:
    """``1,234 bytes``, ``12.3 MiB``, ``2.0 GiB``."""
    size = float(n_bytes)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n_bytes} bytes"  # pragma: no cover - the loop always returns


def too_large(file_name: str, estimate_bytes: int, limit_bytes: int) -> DataError:
    """The one-sentence refusal of a table that would decode past ``limit_bytes``."""
    return DataError(
        f"The file “{file_name}” would take about {human_bytes(estimate_bytes)} of memory once "
        f"decoded, more than the {human_bytes(limit_bytes)} limit (twice {LIMIT_SETTING}; raise "
        "that setting, or attach a sample of the rows)."
    )


def check_estimate(file_name: str, estimate_bytes: int, limit_bytes: int, *, fmt: str) -> None:
    """Raise :func:`too_large` when ``estimate_bytes`` is over ``limit_bytes``."""
    log.info("decoded_estimate format=%s bytes=%d limit=%d", fmt, estimate_bytes, limit_bytes)
    if estimate_bytes > limit_bytes:
        raise too_large(file_name, estimate_bytes, limit_bytes)


# --- Parquet -----------------------------------------------------------------------------


def parquet_estimate(metadata: pq.FileMetaData) -> int:
    """Bytes the file's columns take once decoded, from its metadata alone.

    Each column chunk counts its values times their width: the physical width for
    numbers, the declared length for fixed-size binary, and for strings the
    longest of the min/max statistics or the chunk's uncompressed bytes per value
    (dictionary encoding hides repeats from the latter; the statistics reveal a
    repeated long string), plus a 4-byte offset.
    """
    total = 0
    for group_index in range(metadata.num_row_groups):
        group = metadata.row_group(group_index)
        for column_index in range(group.num_columns):
            chunk = group.column(column_index)
            total += chunk.num_values * _value_width(
                chunk, metadata.schema.column(column_index).length
            )
    return total


def _value_width(chunk: pq.ColumnChunkMetaData, declared_length: int | None) -> int:
    kind = chunk.physical_type
    if kind in _FIXED_WIDTHS:
        return _FIXED_WIDTHS[kind]
    if kind == "FIXED_LEN_BYTE_ARRAY":
        return max(declared_length or 0, 1)
    per_value = chunk.total_uncompressed_size / max(chunk.num_values, 1)
    longest = 0
    statistics = chunk.statistics if chunk.is_stats_set else None
    if statistics is not None and statistics.has_min_max:
        longest = max(_length(statistics.min), _length(statistics.max))
    return 4 + max(int(per_value), longest)


def _length(value: object) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", errors="replace"))
    if isinstance(value, bytes | bytearray):
        return len(value)
    return 8


def read_parquet_counted(
    parquet: pq.ParquetFile, *, file_name: str, limit_bytes: int, estimate_bytes: int
) -> pa.Table:
    """Read the whole file batch by batch, refusing it once the decoded bytes pass the limit.

    The second guard behind :func:`parquet_estimate`: metadata can be forged or
    understate repeated values, so what is actually decoded is counted too.
    """
    batches: list[pa.RecordBatch] = []
    decoded = 0
    for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
        decoded += batch.nbytes
        if decoded > limit_bytes:
            log.warning(
                "parquet_understated estimate=%d decoded_past=%d limit=%d",
                estimate_bytes,
                decoded,
                limit_bytes,
            )
            raise too_large(file_name, max(decoded, estimate_bytes), limit_bytes)
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=parquet.schema_arrow)


# --- text formats ------------------------------------------------------------------------


def delimited_estimate(path: Path, *, n_columns: int) -> int:
    """Bytes a CSV or TSV file takes once read as text columns: its bytes plus a cell's
    offset and value for every field of every line (lines counted in one pass)."""
    lines = 1
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            lines += chunk.count(b"\n")
    return path.stat().st_size + lines * max(n_columns, 1) * (_CELL_BYTES + 4)


def json_estimate(size_bytes: int) -> int:
    """Bytes a JSON or JSON Lines file takes once parsed into records and a frame."""
    return size_bytes * JSON_EXPANSION


__all__ = [
    "DECODED_FACTOR",
    "JSON_EXPANSION",
    "LIMIT_SETTING",
    "MAX_LINE_BYTES",
    "check_estimate",
    "decoded_limit",
    "delimited_estimate",
    "human_bytes",
    "json_estimate",
    "parquet_estimate",
    "read_parquet_counted",
    "too_large",
]
