"""The saved model takes raw rows (as pandas.read_csv gives them) and speaks the file's labels."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from assistant.cli import main
from tests.tools.raw_tables import TARGET, make_raw_table
from tests.tools.scripts import run_exported_script
from tools.analyze.profile import profile_table
from tools.explain.feature import explain_feature
from tools.export.folder import export_run
from tools.io.columns import ColumnParse, RawTableParser
from tools.io.load import load_table
from tools.io.raw_rows import fitted_model, label_target
from tools.plan import build_plan
from tools.search.train import train

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def raw_csv(tmp_path: Path) -> Path:
    path = tmp_path / "houses.csv"
    make_raw_table().to_csv(path, index=False)
    return path


def _as_text(values: pd.Series) -> list[str]:
    return [str(v) for v in values.astype(object).where(values.notna(), None)]


def test_parser_reads_raw_rows_as_load_table_did(raw_csv: Path) -> None:
    loaded = load_table(raw_csv)
    raw = pd.read_csv(raw_csv)

    from_raw = loaded.parser.transform(raw)
    twice = loaded.parser.transform(loaded.frame)

    assert dict(loaded.parser.columns)["area_m2"] == ColumnParse("number", decimal_comma=True)
    assert dict(loaded.parser.columns)["listed_on"] == ColumnParse("date", date_format="%d/%m/%Y")
    assert loaded.parser.words("garage") == ("No", "Yes")
    for column in loaded.frame.columns:
        assert _as_text(from_raw[column]) == _as_text(loaded.frame[column]), column
        assert _as_text(twice[column]) == _as_text(loaded.frame[column]), column
    assert from_raw["area_m2"].dtype == np.float64
    assert from_raw["listed_on"].dtype == "datetime64[ns]"


def test_parser_pickles_and_leaves_unknown_columns_alone() -> None:
    parser = RawTableParser((("flag", ColumnParse("boolean", words=("no", "yes"))),))
    restored = pickle.loads(pickle.dumps(parser))
    rows = pd.DataFrame({" flag ": ["YES", " no ", "maybe", None], "other": ["yes", "no", "", "x"]})

    parsed = restored.transform(rows)

    assert list(parsed.columns) == ["flag", "other"]  # header stripped as load_table does
    assert parsed["flag"].tolist() == [True, False, pd.NA, pd.NA]
    assert parsed["other"].tolist() == ["yes", "no", "", "x"]


def test_label_target_writes_a_yes_no_target_in_the_file_words(raw_csv: Path) -> None:
    loaded = load_table(raw_csv)

    labelled = label_target(loaded.frame, TARGET, loaded.parser)

    assert loaded.frame[TARGET].dtype == bool
    assert sorted(labelled[TARGET].unique()) == ["no", "yes"]
    assert (labelled[TARGET] == "yes").tolist() == loaded.frame[TARGET].tolist()
    assert label_target(loaded.frame, "city", loaded.parser) is loaded.frame


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run folder written by ``mlchat train`` (in process) on the raw yes/no table."""
    folder = tmp_path_factory.mktemp("raw_rows")
    data = folder / "houses.csv"
    make_raw_table().to_csv(data, index=False)
    status = main(
        [
            "train",
            str(data),
            "--target",
            TARGET,
            "--budget",
            "6",
            "--models",
            "logistic_regression,random_forest",
            "--positive-class",
            "yes",  # "no" is the rarer class, the default
            "--out",
            str(folder / "run"),
        ]
    )
    assert status == 0
    return folder / "run", data


def test_saved_model_on_raw_rows_equals_mlchat_predict(
    trained_run: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _ = trained_run
    new_rows = tmp_path / "new.csv"
    make_raw_table(120, seed=7).drop(columns=[TARGET]).to_csv(new_rows, index=False)
    monkeypatch.setenv("MLCHAT_DATA_DIR", str(tmp_path / "data"))
    assert main(["predict", str(run), str(new_rows), "--out", str(tmp_path / "preds.csv")]) == 0
    written = pd.read_csv(tmp_path / "preds.csv", keep_default_na=False)

    saved = joblib.load(run / "model.joblib")
    raw = pd.read_csv(new_rows)

    assert list(saved.classes_) == ["no", "yes"]
    assert saved.input_columns_ == fitted_model(saved).input_columns_  # read through
    assert saved.predict(raw).tolist() == written["prediction"].tolist()
    assert set(written["prediction"]) == {"no", "yes"}
    np.testing.assert_allclose(saved.predict_proba(raw)[:, 1], written["proba_yes"], rtol=1e-9)
    # the parse step is what makes raw rows work: the bare model reads "yes"/"no" as unknown
    assert raw["garden"].dtype != bool and saved[0].transform(raw)["pool"].dtype == bool


def test_saved_model_loads_in_a_fresh_interpreter(trained_run: tuple[Path, Path]) -> None:
    run, data = trained_run
    code = (
        "import json, sys, joblib, pandas as pd; "
        "model = joblib.load(sys.argv[1]); "
        "print(json.dumps([list(model.classes_), model.predict(pd.read_csv(sys.argv[2])).tolist()]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, str(run / "model.joblib"), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )

    assert completed.returncode == 0, completed.stderr
    classes, predicted = json.loads(completed.stdout)
    assert classes == ["no", "yes"]
    assert predicted == joblib.load(run / "model.joblib").predict(pd.read_csv(data)).tolist()


def test_figures_and_report_speak_the_file_labels(trained_run: tuple[Path, Path]) -> None:
    run, _ = trained_run
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))

    titles = [figure["title"] for figure in report["explanation"]["figures"]]
    text = json.dumps(report["explanation"])
    assert any(title.startswith("ROC curve (positive class “yes”") for title in titles), titles
    assert "True" not in text and "False" not in text


def test_exported_script_parses_the_file_as_the_run_did(raw_csv: Path, tmp_path: Path) -> None:
    loaded = load_table(raw_csv)
    frame = label_target(loaded.frame, TARGET, loaded.parser)
    profile = profile_table(frame, target=TARGET)
    plan = build_plan(profile, models=["logistic_regression"], budget_s=20, seed=3)
    result = train(frame, plan, profile=profile)
    run = tmp_path / "run"
    export_run(result, out_dir=run, frame=frame, data_path=raw_csv, parser=loaded.parser)

    score, metric = run_exported_script(run / "train.py", raw_csv)

    assert "ColumnParse(kind='number', decimal_comma=True)" in (run / "train.py").read_text()
    assert metric == "roc_auc"
    assert score == pytest.approx(result.leaderboard[0].score, abs=1e-6)


def test_whole_floats_become_ints_as_load_table_makes_them() -> None:
    parser = RawTableParser((("n", ColumnParse("number")), ("x", ColumnParse("number"))))
    rows = pd.DataFrame({"n": [2.0, 16.0], "x": [2.0, np.nan]})  # read_csv of "2.0", "16.0"

    parsed = parser.transform(rows)

    assert parsed["n"].dtype == np.int64 and parsed["n"].tolist() == [2, 16]
    assert parsed["x"].dtype == np.float64  # a gap keeps floats, as in load_table


def test_explaining_a_feature_speaks_of_the_share_of_yes(
    trained_run: tuple[Path, Path], tmp_path: Path
) -> None:
    run, data = trained_run
    saved = joblib.load(run / "model.joblib")
    loaded = load_table(data)
    frame = label_target(loaded.frame, TARGET, loaded.parser)

    explanation = explain_feature(
        saved,
        frame[list(saved.input_columns_)],
        frame[TARGET],
        "garage",
        task="binary",
        out_dir=tmp_path,
        words=loaded.parser.words("garage"),
    )

    assert explanation.target_label == "share of “yes”"
    assert {group.label for group in explanation.groups} == {"No", "Yes"}
    assert {label for label, _ in explanation.partial_dependence} == {"No", "Yes"}


def test_a_file_to_predict_on_is_read_with_the_training_decisions(tmp_path: Path) -> None:
    dates = {"when": ["01/31/2024", "02/15/2024", "03/05/2024"], "x": [1, 2, 3]}
    pd.DataFrame(dates).to_csv(tmp_path / "train.csv", index=False)
    # every day is 12 or less: read alone, the file looks day-first
    pd.DataFrame({"when": ["03/05/2024", "04/06/2024"]}).to_csv(tmp_path / "new.csv", index=False)
    decided = load_table(tmp_path / "train.csv").parser

    alone = load_table(tmp_path / "new.csv", min_columns=1).frame["when"]
    as_trained = load_table(tmp_path / "new.csv", min_columns=1, parser=decided).frame["when"]
    from_raw = decided.transform(pd.read_csv(tmp_path / "new.csv"))["when"]

    assert dict(decided.columns)["when"] == ColumnParse("date", date_format="%m/%d/%Y")
    assert as_trained.tolist() == [pd.Timestamp("2024-03-05"), pd.Timestamp("2024-04-06")]
    assert from_raw.tolist() == as_trained.tolist()
    assert alone.tolist() == [pd.Timestamp("2024-05-03"), pd.Timestamp("2024-06-04")]
