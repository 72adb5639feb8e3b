"""An HTTP prediction service for one trained model (``mlchat serve-model RUN --port N``).

A FastAPI app around a model that :func:`assistant.verified_models.load_run_model`
has checked (its sha256 is the one the training worker recorded; an unchecked
pickle is never loaded):

- ``POST /predict`` takes ``{"rows": [{column: value, ...}, ...]}``. The row type,
  and so the OpenAPI schema at ``/docs`` and ``/openapi.json``, is built from the
  training schema: every input column is a required key (``null`` for a missing
  value) with the type it had in the training file.
- ``POST /predict/csv`` takes a CSV file (multipart field ``file``) and reads it
  with the training file's parse decisions, as ``mlchat predict`` does.
- ``GET /health`` says the model is loaded and what it predicts.

Bad input gets 422 with one entry per problem naming the row, the column and
what is wrong, and a ``message`` a person can read. Rows and values are never
logged. The service listens on loopback by default and has no login: put it
behind your own gateway to share it.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations, and
# the request type is built at run time from the training schema.
import io
import json
import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from tools.errors import UserFacingError
from tools.io.columns import NULL_VALUES, RawTableParser, parse_column
from tools.io.load import load_table
from tools.io.raw_rows import parse_step
from tools.predict import TrainingSchema, predict_frame

log = logging.getLogger(__name__)

MAX_ROWS = 100_000
"""Rows accepted in one request."""

_TYPES: dict[str, Any] = {"numeric": float, "boolean": bool, "datetime": str, "categorical": str}
_MAX_LISTED_VALUES = 20


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A checked model and what the service says about it."""

    model: Any
    schema: TrainingSchema
    run_id: str
    title: str
    """E.g. ``Linear discriminant analysis predicting “churn”``."""
    max_bytes: int = 200 << 20
    """Largest CSV file accepted (``MLCHAT_MAX_UPLOAD_MB``, as for uploads in the chat)."""


def row_model(schema: TrainingSchema) -> type[BaseModel]:
    """The pydantic type of one input row, from the training schema.

    Column names can be anything, so fields are named ``c0, c1, ...`` and
    carry the column as their alias (what clients send and the schema shows).
    Extra keys are kept: an ID column is echoed into the predictions.
    """
    fields: dict[str, Any] = {}
    for index, column in enumerate(schema.input_columns):
        kind = schema.kinds.get(column, "categorical")
        description = f"{kind} column “{column}” of the training file; null when missing."
        known = schema.categories.get(column, ())
        if known:
            shown = ", ".join(known[:_MAX_LISTED_VALUES])
            more = " ..." if len(known) > _MAX_LISTED_VALUES else ""
            description += f" Values seen in training: {shown}{more}."
        if kind == "datetime":
            description += " Write dates as in the training file, e.g. 2024-01-31."
        fields[f"c{index}"] = (
            _TYPES.get(kind, str) | None,
            Field(..., alias=column, description=description),
        )
    return create_model(  # type: ignore[call-overload, no-any-return]
        "Row", __config__=ConfigDict(extra="allow", populate_by_name=False), **fields
    )


def build_service(served: ServedModel) -> FastAPI:
    """The FastAPI app serving ``served`` (see the module docstring)."""
    schema = served.schema
    row_type = row_model(schema)
    request_type = create_model(
        "PredictRequest",
        rows=(list[row_type], Field(..., min_length=1, max_length=MAX_ROWS)),  # type: ignore[valid-type]
    )
    app = FastAPI(
        title=f"mlchat model {served.run_id}",
        description=f"{served.title}. Trained by mlchat; see /health.",
        version=served.run_id,
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        del request
        problems = [_problem(error) for error in exc.errors()]
        return _unprocessable(problems)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Whether the model is loaded, and what it predicts from which columns."""
        return {
            "status": "ok",
            "run_id": served.run_id,
            "model": served.title,
            "target": schema.target,
            "task": schema.task,
            "input_columns": list(schema.input_columns),
        }

    @app.post("/predict")
    def predict(body: request_type) -> dict[str, Any]:  # type: ignore[valid-type]
        """Predict JSON rows: one prediction (and class probabilities) per row, in order."""
        rows = [row.model_dump(by_alias=True) for row in body.rows]  # type: ignore[attr-defined]
        frame = pd.DataFrame.from_records(rows)
        return _predictions(served, frame)

    @app.post("/predict/csv")
    async def predict_csv(file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
        """Predict every row of a CSV file read as the training file was."""
        data = await file.read()
        if len(data) > served.max_bytes:
            raise HTTPException(status_code=413, detail="The file is larger than the limit.")
        problems = _frame_problems(data, schema, parse_step(served.model))
        if problems:
            return _unprocessable(problems)
        return _predictions(served, _read_csv(served, data))

    return app


def _predictions(served: ServedModel, frame: pd.DataFrame) -> dict[str, Any]:
    try:
        output, checks = predict_frame(served.model, frame, schema=served.schema)
    except UserFacingError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    log.info("served_predictions rows=%d", len(output))
    records = json.loads(output.to_json(orient="records", date_format="iso"))
    return {
        "run_id": served.run_id,
        "predictions": records,
        "unseen_categories": checks["unseen_categories"],
        "ignored_columns": checks["extra_columns"],
    }


def _read_csv(served: ServedModel, data: bytes) -> pd.DataFrame:
    """The CSV as the training file was read (same parser), through a private temporary file."""
    if not data.strip():
        raise HTTPException(status_code=422, detail="The CSV file is empty.")
    with tempfile.TemporaryDirectory(prefix="mlchat-serve-") as folder:
        path = Path(folder) / "rows.csv"
        path.write_bytes(data)
        try:
            table = load_table(path, parser=parse_step(served.model), max_bytes=served.max_bytes)
        except UserFacingError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
    if len(table.frame) > MAX_ROWS:
        raise HTTPException(status_code=422, detail=f"At most {MAX_ROWS:,} rows per request.")
    return table.frame


def _frame_problems(
    data: bytes, schema: TrainingSchema, parser: RawTableParser | None
) -> list[dict[str, Any]]:
    """Missing columns, and cells of number columns that are not numbers.

    Read from the raw text: the training file's parser turns a cell it cannot read
    into a missing value, which the model would then quietly impute.
    """
    try:
        raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=NULL_VALUES)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(status_code=422, detail="The file is not a readable CSV.") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    present = set(raw.columns)
    problems: list[dict[str, Any]] = [
        {"row": None, "column": column, "problem": "is missing from the file"}
        for column in schema.input_columns
        if column not in present
    ]
    decisions = dict(parser.columns) if parser is not None else {}
    for column in schema.input_columns:
        decision = decisions.get(column)
        is_number = decision.kind == "number" if decision else schema.kinds.get(column) == "numeric"
        if column not in present or not is_number:
            continue
        values = raw[column]
        parsed = (
            parse_column(values, decision) if decision else pd.to_numeric(values, errors="coerce")
        )
        bad = values.notna().to_numpy() & pd.isna(np.asarray(parsed, dtype=float))
        for index in np.flatnonzero(bad)[:5]:
            problems.append(
                {
                    "row": int(index),
                    "column": column,
                    "problem": f"“{str(values.iloc[index])[:40]}” is not a number",
                }
            )
    return problems


def _problem(error: dict[str, Any]) -> dict[str, Any]:
    """One validation error as row, column and problem (the row counted from 0)."""
    location = [part for part in error.get("loc", ()) if part != "body"]
    row = next((p for p in location if isinstance(p, int)), None)
    column = str(location[-1]) if location and isinstance(location[-1], str) else None
    if column == "rows" or (location and location[0] != "rows"):
        column = None
    problem = str(error.get("msg", "is not valid"))
    if error.get("type") == "missing":
        problem = "is missing"
    return {"row": row, "column": column, "problem": problem}


def _unprocessable(problems: Sequence[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(
        status_code=422, content={"message": _message(problems), "problems": list(problems)}
    )


def _message(problems: Sequence[dict[str, Any]]) -> str:
    """The problems in one or two sentences, e.g. ``Row 0, column “tenure”: is missing.``"""
    parts = []
    for problem in problems[:5]:
        where = []
        if problem["row"] is not None:
            where.append(f"row {problem['row']}")
        if problem["column"] is not None:
            where.append(f"column “{problem['column']}”")
        joined = ", ".join(where)
        prefix = joined[:1].upper() + joined[1:] if joined else "The request"
        parts.append(f"{prefix}: {problem['problem']}.")
    if len(problems) > 5:
        parts.append(f"And {len(problems) - 5} more.")
    return " ".join(parts)


def example_row(frame: pd.DataFrame, schema: TrainingSchema) -> dict[str, Any]:
    """A JSON-ready row of ``frame`` (the first one) with the model's input columns."""
    row: dict[str, Any] = {}
    first = frame.iloc[0] if len(frame) else pd.Series(dtype=object)
    for column in schema.input_columns:
        value = first.get(column)
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
            row[column] = None
        elif isinstance(value, pd.Timestamp):
            row[column] = value.date().isoformat()
        elif hasattr(value, "item"):
            row[column] = value.item()
        else:
            row[column] = value
    return json.loads(json.dumps(row, default=str))


def curl_example(url: str, row: dict[str, Any]) -> str:
    """A ``curl`` command predicting ``row`` at ``url``, and one posting a CSV file."""
    body = json.dumps({"rows": [row]}, ensure_ascii=False).replace("'", "'\\''")
    return (
        f"curl -s {url}/predict -H 'Content-Type: application/json' -d '{body}'\n"
        f"curl -s {url}/predict/csv -F file=@new_rows.csv"
    )
