"""Predicting on new files with a saved model: column checks and the CSV written."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tools.analyze.profile import profile_table
from tools.errors import DataError
from tools.models.estimator import TabularModel
from tools.models.preprocessing import column_kinds
from tools.predict import predict_file, training_schema

FEATURES = ["tenure_months", "monthly_charges", "contract", "support_calls"]


def _save_run(frame: pd.DataFrame, run: Path, *, target: str, family: str) -> TabularModel:
    profile = profile_table(frame, target=target)
    model = TabularModel(family, profile.task, column_kinds(profile, FEATURES), seed=0)
    model.fit(frame[FEATURES], frame[target])
    schema = training_schema(
        frame,
        input_columns=model.input_columns_,
        target=target,
        task=profile.task,
        id_columns=["customer_id"],
    )
    run.mkdir()
    joblib.dump(model, run / "model.joblib")
    (run / "schema.json").write_text(json.dumps(schema.to_dict()), encoding="utf-8")
    return model


def test_predict_file_writes_ids_predictions_and_probabilities(
    churn_frame: pd.DataFrame, tmp_path: Path
) -> None:
    model = _save_run(churn_frame, tmp_path / "run", target="churn", family="logistic_regression")
    new = churn_frame.head(30).drop(columns=["churn"]).copy()
    new["contract"] = new["contract"].astype(object)
    new.loc[new.index[:3], "contract"] = "three-year"
    new["notes"] = "call back"
    new.to_csv(tmp_path / "new.csv", index=False)

    result = predict_file(tmp_path / "run", tmp_path / "new.csv", out=tmp_path / "preds.csv")

    written = pd.read_csv(tmp_path / "preds.csv")
    assert result.n_rows == 30 and len(written) == 30
    assert list(written.columns) == ["customer_id", "prediction", "proba_no", "proba_yes"]
    assert written["customer_id"].tolist() == new["customer_id"].tolist()
    np.testing.assert_allclose(written[["proba_no", "proba_yes"]].sum(axis=1), 1.0)
    expected = model.predict(new[FEATURES].astype({"contract": "string"}))
    assert written["prediction"].tolist() == list(expected)
    assert result.unseen_categories == {"contract": 3}
    assert set(result.extra_columns) == {
        "has_partner",
        "signup_date",
        "country",
        "refund_amount",
        "notes",
    }
    assert result.preview[0]["customer_id"] == "C00000"
    assert "contract (3 rows)" in result.summary()


def test_missing_columns_are_named_with_close_matches(
    churn_frame: pd.DataFrame, tmp_path: Path
) -> None:
    _save_run(churn_frame, tmp_path / "run", target="churn", family="logistic_regression")
    renamed = churn_frame.rename(columns={"tenure_months": "tenure_month"}).drop(
        columns=["support_calls"]
    )
    renamed.to_csv(tmp_path / "new.csv", index=False)

    with pytest.raises(DataError) as caught:
        predict_file(tmp_path / "run", tmp_path / "new.csv", out=tmp_path / "preds.csv")

    assert str(caught.value).startswith(
        "The file lacks 2 columns the model needs: “tenure_months”, “support_calls”."
    )
    assert "“tenure_months” (the file has “tenure_month”)" in str(caught.value)
    assert not (tmp_path / "preds.csv").exists()


def test_regression_model_object_keeps_an_id_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(100, 160),
            "tenure_months": rng.integers(1, 50, 60),
            "monthly_charges": rng.uniform(10, 90, 60),
            "contract": rng.choice(["a", "b"], 60),
            "support_calls": rng.integers(0, 5, 60),
        }
    )
    frame["spend"] = frame["monthly_charges"] * 2 + rng.normal(size=60)
    profile = profile_table(frame, target="spend")
    model = TabularModel("ridge", "regression", column_kinds(profile, FEATURES)).fit(
        frame[FEATURES], frame["spend"]
    )
    frame.drop(columns=["spend"]).to_csv(tmp_path / "new.csv", index=False)

    result = predict_file(model, tmp_path / "new.csv", out=tmp_path / "out" / "preds.csv")

    written = pd.read_csv(tmp_path / "out" / "preds.csv")
    assert list(written.columns) == ["order_id", "prediction"]
    np.testing.assert_allclose(written["prediction"], model.predict(frame[FEATURES]), rtol=1e-9)
    assert result.classes == () and result.unseen_categories == {}


def test_a_folder_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "new.csv").write_text("a,b\n1,2\n", encoding="utf-8")

    with pytest.raises(
        DataError, match=r"No saved model in “empty”: expected a file named model\.joblib"
    ):
        predict_file(tmp_path / "empty", tmp_path / "new.csv", out=tmp_path / "p.csv")


def test_predictions_use_the_training_files_yes_no_words(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    from tools.analyze.profile import profile_table
    from tools.export.folder import export_run
    from tools.io.load import load_table
    from tools.plan import build_plan
    from tools.predict import predict_file
    from tools.search.train import train

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"tenure": rng.integers(1, 72, 120), "plan": rng.choice(["a", "b"], 120)})
    frame["churn"] = np.where(frame["tenure"] < 30, "yes", "no")
    frame.to_csv(tmp_path / "train.csv", index=False)
    loaded = load_table(tmp_path / "train.csv")
    profile = profile_table(loaded.frame, target="churn")
    plan = build_plan(profile, models=["logistic_regression"], budget_s=5)
    result = train(loaded.frame, plan, profile=profile)
    export_run(
        result,
        out_dir=tmp_path / "run",
        frame=loaded.frame,
        target_words=loaded.boolean_words.get("churn"),
    )
    frame.drop(columns="churn").head(8).to_csv(tmp_path / "new.csv", index=False)
    predict_file(tmp_path / "run", tmp_path / "new.csv", out=tmp_path / "out.csv")
    written = pd.read_csv(tmp_path / "out.csv")
    assert set(written["prediction"]) <= {"yes", "no"}
    assert {"proba_no", "proba_yes"} <= set(written.columns)
