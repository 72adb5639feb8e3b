"""Export round trip: a real training run written to a folder, and its script re-run."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn import config_context

from tests.tools.scripts import run_exported_script
from tools.analyze.profile import profile_table
from tools.explain.model import explain_result
from tools.export.folder import export_run
from tools.export.script import estimator_source
from tools.io.load import file_sha256, load_table
from tools.models.families import MODEL_FAMILIES
from tools.models.preprocessing import build_pipeline
from tools.plan import build_plan
from tools.search.train import train


def _train_and_export(csv: Path, target: str, models: list[str], out_dir: Path):
    table = load_table(csv)
    profile = profile_table(table.frame, target=target)
    plan = build_plan(profile, models=models, budget_s=20, seed=3)
    result = train(table.frame, plan, profile=profile)
    explanation = explain_result(result, table.frame, out_dir=out_dir / "figures", time_limit_s=5)
    exported = export_run(
        result,
        out_dir=out_dir,
        frame=table.frame,
        data_path=csv,
        data_sha256=file_sha256(csv),
        explanation=explanation,
        notes=table.notes,
    )
    return table, result, exported


def _imported_roots(source: str) -> set[str]:
    tree = ast.parse(source)
    roots = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    roots |= {
        (n.module or "").split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.level == 0
    }
    return roots


def test_classification_run_folder_round_trip(churn_frame: pd.DataFrame, tmp_path: Path) -> None:
    csv = tmp_path / "churn.csv"
    churn_frame.drop(columns=["refund_amount"]).to_csv(csv, index=False)
    run = tmp_path / "run"

    table, result, exported = _train_and_export(
        csv, "churn", ["logistic_regression", "random_forest"], run
    )

    assert {"model", "schema", "report", "card", "script", "figure:importance"} <= set(
        exported.files
    )
    assert {"figure:confusion_matrix", "figure:roc_curve", "figure:pr_curve"} <= set(exported.files)
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert report["best_family"] == result.best_family
    assert report["leaderboard"][0]["family"] == result.best_family
    assert report["data"] == {
        "file": "churn.csv",
        "sha256": file_sha256(csv),
        "sheet": None,
        "notes": list(table.notes),
    }
    assert report["plan"]["metric"] == "roc_auc" and report["plan"]["seed"] == 3
    assert report["cv_metrics"]["roc_auc"] == pytest.approx(result.cv_metrics["roc_auc"])
    assert "customer_id" in report["schema"]["id_columns"]
    assert "customer_id" not in report["schema"]["input_columns"]
    assert report["versions"]["scikit-learn"]

    saved = joblib.load(run / "model.joblib")
    features = table.frame.drop(columns=["churn"])
    assert list(saved.classes_) == [False, True]  # load_table reads yes/no as booleans
    np.testing.assert_allclose(saved.predict_proba(features), result.model.predict_proba(features))

    card = (run / "model_card.md").read_text(encoding="utf-8")
    best = result.leaderboard[0]
    assert f"| 1 | {best.family} | {best.score:.4f} ± {best.std:.4f} |" in card
    assert "![Confusion matrix](figures/confusion_matrix.png)" in card
    assert "customer_id" in card  # the ID-like warning is among the caveats

    script = (run / "train.py").read_text(encoding="utf-8")
    assert not _imported_roots(script) & {"tools", "assistant"}
    assert "sample of its rows" not in script  # every row was validated
    score, metric = run_exported_script(run / "train.py", csv)
    assert metric == "roc_auc"
    assert abs(score - best.score) <= 0.02
    assert (run / "retrained_model.joblib").is_file()
    _loads_in_a_fresh_interpreter(run / "retrained_model.joblib", csv, tmp_path)
    # mlchat's own model is left in place, so `mlchat predict` still reads the folder
    np.testing.assert_allclose(
        joblib.load(run / "model.joblib").predict_proba(features),
        result.model.predict_proba(features),
    )


def test_regression_script_reproduces_the_cv_rmse(
    diabetes_frame: pd.DataFrame, tmp_path: Path
) -> None:
    csv = tmp_path / "diabetes.csv"
    diabetes_frame.to_csv(csv, index=False)
    run = tmp_path / "run"

    _, result, _ = _train_and_export(csv, "progression", ["ridge", "lightgbm"], run)

    best = result.leaderboard[0]
    score, metric = run_exported_script(run / "train.py", csv)
    assert metric == "root_mean_squared_error"
    assert abs(score - best.score) <= 0.02 * best.score
    assert [f.name for f in (run / "figures").glob("*.png")]


@pytest.mark.parametrize("family", sorted(MODEL_FAMILIES))
def test_every_family_pipeline_is_rebuilt_from_its_source(family: str) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=40),
            "color": rng.choice(["red", "blue"], 40),
            "seen": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 99, 40), unit="D"),
            "note": [f"customer {i} asked about order {i % 7} today" for i in range(40)],
            "label": rng.choice([0.0, 1.0], 40) + rng.normal(size=40),
        }
    )
    task = "regression" if MODEL_FAMILIES[family].supports("regression") else "binary"
    if task == "binary":
        frame["label"] = np.where(frame["label"] > 0.5, "a", "b")
    profile = profile_table(frame, target="label")
    assert profile.column("note").kind == "text"
    features = ["size", "color", "seen", "note"]
    pipeline = build_pipeline(family, task, profile, features, seed=7, n_jobs=1)

    source = estimator_source(pipeline, name="rebuilt")
    namespace: dict = {}
    exec(compile(source, "generated", "exec"), namespace)

    assert not _imported_roots(source) & {"tools", "assistant"}
    with config_context(print_changed_only=False):
        # The script uses the libraries' estimators; ours only add stopping at a deadline.
        # (Shorter class names wrap the repr differently, so whitespace is not compared.)
        rebuilt = "".join(namespace["rebuilt"].__repr__(N_CHAR_MAX=100_000).split())
        original = "".join(pipeline.__repr__(N_CHAR_MAX=100_000).split())
        assert rebuilt == original.replace("Stoppable", "")


def test_a_log_target_and_target_encoding_survive_the_script(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 600
    streets = np.array([f"street {i}" for i in range(120)])
    effect = dict(zip(streets, rng.normal(0, 0.5, len(streets)), strict=True))
    frame = pd.DataFrame({"area": rng.gamma(4.0, 25.0, n), "street": rng.choice(streets, n)})
    log_price = 8 + 0.9 * np.log(frame["area"]) + frame["street"].map(effect)
    frame["price"] = np.round(np.exp(log_price + rng.normal(0, 0.3, n)), 2)
    csv = tmp_path / "prices.csv"
    frame.to_csv(csv, index=False)
    table = load_table(csv)
    profile = profile_table(table.frame, target="price")
    plan = build_plan(profile, models=["ridge"], budget_s=20, seed=3)
    plan = plan.model_copy(update={"target_transform": "log"})
    result = train(table.frame, plan, profile=profile)
    run = tmp_path / "run"

    export_run(result, out_dir=run, frame=table.frame, data_path=csv)
    report = json.loads((run / "report.json").read_text())
    restored = joblib.load(run / "model.joblib")
    score, metric = run_exported_script(run / "train.py", csv)

    source = (run / "train.py").read_text()
    assert "class SignedLog1p" in source and "TargetEncoder(" in source
    assert result.model.target_encoded_ == ["street"]
    assert metric == "root_mean_squared_error"
    assert abs(score - result.leaderboard[0].score) <= 0.02 * result.leaderboard[0].score
    assert restored.predict(table.frame.head(5)).min() > 1_000  # prices, not their logarithms
    card = (run / "model_card.md").read_text()
    assert "- Target: log-transformed for fitting" in card and "`street`" in card
    assert report["choices"] == {
        "target_transform": "log",
        "class_weight": "none",
        "threshold": None,
        "positive_class": None,
        "target_encoded": ["street"],
        "native_categories": [],
    }


def _loads_in_a_fresh_interpreter(model: Path, csv: Path, cwd: Path) -> None:
    """The retrained model predicts in a new Python that never ran train.py."""
    code = (
        "import joblib, pandas as pd, sys\n"
        "saved = joblib.load(sys.argv[1])\n"
        "frame = pd.read_csv(sys.argv[2])[saved['features']]\n"
        "print(len(saved['pipeline'].predict(frame)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(model), str(csv)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) == len(pd.read_csv(csv))
