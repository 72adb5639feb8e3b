"""The reproducible training script (``train.py``): the fitted pipeline written back as Python source, our own classes copied in so the script needs only public packages."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import Any

from sklearn.base import clone

from tools.export.files import RETRAINED_FILE, SCRIPT_FILE
from tools.export.source import SourceWriter
from tools.io.columns import RawTableParser
from tools.metrics import resolve_metric
from tools.predict import TrainingSchema


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
    writer = SourceWriter()
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
    writer = SourceWriter()
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
