"""Fit AutoGluon on a train file and write its test predictions (run in AutoGluon's venv).

    <autogluon venv>/bin/python bench/autogluon_runner.py REQUEST.json

``REQUEST.json`` names the train and test Parquet files, the target, the problem type,
AutoGluon's metric name, the time limit and where to write the predictions
(Parquet: one column per class, in ``classes`` order, or ``prediction``). Scoring happens
in ``bench/quality.py`` with mlchat's own metric code, the same for every system. This
file imports nothing from mlchat: AutoGluon's pins live in their own virtualenv.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from autogluon.tabular import TabularPredictor


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    train = pd.read_parquet(request["train"])
    test = pd.read_parquet(request["test"])
    target = request["target"]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ag-") as folder:
        predictor = TabularPredictor(
            label=target,
            problem_type=request["problem_type"],
            eval_metric=request["metric"],
            path=folder,
            verbosity=0,
        ).fit(
            train,
            time_limit=request["time_limit"],
            presets="medium_quality",
            num_cpus=request.get("num_cpus", "auto"),
        )
        features = test.drop(columns=[target])
        if request["problem_type"] == "regression":
            out = pd.DataFrame({"prediction": predictor.predict(features).to_numpy()})
            classes: list[str] = []
        else:
            proba = predictor.predict_proba(features)
            classes = [str(c) for c in proba.columns]
            out = proba.copy()
            out.columns = classes
        best = str(predictor.model_best)
    wall = time.monotonic() - started
    out.to_parquet(request["out"])
    Path(request["out"] + ".json").write_text(
        json.dumps({"wall_s": wall, "best": best, "classes": classes}), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
