"""The ``mlchat`` command run as a subprocess, as a user (or another check) runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from assistant.cli import main
from tools.search.automl import base_family

ROOT = Path(__file__).resolve().parent.parent


def _mlchat(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=180,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(cwd)},
    )


def _customers(n_rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 60, n_rows)
    plan = rng.choice(["basic", "plus", "pro"], n_rows)
    spend = np.round(rng.gamma(2.0, 30.0, n_rows), 2)
    logit = -0.06 * tenure + 0.01 * spend + np.where(plan == "basic", 0.8, -0.4)
    return pd.DataFrame(
        {
            "customer_id": [f"K{i:04d}" for i in range(n_rows)],
            "tenure": tenure,
            "plan": plan,
            "spend": spend,
            "joined": (
                pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 500, n_rows), "D")
            ).strftime("%Y-%m-%d"),
            "churned": np.where(rng.random(n_rows) < 1 / (1 + np.exp(-logit)), "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    _customers(240, 0).to_csv(folder / "customers.csv", index=False)
    _customers(37, 1).drop(columns=["churned"]).to_csv(folder / "new.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def trained(workdir: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    run = workdir / "run"
    # The budget counts from process start; 15 s leaves explain and export their share even
    # when importing the libraries is slow on a busy machine (it took 15 s at load 10).
    completed = _mlchat(
        "train",
        "customers.csv",
        "--target",
        "churned",
        "--budget",
        "15",
        "--models",
        "logistic_regression,random_forest",
        "--out",
        str(run),
        "--seed",
        "1",
        cwd=workdir,
    )
    return run, completed


def test_help_lists_each_subcommand_with_one_line(workdir: Path) -> None:
    completed = _mlchat("--help", cwd=workdir)

    assert completed.returncode == 0
    listed = {line.split()[0] for line in completed.stdout.splitlines() if line.startswith("    ")}
    assert {"train", "predict", "profile"} <= listed
    assert re.search(r"^    profile +show column types", completed.stdout, re.MULTILINE)
    assert {"serve-model", "export-notebook"} <= listed


def test_train_prints_a_live_leaderboard_and_writes_the_run_folder(trained) -> None:
    run, completed = trained

    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert (
        out.index("Target “churned”: binary")
        < out.index("Plan")
        < out.index("Leaderboard (ROC AUC")
    )
    board = [line.split()[0] for line in out.split("Leaderboard")[1].splitlines()[1:3]]
    assert board == ["logistic_regression", "random_forest"]  # cheapest first, as each finishes
    assert "Best model: " in out and "roc_auc " in out
    for name in ("model.joblib", "report.json", "model_card.md", "train.py", "schema.json"):
        assert (run / name).is_file(), name
        assert f"  {name}" in out
    assert (run / "figures" / "importance.png").is_file()
    assert (run / "figures" / "roc_curve.json").is_file()
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert report["plan"]["seed"] == 1 and report["plan"]["budget_s"] == 15
    # tuned rows ("<family>:tuned") and an ensemble join when the budget leaves time for them
    assert {base_family(row["family"]) for row in report["leaderboard"]} - {"ensemble"} == {
        "logistic_regression",
        "random_forest",
    }

    model = joblib.load(run / "model.joblib")
    frame = _customers(5, 2).drop(columns=["churned"])
    assert list(model.classes_) == ["no", "yes"]  # the labels as the file writes them
    assert model.predict_proba(frame).shape == (5, 2)
    assert set(model.predict(frame)) <= {"no", "yes"}


def test_predict_writes_one_row_per_input_row(trained, workdir: Path) -> None:
    run, _ = trained

    completed = _mlchat("predict", str(run), "new.csv", "--out", "preds.csv", cwd=workdir)

    assert completed.returncode == 0, completed.stderr
    written = pd.read_csv(workdir / "preds.csv")
    assert len(written) == 37
    # predictions use the training file's own words for the yes/no target
    assert list(written.columns) == ["customer_id", "prediction", "proba_no", "proba_yes"]
    assert set(written["prediction"]) <= {"yes", "no"}
    assert completed.stdout.startswith("Wrote 37 predictions to preds.csv.")


def test_profile_json_reports_the_task(workdir: Path) -> None:
    completed = _mlchat("profile", "customers.csv", "--target", "churned", "--json", cwd=workdir)

    assert completed.returncode == 0, completed.stderr
    profile = json.loads(completed.stdout)
    assert profile["task"] == "binary" and profile["n_rows"] == 240
    assert {c["name"]: c["kind"] for c in profile["columns"]}["customer_id"] == "id"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "absent.csv", "--target", "churned"], "no file “absent.csv”"),
        (["train", "customers.csv", "--target", "churn_flag"], "churn_flag"),
        (
            ["train", "customers.csv", "--target", "churned", "--budget", "soon"],
            "number of seconds",
        ),
    ],
)
def test_bad_input_exits_2_with_one_sentence(workdir: Path, args: list[str], expected: str) -> None:
    completed = _mlchat(*args, cwd=workdir)

    assert completed.returncode == 2
    message = completed.stderr.strip()
    assert "\n" not in message and "Traceback" not in completed.stderr
    assert expected in message
    assert completed.stdout == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "customers.csv", "--target", "churned", "--metric", "rmse"], "RMSE"),
        (["train", "customers.csv", "--target", "churned", "--models", "magic"], "magic"),
        (["train", "customers.csv", "--target", "churned", "--budget", "-5"], "positive"),
        (["train", "customers.csv"], "--target"),
        (["predict", "no-such-run", "new.csv"], "no folder “no-such-run”"),
        (["profile", "new.csv", "--target", "tenure", "--sheet"], "--sheet"),
        (["profile", "new.csv", "--target", "plans"], "plans"),
        (["predict", ".", "new.csv"], "No saved model"),
        (["fly"], "invalid choice: 'fly'"),
        (
            ["train", "customers.csv", "--target", "churned", "--feature", "x = spend.real"],
            "attribute access (a.b), which is not allowed",
        ),
        (
            ["train", "customers.csv", "--target", "churned", "--feature", "x = spnd / tenure"],
            "no usable column named “spnd”. Closest columns: spend",
        ),
        (
            ["train", "customers.csv", "--target", "plan", "--task", "regression"],
            "The target “plan” holds text (such as “",
        ),
        (
            ["train", "customers.csv", "--target", "churned", "--positive-class", "maybe"],
            "“maybe” is not a class of “churned”; its classes are",
        ),
        (
            ["train", "customers.csv", "--target", "spend", "--positive-class", "yes"],
            "A positive class applies only to a classification with two classes",
        ),
        (["train", "customers.csv", "--target", "churned", "--task", "numbers"], "--task"),
    ],
)
def test_more_bad_input_in_process(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(workdir)
    try:
        status = main(args)
    except SystemExit as exit_:  # argparse's own exit path
        status = exit_.code

    captured = capsys.readouterr()
    assert status == 2
    message = captured.err.strip()
    assert "\n" not in message and "Traceback" not in captured.err
    assert expected in message


def test_train_with_a_derived_feature_puts_it_in_the_plan_and_the_card(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(workdir)
    feature = "spend_per_month = spend / tenure"
    args = ["train", "customers.csv", "--target", "churned", "--models", "logistic_regression"]

    status = main([*args, "--budget", "5", "--feature", feature, "--out", "featured"])

    assert status == 0, capsys.readouterr().err
    assert f"Derived features: {feature}." in capsys.readouterr().out
    assert f"`{feature}`" in (workdir / "featured" / "model_card.md").read_text(encoding="utf-8")
    model = joblib.load(workdir / "featured" / "model.joblib")
    assert model.predict_proba(_customers(5, 2).drop(columns=["churned"])).shape == (5, 2)


def test_positive_class_option_moves_f1_the_threshold_and_the_curves(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(workdir)
    counts = pd.read_csv(workdir / "customers.csv")["churned"].value_counts()
    common = str(counts.index[0])  # the default positive class is the rarer one
    args = ["train", "customers.csv", "--target", "churned", "--models", "logistic_regression"]

    options = ["--metric", "f1", "--budget", "4", "--out", "positive"]

    status = main([*args, *options, "--positive-class", common.upper()])

    out = capsys.readouterr().out
    assert status == 0
    assert f"Positive class: “{common}”" in out
    report = json.loads((workdir / "positive" / "report.json").read_text(encoding="utf-8"))
    assert report["plan"]["positive_class"] == common
    assert report["choices"]["positive_class"] == common
    titles = [f["title"] for f in report["explanation"]["figures"]]
    assert any(t.startswith(f"ROC curve (positive class “{common}”") for t in titles), titles
    assert any(f"threshold for “{common}”" in note for note in report["data"]["notes"])
    model = joblib.load(workdir / "positive" / "model.joblib")
    assert list(model.classes_)[1] == common


def test_task_option_treats_a_numeric_code_as_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(4)
    x = rng.normal(size=45)
    frame = pd.DataFrame({"x": x, "grade": np.digitize(x + rng.normal(0, 0.3, 45), [-0.5, 0.5])})
    frame.to_csv("grades.csv", index=False)  # 0/1/2 on 45 rows reads as numbers by default
    args = ["train", "grades.csv", "--target", "grade", "--models", "logistic_regression"]

    status = main([*args, "--task", "classification", "--budget", "3", "--out", "run"])

    out = capsys.readouterr().out
    assert status == 0
    assert "is treated as classes, as asked: multiclass classification with 3 classes" in out
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["plan"]["task"] == "multiclass"
    assert sorted(joblib.load(tmp_path / "run" / "model.joblib").classes_) == [0, 1, 2]
