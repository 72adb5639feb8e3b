"""Write a run folder: the fitted model, a report, a model card and a standalone script.

Files written by :func:`export_run` (names are a contract the CLI and the chat rely on)::

    model.joblib    a pipeline: the parsing load_table did (yes/no, decimal commas, "n/a",
                    dates), then the fitted model (predict / predict_proba / classes_ on
                    raw rows, e.g. pandas.read_csv of a file shaped like the training file)
    schema.json     the columns the model needs, their kinds and known categories
    report.json     profile, plan, leaderboard, metrics, timings, versions, data SHA-256
    model_card.md   data, plan, leaderboard, metrics, caveats, intended use
    train.py        retrains the winner without mlchat (pandas + scikit-learn + the
                    model's own library), runs the same validation and prints the score
    figures/        <name>.png and <name>.json (Plotly) for each explanation figure

The script is generated from the fitted pipeline itself: every estimator is
written as a constructor call with its non-default parameters, and any class
or function that is not from a public library (our column transformers) is
copied into the script with the module-level names it uses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import importlib.metadata
import json
import logging
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from tools.explain.model import Explanation
from tools.export.card import model_card
from tools.export.files import CARD_FILE, REPORT_FILE, SCRIPT_FILE
from tools.export.script import train_script
from tools.io.atomic import open_atomic, write_text_atomic
from tools.io.columns import RawTableParser
from tools.io.raw_rows import saved_pipeline
from tools.metrics import resolve_metric
from tools.predict import MODEL_FILE, SCHEMA_FILE, TrainingSchema, training_schema

log = logging.getLogger(__name__)


_VERSIONED = ("mlchat", "pandas", "numpy", "scikit-learn", "xgboost", "lightgbm", "catboost")


@dataclass(frozen=True, slots=True)
class ExportedRun:
    """Where :func:`export_run` wrote each file."""

    out_dir: Path
    files: dict[str, Path]
    """Keys: ``model``, ``schema``, ``report``, ``card``, ``script`` and ``figure:<name>``."""


def export_run(
    result: Any,
    *,
    out_dir: Path,
    frame: pd.DataFrame,
    data_path: Path | None = None,
    data_sha256: str | None = None,
    sheet: str | None = None,
    explanation: Explanation | None = None,
    notes: Sequence[str] = (),
    target_words: tuple[str, str] | None = None,
    parser: RawTableParser | None = None,
) -> ExportedRun:
    """Write every file of a finished training run into ``out_dir``.

    Args:
        result: A :class:`tools.search.train.TrainResult`.
        out_dir: Folder to write (created if needed).
        frame: The table the run was trained on (features and target, as loaded).
        data_path: The file the table came from; the script reads it by default.
        data_sha256: The file's SHA-256, recorded in the report.
        sheet: Excel sheet the table came from.
        explanation: Figures and insights from :func:`tools.explain.explain_result`;
            its figures are expected under ``out_dir/figures``.
        notes: What loading did to the file (shown in the model card).
        target_words: The file's words for a yes/no target (``LoadedTable.boolean_words``),
            so predictions are written in them.
        parser: How ``load_table`` parsed each column (``LoadedTable.parser``); when given,
            ``model.joblib`` is a pipeline whose first step parses raw rows the same way.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    plan, profile, model = result.plan, result.profile, result.model
    files: dict[str, Path] = {}

    files["model"] = out_dir / MODEL_FILE
    with open_atomic(files["model"]) as model_file:  # a crash never leaves half a model
        joblib.dump(model if parser is None else saved_pipeline(model, parser), model_file)

    schema = training_schema(
        frame,
        input_columns=list(model.input_columns_),
        target=plan.target,
        task=plan.task,
        id_columns=[c.name for c in profile.columns if c.kind == "id"],
        target_words=target_words,
    )
    files["schema"] = out_dir / SCHEMA_FILE
    write_text_atomic(files["schema"], json.dumps(schema.to_dict(), indent=2))

    report = build_report(
        result,
        schema=schema,
        data_path=data_path,
        data_sha256=data_sha256,
        sheet=sheet,
        explanation=explanation,
        notes=notes,
    )
    files["report"] = out_dir / REPORT_FILE
    write_text_atomic(files["report"], json.dumps(report, indent=2, default=str))

    files["card"] = out_dir / CARD_FILE
    write_text_atomic(files["card"], model_card(report))

    files["script"] = out_dir / SCRIPT_FILE
    write_text_atomic(
        files["script"],
        train_script(
            result,
            schema=schema,
            data_path=data_path,
            sheet=sheet,
            parser=None if parser is None else parser.only(schema.input_columns),
        ),
    )
    for figure in explanation.figures if explanation else ():
        files[f"figure:{figure.name}"] = figure.png_path
    log.info("exported files=%d", len(files))
    return ExportedRun(out_dir=out_dir, files=files)


def build_report(
    result: Any,
    *,
    schema: TrainingSchema,
    data_path: Path | None,
    data_sha256: str | None,
    sheet: str | None = None,
    explanation: Explanation | None = None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Everything known about a run, JSON-ready (NaN becomes ``null``)."""
    plan = result.plan
    spec = resolve_metric(plan.metric, plan.task)
    report = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data": {
            "file": data_path.name if data_path else None,
            "sha256": data_sha256,
            "sheet": sheet,
            "notes": list(notes),
        },
        "profile": result.profile.to_dict(),
        "plan": plan.model_dump(mode="json"),
        "metric": {
            "name": spec.name,
            "label": spec.label,
            "greater_is_better": spec.greater_is_better,
        },
        "leaderboard": [_candidate_dict(c) for c in result.leaderboard],
        "best_family": result.best_family,
        "cv_metrics": dict(result.cv_metrics),
        "expected_metrics": dict(getattr(result, "expected_metrics", {}) or {}),
        "estimate_method": getattr(result, "estimate_method", "") or "",
        "choices": {
            "target_transform": getattr(result, "target_transform", "none"),
            "class_weight": getattr(result, "class_weight", "none"),
            "threshold": getattr(result, "threshold", None),
            "positive_class": getattr(result, "positive_class", None),
            "target_encoded": list(getattr(result.model, "target_encoded_", [])),
            "native_categories": list(getattr(result.model, "native_categories_", [])),
        },
        "timings": {
            "train_s": float(result.elapsed_s),
            "stopped": bool(getattr(result, "stopped", False)),
        },
        "schema": schema.to_dict(),
        "versions": library_versions(),
        "explanation": explanation.to_dict() if explanation else None,
    }
    return _jsonable(report)


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a model depends on."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _candidate_dict(candidate: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(candidate):
        return dataclasses.asdict(candidate)
    return dict(vars(candidate))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return value.name
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
