"""Apply a saved model to a new file and write the predictions to CSV.

A run folder (see :mod:`tools.export`) holds ``model.joblib`` and
``schema.json``. The schema records the columns the model needs, the
categories it saw for each categorical column and the ID-like columns, so a
new file can be checked before predicting:

- a needed column is missing  -> :class:`DataError` naming it (and close names);
- extra columns               -> ignored and reported;
- categories never seen       -> counted per column and reported (the
  pipeline's encoders treat them as unknown, they do not fail).

The output CSV keeps the ID-like columns of the new file, then
``prediction`` and, for classification, one ``proba_<class>`` column per class.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import pandas as pd

from tools.errors import DataError
from tools.io.csv_safety import write_csv
from tools.io.load import DEFAULT_MAX_BYTES, load_table
from tools.io.raw_rows import parse_step
from tools.legacy_pickles import install as install_legacy_pickles

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
SCHEMA_FILE = "schema.json"
_MAX_CATEGORIES = 1_000
_ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|key|code)$|^id[_\s-]", re.IGNORECASE)

ColumnKind = Literal["numeric", "categorical", "datetime", "boolean"]


@dataclass(frozen=True, slots=True)
class TrainingSchema:
    """What a model was trained on, stored as ``schema.json`` next to ``model.joblib``."""

    input_columns: tuple[str, ...]
    kinds: dict[str, ColumnKind]
    categories: dict[str, tuple[str, ...]]
    """Known values (as text) of each categorical column with at most 1,000 of them."""
    target: str | None = None
    task: str | None = None
    id_columns: tuple[str, ...] = ()
    target_words: tuple[str, str] | None = None
    """The words the training file used for a yes/no target (false word, true word), so
    predictions are written back in them rather than as True/False."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "input_columns": list(self.input_columns),
            "kinds": dict(self.kinds),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "target": self.target,
            "task": self.task,
            "id_columns": list(self.id_columns),
            "target_words": list(self.target_words) if self.target_words else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingSchema:
        """Inverse of :meth:`to_dict`."""
        return cls(
            input_columns=tuple(data["input_columns"]),
            kinds=dict(data.get("kinds", {})),
            categories={k: tuple(v) for k, v in data.get("categories", {}).items()},
            target=data.get("target"),
            task=data.get("task"),
            id_columns=tuple(data.get("id_columns", ())),
            target_words=tuple(data["target_words"]) if data.get("target_words") else None,  # type: ignore[arg-type]
        )


@dataclass(frozen=True, slots=True)
class PredictionResult:
    """What :func:`predict_file` did."""

    n_rows: int
    out_path: Path
    missing_columns: tuple[str, ...]
    """Always empty on success (missing columns raise); kept for callers that report it."""
    extra_columns: tuple[str, ...]
    unseen_categories: dict[str, int]
    """Rows per column whose category never appeared in training."""
    id_columns: tuple[str, ...]
    classes: tuple[str, ...]
    preview: tuple[dict[str, Any], ...] = field(default=())
    """First rows of the written CSV."""

    def summary(self) -> str:
        """One short paragraph for a person or a model."""
        parts = [f"Wrote {self.n_rows} predictions to {self.out_path.name}."]
        if self.extra_columns:
            parts.append(
                f"Ignored columns the model does not use: {', '.join(self.extra_columns)}."
            )
        if self.unseen_categories:
            listed = ", ".join(f"{c} ({n} rows)" for c, n in self.unseen_categories.items())
            parts.append(f"Values never seen in training (treated as unknown): {listed}.")
        return " ".join(parts)


def training_schema(
    frame: pd.DataFrame,
    *,
    input_columns: Sequence[str],
    target: str | None = None,
    task: str | None = None,
    id_columns: Sequence[str] = (),
    target_words: tuple[str, str] | None = None,
) -> TrainingSchema:
    """Describe the training columns so new files can be checked against them."""
    kinds: dict[str, ColumnKind] = {}
    categories: dict[str, tuple[str, ...]] = {}
    for column in input_columns:
        values = frame[column]
        kind = _column_kind(values)
        kinds[column] = kind
        if kind == "categorical":
            known = values.dropna().astype(str).unique()
            if len(known) <= _MAX_CATEGORIES:
                categories[column] = tuple(sorted(known.tolist()))
    return TrainingSchema(
        input_columns=tuple(input_columns),
        kinds=kinds,
        categories=categories,
        target=target,
        task=task,
        id_columns=tuple(c for c in id_columns if c in frame.columns),
        target_words=target_words,
    )


def load_model(model_dir: Path) -> tuple[Any, TrainingSchema | None]:
    """Read ``model.joblib`` (and ``schema.json`` when present) from a run folder."""
    model_path = model_dir / MODEL_FILE
    if not model_path.is_file():
        raise DataError(
            f"No saved model in “{model_dir.name}”: expected a file named {MODEL_FILE}. "
            "Pass the folder that `mlchat train` wrote."
        )
    install_legacy_pickles()
    model = joblib.load(model_path)
    schema_path = model_dir / SCHEMA_FILE
    schema = None
    if schema_path.is_file():
        schema = TrainingSchema.from_dict(json.loads(schema_path.read_text(encoding="utf-8")))
    return model, schema


def predict_frame(
    model: Any, frame: pd.DataFrame, *, schema: TrainingSchema | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Check ``frame`` against the model's columns and predict.

    Returns ``(predictions, checks)``: the output table (ID columns, ``prediction``,
    ``proba_<class>``) and a dict with ``extra_columns``, ``unseen_categories``,
    ``id_columns`` and ``classes``.
    """
    needed = list(schema.input_columns) if schema else _model_columns(model, frame)
    present = set(map(str, frame.columns))
    missing = [c for c in needed if c not in present]
    if missing:
        raise DataError(_missing_message(missing, list(frame.columns)))
    unseen = _unseen_categories(frame, schema) if schema else {}
    id_columns = _id_columns(frame, needed, schema)
    extra = [c for c in frame.columns if c not in set(needed) and c not in id_columns]
    features = frame[needed]
    output = frame[id_columns].reset_index(drop=True).copy() if id_columns else pd.DataFrame()
    words = _label_words(schema)
    output["prediction"] = [words.get(v, v) for v in np.asarray(model.predict(features)).tolist()]
    classes: list[str] = []
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        proba = np.asarray(model.predict_proba(features), dtype=float)
        classes = [str(words.get(c, c)) for c in np.asarray(model.classes_).tolist()]
        for index, label in enumerate(classes):
            output[f"proba_{label}"] = proba[:, index]
    checks = {
        "extra_columns": extra,
        "unseen_categories": unseen,
        "id_columns": id_columns,
        "classes": classes,
    }
    return output, checks


def _label_words(schema: TrainingSchema | None) -> dict[Any, Any]:
    """Map boolean labels back to the training file's words (e.g. False -> "no")."""
    if schema is None or not schema.target_words:
        return {}
    false_word, true_word = schema.target_words
    return {False: false_word, True: true_word}


def predict_file(
    model_or_dir: Any | Path,
    path: Path,
    *,
    out: Path,
    sheet: str | None = None,
    schema: TrainingSchema | None = None,
    preview_rows: int = 5,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> PredictionResult:
    """Predict every row of the table at ``path`` and write a CSV to ``out``.

    Args:
        model_or_dir: A run folder written by :func:`tools.export.export_run`, or a
            fitted model object taking a raw DataFrame.
        path: The new table (any format :func:`tools.io.load_table` reads).
        out: Where to write the predictions CSV.
        sheet: Excel sheet to read, when the file has several.
        schema: Training schema when passing a model object (read from the folder otherwise).
        preview_rows: Rows of the output kept in ``preview``.
        max_bytes: Largest file accepted (the decoded-table limit follows it).
    """
    if isinstance(model_or_dir, Path):
        model, stored = load_model(model_or_dir)
        schema = schema or stored
    else:
        model = model_or_dir
    # the training file's parse decisions, so this file is read as that one was
    table = load_table(path, sheet=sheet, max_bytes=max_bytes, parser=parse_step(model))
    predictions, checks = predict_frame(model, table.frame, schema=schema)
    write_csv(predictions, out)
    log.info(
        "predicted rows=%d extra=%d unseen_columns=%d",
        len(predictions),
        len(checks["extra_columns"]),
        len(checks["unseen_categories"]),
    )
    preview = predictions.head(preview_rows)
    return PredictionResult(
        n_rows=len(predictions),
        out_path=out,
        missing_columns=(),
        extra_columns=tuple(checks["extra_columns"]),
        unseen_categories=dict(checks["unseen_categories"]),
        id_columns=tuple(checks["id_columns"]),
        classes=tuple(checks["classes"]),
        preview=tuple(json.loads(preview.to_json(orient="records", date_format="iso"))),
    )


def _column_kind(values: pd.Series) -> ColumnKind:
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    return "categorical"


def _model_columns(model: Any, frame: pd.DataFrame) -> list[str]:
    for attribute in ("input_columns_", "feature_names_in_"):
        columns = getattr(model, attribute, None)
        if columns is not None:
            return [str(c) for c in columns]
    return [str(c) for c in frame.columns]


def _missing_message(missing: list[str], available: list[str]) -> str:
    hints = []
    for column in missing[:5]:
        close = difflib.get_close_matches(column, [str(c) for c in available], n=1, cutoff=0.6)
        if close:
            hints.append(f"“{column}” (the file has “{close[0]}”)")
    listed = ", ".join(f"“{c}”" for c in missing)
    sentence = (
        f"The file lacks {len(missing)} column{'s' if len(missing) > 1 else ''} "
        f"the model needs: {listed}."
    )
    if hints:
        sentence += f" Close names: {', '.join(hints)}; rename them to match the training file."
    else:
        sentence += " Add them (empty values are allowed) and try again."
    return sentence


def _unseen_categories(frame: pd.DataFrame, schema: TrainingSchema) -> dict[str, int]:
    unseen: dict[str, int] = {}
    for column, known in schema.categories.items():
        if column not in frame.columns:
            continue
        values = frame[column].dropna().astype(str)
        count = int((~values.isin(set(known))).sum())
        if count:
            unseen[column] = count
    return unseen


def _id_columns(
    frame: pd.DataFrame, needed: Sequence[str], schema: TrainingSchema | None
) -> list[str]:
    if schema and schema.id_columns:
        return [c for c in schema.id_columns if c in frame.columns]
    needed_set = set(needed)
    return [
        str(c)
        for c in frame.columns
        if c not in needed_set and _ID_NAME.search(str(c)) and frame[c].is_unique
    ]
