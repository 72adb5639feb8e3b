"""Read JSON documents (records, columns-oriented, wrapped) and JSON Lines into a frame."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from tools.errors import DataError
from tools.io import input_limits
from tools.io.delimited import _SAMPLE_BYTES, _sniff_encoding
from tools.io.formats import Format, _refuse_binary, _shown
from tools.io.input_limits import human_bytes as _human_bytes

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
