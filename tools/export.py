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

import ast
import dataclasses
import datetime as dt
import functools
import importlib
import importlib.metadata
import inspect
import json
import logging
import math
import platform
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone

from tools.errors import MlchatError
from tools.explain import Explanation
from tools.io.atomic import open_atomic, write_text_atomic
from tools.io.columns import RawTableParser
from tools.io.raw_rows import saved_pipeline
from tools.metrics import resolve_metric
from tools.predict import MODEL_FILE, SCHEMA_FILE, TrainingSchema, training_schema

RETRAINED_FILE = "retrained_model.joblib"
"""What the exported script saves its refit pipeline as; the run's ``model.joblib`` stays."""

log = logging.getLogger(__name__)

REPORT_FILE = "report.json"
CARD_FILE = "model_card.md"
SCRIPT_FILE = "train.py"
FIGURES_DIR = "figures"

_PUBLIC_PACKAGES = frozenset(
    {
        "sklearn",
        "numpy",
        "pandas",
        "pyarrow",
        "scipy",
        "xgboost",
        "lightgbm",
        "catboost",
        "joblib",
    }
)
_VERSIONED = ("mlchat", "pandas", "numpy", "scikit-learn", "xgboost", "lightgbm", "catboost")


class ExportError(MlchatError):
    """A fitted object could not be written as Python source (a bug for us, not the user)."""


@dataclass(frozen=True, slots=True)
class ExportedRun:
    """Where :func:`export_run` wrote each file."""

    out_dir: Path
    files: dict[str, Path]
    """Keys: ``model``, ``schema``, ``report``, ``card``, ``script`` and ``figure:<name>``."""


# ---------------------------------------------------------------------------
# the run folder
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# the model card
# ---------------------------------------------------------------------------


def model_card(report: Mapping[str, Any]) -> str:
    """A markdown model card from a report made by :func:`build_report`."""
    plan, profile, metric = report["plan"], report["profile"], report["metric"]
    direction = "higher" if metric["greater_is_better"] else "lower"
    lines = [
        f"# Model card: predicting `{plan['target']}`",
        "",
        f"Generated by mlchat on {report['created_at']}. Best model: **{report['best_family']}**.",
        "",
        "## Data",
        "",
        f"- File: `{report['data']['file']}`"
        + (f" (sheet `{report['data']['sheet']}`)" if report["data"]["sheet"] else "")
        + (f", SHA-256 `{report['data']['sha256']}`" if report["data"]["sha256"] else ""),
        f"- {profile['n_rows']:,} rows x {profile['n_columns']} columns; "
        f"{profile.get('n_rows_dropped_missing_target', 0)} rows without a target were dropped.",
        f"- Task: {plan['task']} ({profile.get('task_reason', '')})",
        f"- Features used: {', '.join(f'`{c}`' for c in report['schema']['input_columns'])}",
    ]
    derived = plan.get("derived_features") or []
    if derived:
        listed = ", ".join(f"`{f['name']} = {f['expression']}`" for f in derived)
        lines.append(
            f"- Derived features, computed inside the pipeline from the columns above: {listed}"
        )
    lines += [f"- {note}" for note in report["data"]["notes"]]
    lines += [
        "",
        "## Plan",
        "",
        f"- Metric: {metric['label']} (`{metric['name']}`, {direction} is better)",
        f"- Validation: {_validation_words(plan)}",
        f"- Candidate models: {', '.join(plan['models'])}",
        f"- Budget: {plan['budget_s']:g} s, seed {plan['seed']}; training took "
        f"{report['timings']['train_s']:.1f} s"
        + (" (stopped early)" if report["timings"]["stopped"] else ""),
        *_choice_lines(report.get("choices") or {}),
        "",
        "## Leaderboard",
        "",
        f"| rank | model | {metric['label']} (mean ± std) | fit time (s) | status |",
        "|---:|---|---:|---:|---|",
    ]
    for rank, candidate in enumerate(report["leaderboard"], start=1):
        score = candidate.get("score")
        std = candidate.get("std")
        cell = "—" if score is None else f"{score:.4f}" + (f" ± {std:.4f}" if std else "")
        lines.append(
            f"| {rank} | {candidate.get('family')} | {cell} | "
            f"{(candidate.get('fit_time_s') or 0.0):.1f} | {candidate.get('status', '')} |"
        )
    expected = report.get("expected_metrics") or {}
    if expected:
        lines += ["", "## Expected on new data", ""]
        lines += [f"- {name}: {value:.4f}" for name, value in expected.items()]
        lines += ["", f"Method: {report.get('estimate_method')}."]
    lines += ["", "## Cross-validation metrics (the rows that chose the model)", ""]
    lines += [
        "Mean over validation folds of the winner's out-of-fold predictions. The same rows "
        "ranked the candidates"
        + (" and set the threshold" if (report.get("choices") or {}).get("threshold") else "")
        + ", so these flatter the model"
        + ("; use the figures above for what to expect." if expected else ".")
    ]
    lines += [""]
    lines += [f"- {name}: {value:.4f}" for name, value in report["cv_metrics"].items()]
    explanation = report.get("explanation")
    if explanation:
        lines += ["", "## What the model relies on", ""]
        source = explanation.get("importance_source", "training rows")
        lines += [
            f"Permutation importance on {explanation.get('importance_rows', 0):,} {source}"
            + (
                " (the model's configuration fit without them)"
                if source == "held-out rows"
                else " (in-sample: no held-out fit was possible in the time left)"
            )
            + ": the drop in the score when one column is shuffled.",
            "",
        ]
        lines += [
            f"{i['rank']}. `{i['column']}`: score drop {i['mean']:.4f} ± {i['std']:.4f}"
            for i in explanation["importance"][:10]
        ]
        lines += ["", *[f"- {sentence}" for sentence in explanation["insights"]]]
        lines += ["", *[f"![{f['title']}](figures/{f['png']})" for f in explanation["figures"]]]
    lines += ["", "## Caveats", ""]
    warnings = profile.get("warnings") or []
    lines += [f"- {w['message']}" for w in warnings] or ["- No data warnings were raised."]
    lines += [
        "- Scores are estimated by cross-validation on the training file; they hold for new "
        "rows only if those come from the same population and time period.",
        "",
        "## Intended use",
        "",
        f"Predicting `{plan['target']}` for new rows with the same columns as the training file "
        "(`mlchat predict <this folder> <file>`, or `joblib.load('model.joblib').predict(frame)` "
        "where `frame` is the new rows as read, e.g. by `pandas.read_csv`: the model parses "
        "yes/no words, decimal commas, missing-value markers and dates as the training file "
        "was parsed, and answers in the file's own labels). "
        "It is not meant for decisions about individuals without human review, nor for data "
        "that differs from the training file. `train.py` in this folder retrains it without mlchat.",
        "",
        "## Versions",
        "",
        ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        "",
    ]
    return "\n".join(lines)


def _choice_lines(choices: Mapping[str, Any]) -> list[str]:
    """Card lines for the hard-case choices of a run (target transform, weights, threshold)."""
    lines = []
    transform = choices.get("target_transform", "none")
    if transform == "per member":
        lines.append(
            "- Target: transformed for fitting by some ensemble members (each as its own "
            "cross-validation chose); predictions are on the original scale"
        )
    elif transform != "none":
        lines.append(
            f"- Target: {transform}-transformed for fitting; predictions are on the original scale"
        )
    if choices.get("target_encoded"):
        names = ", ".join(f"`{name}`" for name in choices["target_encoded"])
        lines.append(f"- Target-encoded (many categories, cross-fitted): {names}")
    if choices.get("class_weight", "none") != "none":
        lines.append("- Classes weighted equally (balanced class weights)")
    if choices.get("positive_class") is not None:
        lines.append(
            f"- Positive class: “{choices['positive_class']}” (F1, the decision threshold and "
            "the ROC and precision-recall curves are about it)"
        )
    if choices.get("threshold") is not None:
        lines.append(
            f"- Decision threshold {choices['threshold']:.3f} (chosen for F1 on out-of-fold "
            "probabilities)"
        )
    return lines


def _validation_words(plan: Mapping[str, Any]) -> str:
    if plan["validation"] in {"stratified_kfold", "kfold"}:
        kind = "stratified " if plan["validation"] == "stratified_kfold" else ""
        return f"{plan['folds']}-fold {kind}cross-validation"
    if plan["validation"] == "holdout":
        return f"holdout of {plan['holdout_fraction']:.0%} of the rows"
    return f"time-ordered split on `{plan['time_column']}` (latest {plan['holdout_fraction']:.0%})"


# ---------------------------------------------------------------------------
# the standalone script
# ---------------------------------------------------------------------------


def train_script(
    result: Any,
    *,
    schema: TrainingSchema,
    data_path: Path | None,
    sheet: str | None = None,
    parser: RawTableParser | None = None,
) -> str:
    """Python source that retrains the winning pipeline without mlchat.

    With ``parser`` (the feature columns' parse decisions), the script reads the file
    the way ``load_table`` did (yes/no words, decimal commas, "n/a", dates) with the
    same code, copied in.
    """
    plan = result.plan
    pipeline = clone(result.model.pipeline_)
    writer = _SourceWriter()
    expression = writer.expression(pipeline)
    parsing = "None" if parser is None else writer.expression(parser)
    imports = sorted(writer.imports)
    helpers = "\n\n".join(writer.helpers.values())
    metric = resolve_metric(plan.metric, plan.task)
    best = next((c for c in result.leaderboard if c.family == result.best_family), None)
    values = {
        "DATA_FILE": str(data_path) if data_path else None,
        "SHEET": sheet,
        "TARGET": plan.target,
        "TASK": plan.task,
        "FEATURES": list(schema.input_columns),
        "KINDS": dict(schema.kinds),
        "METRIC": metric.name,
        "GREATER_IS_BETTER": metric.greater_is_better,
        "VALIDATION": plan.validation,
        "FOLDS": best.n_folds if best and best.n_folds >= 2 else plan.folds,
        "HOLDOUT_FRACTION": plan.holdout_fraction,
        "TIME_COLUMN": plan.time_column,
        "SEED": plan.seed,
        "THRESHOLD": getattr(result.model, "threshold_", None),
        "POSITIVE_CLASS": getattr(result, "positive_class", None),
        "RETRAINED_FILE": RETRAINED_FILE,
    }
    settings = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    expected = "unknown" if best is None else f"{best.score:.6f}"
    validated = len(result.oof_rows)
    all_rows = len(result.y)
    if plan.validation in {"holdout", "time_split"}:
        all_rows = int(len(result.y) * plan.holdout_fraction) - 1
    sampled = 0 < validated < all_rows
    caveat = (
        "\nThe run compared models on a sample of its rows; this script validates on\n"
        "all rows, so its score can differ a little from the run's.\n"
        if sampled
        else ""
    )
    if values["THRESHOLD"] is not None:
        caveat += (
            "\nIts predictions use the run's decision threshold (THRESHOLD) for POSITIVE_CLASS,\n"
            "chosen for F1 on the out-of-fold probabilities, as the run's F1 was scored.\n"
        )
    source = _SCRIPT_TEMPLATE.format(
        caveat=caveat,
        family=result.best_family,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        expected=expected,
        imports="\n".join(imports),
        settings=settings,
        helpers=helpers or "# (no custom transformers)",
        parser=parsing,
        pipeline=textwrap.indent(expression, "    ").lstrip(),
    )
    compile(source, SCRIPT_FILE, "exec")  # a generated script must at least parse
    return source


def estimator_source(estimator: Any, *, name: str = "estimator") -> str:
    """A self-contained Python module that rebuilds ``estimator`` (unfitted) as ``name``.

    Non-default constructor parameters are written out; classes and functions
    outside public libraries are copied in with the module-level names they use.
    """
    writer = _SourceWriter()
    expression = writer.expression(clone(estimator))
    parts = [
        "from __future__ import annotations",
        "\n".join(sorted(writer.imports)),
        *writer.helpers.values(),
        f"{name} = {expression}",
    ]
    return "\n\n".join(part.rstrip() for part in parts) + "\n"


_SCRIPT_TEMPLATE = '''\
"""Retrain the {family} model of an mlchat run, without mlchat.

Generated {created}. Needs only pandas, numpy, scikit-learn, joblib, pyarrow
and the model's own library. It reads the training file, runs the same validation as
the run (expected score {expected}), prints the score, then refits on all rows
and saves it as retrained_model.joblib next to this script (the run's own
model.joblib is left as it is).
{caveat}
Usage: python train.py [DATA_FILE]
"""

from __future__ import annotations

import csv
import sys
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import cloudpickle  # installed with joblib
from sklearn import metrics as skm
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

{imports}

{settings}

# --- custom column transformers used by the pipeline (copied from mlchat) ---

{helpers}


PARSER = {parser}
"""How mlchat parsed each feature column of the training file (None: read as is)."""


def build_pipeline():
    """The winning pipeline, unfitted, with the run's parameters and seed."""
    return {pipeline}


def load(path: Path) -> pd.DataFrame:
    """Read the table like mlchat does for plain files: by extension, names stripped."""
    suffix = path.suffix.lower()
    if suffix in {{".xlsx", ".xlsm", ".xls"}}:
        frame = pd.read_excel(path, sheet_name=SHEET or 0)
    elif suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif suffix in {{".jsonl", ".ndjson"}}:
        frame = pd.read_json(path, lines=True)
    elif suffix == ".json":
        frame = pd.read_json(path)
    else:
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            sample = handle.read(1 << 16)
        try:
            sep = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            sep = "\t" if suffix == ".tsv" else ","
        frame = pd.read_csv(path, sep=sep, encoding_errors="replace")
    frame.columns = [str(c).strip().lstrip("\ufeff").strip() for c in frame.columns]
    if PARSER is not None:  # yes/no words, decimal commas, "n/a", dates: as mlchat read them
        frame = PARSER.transform(frame)
    for column, kind in KINDS.items():
        if column not in frame or kind != "numeric" or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        text = frame[column].astype("string").str.replace(r"[,$€£%\\s]", "", regex=True)
        frame[column] = pd.to_numeric(text, errors="coerce")
    return frame.dropna(subset=[TARGET]).reset_index(drop=True)


def score(y_true, y_pred, y_proba, n_classes: int) -> float:
    """The run's metric ({{METRIC}}) in its natural units."""
    if METRIC == "roc_auc":
        return skm.roc_auc_score(y_true, y_proba[:, 1])
    if METRIC == "roc_auc_ovr":
        return skm.roc_auc_score(y_true, y_proba, multi_class="ovr", labels=list(range(n_classes)))
    if METRIC == "log_loss":
        return skm.log_loss(y_true, y_proba, labels=list(range(n_classes)))
    if METRIC == "average_precision":
        if n_classes == 2:
            return skm.average_precision_score(y_true, y_proba[:, 1])
        onehot = np.eye(n_classes)[y_true]
        return skm.average_precision_score(onehot, y_proba, average="macro")
    if METRIC == "f1":
        return skm.f1_score(y_true, y_pred)
    if METRIC == "f1_macro":
        return skm.f1_score(y_true, y_pred, average="macro")
    if METRIC == "accuracy":
        return skm.accuracy_score(y_true, y_pred)
    if METRIC == "balanced_accuracy":
        return skm.balanced_accuracy_score(y_true, y_pred)
    if METRIC == "root_mean_squared_error":
        return skm.root_mean_squared_error(y_true, y_pred)
    if METRIC == "mean_absolute_error":
        return skm.mean_absolute_error(y_true, y_pred)
    if METRIC == "mean_absolute_percentage_error":
        return skm.mean_absolute_percentage_error(y_true, y_pred)
    if METRIC == "r2":
        return skm.r2_score(y_true, y_pred)
    raise SystemExit(f"unknown metric {{METRIC}}")


def splits(frame: pd.DataFrame, y: np.ndarray):
    """The run's validation splits, same scheme and seed."""
    rows = np.arange(len(frame))
    if VALIDATION == "stratified_kfold":
        yield from StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(rows, y)
    elif VALIDATION == "kfold":
        yield from KFold(FOLDS, shuffle=True, random_state=SEED).split(rows)
    elif VALIDATION == "holdout":
        stratify = y if TASK != "regression" else None
        yield train_test_split(
            rows, test_size=HOLDOUT_FRACTION, random_state=SEED, stratify=stratify
        )
    else:
        order = np.argsort(pd.to_datetime(frame[TIME_COLUMN]).to_numpy(), kind="stable")
        cut = int(round(len(order) * (1 - HOLDOUT_FRACTION)))
        yield order[:cut], order[cut:]


def main() -> None:
    if len(sys.argv) < 2 and DATA_FILE is None:
        raise SystemExit("usage: python train.py DATA_FILE")
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(DATA_FILE)
    frame = load(path)
    X = frame[FEATURES]
    if TASK == "regression":
        classes = None
        y = pd.to_numeric(frame[TARGET], errors="coerce").to_numpy(dtype=float)
    else:
        classes, y = np.unique(frame[TARGET].astype(object).to_numpy(), return_inverse=True)
        if POSITIVE_CLASS is not None and len(classes) == 2 and str(classes[0]) == POSITIVE_CLASS:
            classes, y = classes[::-1], 1 - y  # the positive class second, as in the run
    n_classes = 0 if classes is None else len(classes)
    scores = []
    for train_rows, test_rows in splits(frame, y):
        pipeline = build_pipeline()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline.fit(X.iloc[train_rows], y[train_rows])
            pred = pipeline.predict(X.iloc[test_rows])
            proba = None
            if TASK != "regression":
                proba = np.zeros((len(test_rows), n_classes))
                fitted = np.asarray(pipeline.classes_, dtype=int)
                proba[:, fitted] = pipeline.predict_proba(X.iloc[test_rows])
                pred = np.asarray(pred).reshape(len(test_rows), -1)[:, 0].astype(int)
                if THRESHOLD is not None:  # the run's threshold for the positive class
                    pred = (proba[:, 1] >= THRESHOLD).astype(int)
        scores.append(score(y[test_rows], pred, proba, n_classes))
    print(f"{{METRIC}}: {{np.nanmean(scores):.6f}} ± {{np.nanstd(scores):.6f}} over {{len(scores)}} split(s)")
    final = build_pipeline()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        final.fit(X, y)
    out = Path(__file__).with_name(RETRAINED_FILE)
    saved = {{"pipeline": final, "classes": classes, "features": FEATURES, "threshold": THRESHOLD}}
    # cloudpickle (a dependency of joblib) stores this script's own classes by value,
    # so the file loads with joblib.load in any interpreter, not only this script's.
    with open(out, "wb") as handle:
        cloudpickle.dump(saved, handle)
    print(f"saved {{out}}")


if __name__ == "__main__":
    main()
'''


class _SourceWriter:
    """Turns fitted-object parameters into Python source, collecting imports and helpers."""

    def __init__(self) -> None:
        self.imports: set[str] = set()
        self.helpers: dict[str, str] = {}
        self._visiting: set[str] = set()

    # -- values ------------------------------------------------------------

    def expression(self, value: Any) -> str:
        if value is None or isinstance(value, bool | str):
            return repr(value)
        if isinstance(value, np.generic):
            return self.expression(value.item())
        if isinstance(value, int):
            return repr(value)
        if isinstance(value, float):
            if math.isnan(value):
                return 'float("nan")'
            if math.isinf(value):
                return 'float("inf")' if value > 0 else 'float("-inf")'
            return repr(value)
        if isinstance(value, list):
            return _bracketed("[", [self.expression(v) for v in value], "]")
        if isinstance(value, tuple):
            items = [self.expression(v) for v in value]
            return _bracketed("(", items, ",)" if len(items) == 1 else ")")
        if isinstance(value, dict):
            pairs = (f"{self.expression(k)}: {self.expression(v)}" for k, v in value.items())
            return "{" + ", ".join(pairs) + "}"
        if isinstance(value, set | frozenset):
            inner = ", ".join(sorted(self.expression(v) for v in value))
            return f"{type(value).__name__}([{inner}])" if value else f"{type(value).__name__}()"
        if isinstance(value, np.dtype):
            self.imports.add("import numpy as np")
            return f"np.dtype({str(value)!r})"
        if isinstance(value, np.ndarray):
            self.imports.add("import numpy as np")
            return f"np.array({self.expression(value.tolist())}, dtype={str(value.dtype)!r})"
        if isinstance(value, functools.partial):
            args = [self.reference(value.func)]
            args += [self.expression(a) for a in value.args]
            args += [f"{k}={self.expression(v)}" for k, v in value.keywords.items()]
            self.imports.add("from functools import partial")
            return f"partial({', '.join(args)})"
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.isbuiltin(value):
            return self.reference(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = [
                f"{f.name}={self.expression(getattr(value, f.name))}"
                for f in dataclasses.fields(value)
                if f.default is dataclasses.MISSING or getattr(value, f.name) != f.default
            ]
            return f"{self.reference(type(value))}({', '.join(fields)})"
        if hasattr(value, "get_params"):
            return self._constructor(value)
        raise ExportError(f"cannot write a {type(value).__name__} value into the script")

    def _constructor(self, estimator: Any) -> str:
        cls = type(estimator)
        name = self.reference(cls)
        params = estimator.get_params(deep=False)
        try:
            signature = inspect.signature(cls.__init__)
        except (TypeError, ValueError):
            signature = None
        known = signature.parameters if signature else {}
        arguments = []
        for key, value in params.items():
            parameter = known.get(key)
            if parameter is None or parameter.kind == inspect.Parameter.VAR_KEYWORD:
                if value is None:
                    continue
            elif _same(value, parameter.default):
                continue
            arguments.append(f"{key}={self.expression(value)}")
        if len(", ".join(arguments)) + len(name) < 80 and "\n" not in "".join(arguments):
            return f"{name}({', '.join(arguments)})"
        body = "".join(textwrap.indent(f"{argument},", "    ") + "\n" for argument in arguments)
        return f"{name}(\n{body})"

    # -- names ---------------------------------------------------------------

    def reference(self, obj: Any) -> str:
        """The name to use for a class or function, importing or copying it."""
        if getattr(obj, "__module__", None) == "tools.models.stoppable" and inspect.isclass(obj):
            # The script trains without a deadline: the library's own estimator, same parameters.
            obj = obj.__mro__[1]
        module = getattr(obj, "__module__", None) or "builtins"
        name = obj.__name__
        top = module.split(".")[0]
        if top == "builtins":
            return name
        if top in _PUBLIC_PACKAGES or top in sys.stdlib_module_names:
            self.imports.add(f"from {_public_module(obj)} import {name}")
            return name
        self._copy(obj)
        return name

    def _copy(self, obj: Any) -> None:
        name = obj.__qualname__
        if "." in name or "<" in name:
            raise ExportError(f"cannot copy the nested definition {name} into the script")
        if name in self.helpers or name in self._visiting:
            return
        self._visiting.add(name)
        source = textwrap.dedent(inspect.getsource(obj))
        namespace = vars(sys.modules[obj.__module__])
        for used in sorted(_free_names(source)):
            if used == name or used not in namespace:
                continue
            self._define(used, namespace[used])
        self.helpers[name] = source.rstrip() + "\n"
        self._visiting.discard(name)

    def _define(self, name: str, value: Any) -> None:
        if inspect.ismodule(value):
            module = value.__name__
            top = module.split(".")[0]
            if top not in _PUBLIC_PACKAGES and top not in sys.stdlib_module_names:
                raise ExportError(f"the copied code uses the module {module}")
            self.imports.add(f"import {module}" if module == name else f"import {module} as {name}")
        elif isinstance(value, logging.Logger):
            self.imports.add("import logging")
            self.helpers.setdefault(name, f"{name} = logging.getLogger(__name__)\n")
        elif inspect.isclass(value) or inspect.isfunction(value):
            referenced = self.reference(value)
            if referenced != name:
                self.helpers.setdefault(name, f"{name} = {referenced}\n")
        elif name not in self.helpers:
            self.helpers[name] = f"{name} = {self.expression(value)}\n"
        elif self.helpers[name] != f"{name} = {self.expression(value)}\n":
            raise ExportError(f"two copied modules define different values named {name}")


def _bracketed(opening: str, items: list[str], closing: str) -> str:
    """Items on one line when short, else one per line (the source stays readable)."""
    flat = ", ".join(items)
    if len(flat) < 80 and "\n" not in flat:
        return f"{opening}{flat}{closing.lstrip(',') if len(items) != 1 else closing}"
    body = "".join(textwrap.indent(f"{item},", "    ") + "\n" for item in items)
    return f"{opening}\n{body}{closing.lstrip(',')}"


def _public_module(obj: Any) -> str:
    """The shortest importable module path that exposes ``obj`` (``sklearn.preprocessing``)."""
    parts = obj.__module__.split(".")
    for end in range(1, len(parts) + 1):
        candidate = ".".join(parts[:end])
        if candidate.split(".")[-1].startswith("_") and end < len(parts):
            continue
        try:
            module = importlib.import_module(candidate)
        except ImportError:
            continue
        if getattr(module, obj.__name__, None) is obj:
            return candidate
    return obj.__module__


class _NameCollector(ast.NodeVisitor):
    """Names a definition reads, skipping annotations (strings under postponed evaluation)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        self.names.add(node.id)

    def visit_arg(self, node: ast.arg) -> None:
        return None

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for child in (*node.decorator_list, node.args, *node.body):
            self.visit(child)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_arguments(self, node: ast.arguments) -> None:
        for default in (*node.defaults, *node.kw_defaults):
            if default is not None:
                self.visit(default)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)


def _free_names(source: str) -> set[str]:
    collector = _NameCollector()
    collector.visit(ast.parse(source))
    return collector.names


def _same(value: Any, default: Any) -> bool:
    if value is default:
        return True
    if type(value) is not type(default):
        return False
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        return False
