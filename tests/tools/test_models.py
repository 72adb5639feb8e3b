"""The model zoo: every family fits on tiny mixed data, and the saved model keeps its contract."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tools.analyze.profile import profile_table
from tools.errors import DataError, PlanError
from tools.models.estimator import TabularModel
from tools.models.families import GROUPS, MODEL_FAMILIES, families_for, get_family
from tools.models.preprocessing import CategoryEncoder, DatetimeExpander, build_pipeline

COLUMNS = (
    ("x1", "numeric"),
    ("x2", "numeric"),
    ("colour", "categorical"),
    ("flag", "boolean"),
    ("when", "datetime"),
    ("note", "text"),
    ("row_id", "id"),
)


def _table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "flag": rng.choice([True, False], n),
            "when": pd.date_range("2021-01-01", periods=n, freq="D"),
            "note": rng.choice(["short", "a much longer note here", None], n),
            "row_id": np.arange(n),
        }
    )
    frame.loc[::9, "x1"] = np.nan
    frame.loc[::11, "colour"] = None
    return frame


def _targets(frame: pd.DataFrame) -> dict[str, pd.Series]:
    signal = frame["x2"] + 1.5 * (frame["colour"] == "red")
    return {
        "binary": pd.Series(np.where(signal > 0.4, "yes", "no")),
        "multiclass": pd.Series(
            pd.cut(signal, [-np.inf, -0.3, 0.7, np.inf], labels=["low", "mid", "high"]).astype(str)
        ),
        "regression": 3.0 * signal + 0.1,
    }


CASES = [
    (name, task) for task in ("binary", "multiclass", "regression") for name in families_for(task)
]


@pytest.mark.parametrize(("family", "task"), CASES, ids=[f"{t}-{f}" for f, t in CASES])
def test_every_family_fits_tiny_mixed_data_and_predicts_original_labels(
    family: str, task: str
) -> None:
    frame = _table()
    y = _targets(frame)[task]
    model = TabularModel(family, task, COLUMNS, seed=0).fit(frame, y)  # type: ignore[arg-type]

    new = frame.head(20).copy()
    new.loc[0, "colour"] = "purple"  # a category never seen in training
    new["unrelated"] = 1.0  # extra columns are ignored
    predictions = model.predict(new)

    assert model.input_columns_ == ["x1", "x2", "colour", "flag", "when", "note"]
    assert model.family_ == family and model.task_ == task
    if task == "regression":
        assert predictions.dtype == np.float64 and np.isfinite(predictions).all()
        fitted = model.predict(frame)
        r2 = 1 - np.mean((fitted - y) ** 2) / np.var(y)
        assert r2 > 0.5, r2
    else:
        assert list(model.classes_) == sorted(set(y))
        assert set(predictions) <= set(y)
        proba = model.predict_proba(new)
        assert proba.shape == (20, len(model.classes_))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
        accuracy = float(np.mean(model.predict(frame) == y))
        assert accuracy > 0.6, accuracy


def test_issue_families_are_all_in_the_zoo() -> None:
    assert set(families_for("binary")) == {
        "logistic_regression", "random_forest", "extra_trees", "xgboost", "lightgbm",
        "catboost", "knn", "mlp", "svm", "naive_bayes", "lda",
    }  # fmt: skip
    assert set(families_for("regression")) == {
        "linear", "ridge", "lasso", "random_forest", "extra_trees", "xgboost",
        "lightgbm", "catboost", "knn", "mlp",
    }  # fmt: skip
    ranks = [MODEL_FAMILIES[name].cost_rank for name in families_for("binary")]
    assert ranks == sorted(ranks)


def test_groups_name_the_families_a_user_means() -> None:
    assert GROUPS["boosting"] == ("lightgbm", "xgboost", "catboost")
    assert set(GROUPS["tree"]) == {
        "lightgbm",
        "xgboost",
        "catboost",
        "random_forest",
        "extra_trees",
    }
    assert set(GROUPS["linear"]) == {"linear", "ridge", "lasso", "lda", "logistic_regression"}


def test_every_search_space_yields_parameters_its_family_accepts() -> None:
    optuna = pytest.importorskip("optuna")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    frame = _table(60)
    y = _targets(frame)["regression"]
    tunable = [name for name, family in MODEL_FAMILIES.items() if family.search_space]
    assert set(tunable) >= {
        "lightgbm",
        "xgboost",
        "catboost",
        "random_forest",
        "logistic_regression",
    }
    for name in tunable:
        family = MODEL_FAMILIES[name]
        params = family.search_space(study.ask())  # type: ignore[misc]
        task = "regression" if family.supports("regression") else "binary"
        target = y if task == "regression" else (y > y.median())
        model = TabularModel(name, task, COLUMNS, params=params).fit(frame, target)  # type: ignore[arg-type]
        assert model.predict(frame).shape == (60,), name


def test_probability_columns_follow_classes_order() -> None:
    frame = _table()
    y = pd.Series(np.where(frame["x2"] > 0, "zebra", "aardvark"))
    model = TabularModel("logistic_regression", "binary", COLUMNS).fit(frame, y)
    proba = model.predict_proba(frame)
    assert list(model.classes_) == ["aardvark", "zebra"]
    chosen = model.classes_[np.argmax(proba, axis=1)]
    np.testing.assert_array_equal(chosen, model.predict(frame))
    # The "zebra" column rises with x2, the feature that defines it.
    assert np.corrcoef(frame["x2"], proba[:, 1])[0, 1] > 0.8


def test_missing_columns_at_predict_time_are_named() -> None:
    frame = _table()
    model = TabularModel("ridge", "regression", COLUMNS).fit(frame, frame["x2"] * 2)
    with pytest.raises(
        DataError, match=r"missing columns the model was trained on: “colour”, “when”"
    ):
        model.predict(frame.drop(columns=["colour", "when"]))


def test_model_survives_pickling() -> None:
    frame = _table()
    y = _targets(frame)["binary"]
    model = TabularModel("lightgbm", "binary", COLUMNS, seed=3).fit(frame, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict_proba(frame), model.predict_proba(frame))
    assert list(restored.classes_) == ["no", "yes"]


def test_text_typed_numbers_and_dates_at_predict_time_are_coerced() -> None:
    frame = _table()
    y = frame["x2"] * 2
    model = TabularModel("ridge", "regression", COLUMNS).fit(frame, y)
    as_text = frame.astype({"x1": "string", "x2": "string", "when": "string"})
    np.testing.assert_allclose(model.predict(as_text), model.predict(frame), rtol=1e-9)


def test_catboost_writes_nothing_into_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    frame = _table()
    TabularModel("catboost", "regression", COLUMNS, params={"iterations": 20}).fit(
        frame, frame["x2"]
    )
    assert list(tmp_path.iterdir()) == []


def test_build_pipeline_puts_family_specific_preprocessing_in_the_pipeline() -> None:
    frame = _table()
    frame["target"] = _targets(frame)["binary"]
    profile = profile_table(frame, target="target")
    features = profile.feature_columns()
    assert "row_id" not in features
    y = (frame["target"] == "yes").astype(int)

    linear = build_pipeline("logistic_regression", "binary", profile, features).fit(frame, y)
    names = list(linear.named_steps["prep"].get_feature_names_out())
    assert [n for n in names if n.startswith("categorical__colour")] == [
        "categorical__colour___missing__",
        "categorical__colour_blue",
        "categorical__colour_green",
        "categorical__colour_red",
    ]
    assert "numeric__missingindicator_x1" in names  # imputed, with an indicator

    trees = build_pipeline("random_forest", "binary", profile, features).fit(frame, y)
    tree_names = list(trees.named_steps["prep"].get_feature_names_out())
    assert "categorical__colour" in tree_names  # one ordinal column, not one-hot
    assert "datetime__when__dayofweek" in tree_names


def test_datetime_parts_are_correct() -> None:
    expander = DatetimeExpander().fit(
        pd.DataFrame({"d": pd.to_datetime(["2024-03-15 13:00", None])})
    )
    parts = expander.transform(pd.DataFrame({"d": pd.to_datetime(["2024-03-15 13:00", None])}))
    assert list(expander.get_feature_names_out()) == [
        "d__year", "d__month", "d__day", "d__dayofweek", "d__hour", "d__days",
    ]  # fmt: skip
    np.testing.assert_allclose(parts[0], [2024, 3, 15, 4, 13, 19797.541666], rtol=1e-6)
    assert np.isnan(parts[1]).all()


def test_unknown_family_and_wrong_task_are_plan_errors() -> None:
    with pytest.raises(PlanError, match=r"no model called “gpt”\. Known models: catboost"):
        get_family("gpt")
    with pytest.raises(PlanError, match="Support vector machine cannot be used for regression"):
        TabularModel("svm", "regression", COLUMNS).fit(_table(), _table()["x2"])


def test_category_encoder_keeps_frequent_levels_and_pools_the_rest() -> None:
    train_frame = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d", None]})
    one_hot = CategoryEncoder(max_levels=3).fit(train_frame)
    assert list(one_hot.get_feature_names_out()) == ["c_a", "c_b", "c_c", "c_other"]
    encoded = one_hot.transform(pd.DataFrame({"c": ["b", "d", "never seen", None]}))
    np.testing.assert_array_equal(encoded, [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]])

    ordinal = CategoryEncoder(max_levels=3, one_hot=False).fit(train_frame)
    codes = ordinal.transform(pd.DataFrame({"c": ["a", "c", "zzz"]}))
    np.testing.assert_array_equal(codes[:, 0], [0, 2, 3])

    with_missing = CategoryEncoder(max_levels=10).fit(train_frame)
    assert "c___missing__" in list(with_missing.get_feature_names_out())
    assert "c_other" not in list(with_missing.get_feature_names_out())


def test_infinities_are_treated_as_missing() -> None:
    frame = _table()
    frame["x1"] = frame["x1"].astype(float)
    frame.loc[3, "x1"] = np.inf
    model = TabularModel("logistic_regression", "binary", COLUMNS).fit(
        frame, _targets(frame)["binary"]
    )
    assert np.isfinite(model.predict_proba(frame)).all()
