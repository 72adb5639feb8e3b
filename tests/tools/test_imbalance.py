"""Imbalanced classes: class weights per family, and the F1 threshold stored and used."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tools.analyze.profile import profile_table
from tools.export.script import train_script
from tools.imbalance import class_weight_params, f1_threshold
from tools.models.estimator import TabularModel
from tools.plan import build_plan
from tools.predict import training_schema
from tools.search.automl import fit_automl
from tools.search.ensemble import EnsembleModel
from tools.search.train import train
from tools.search.tune import tune

COLUMNS = (("x1", "numeric"), ("x2", "numeric"), ("x3", "numeric"))


def _rare(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """About 6 % positives, learnable but overlapping."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=n) for name, _ in COLUMNS})
    logit = -3.6 + 1.5 * frame["x1"] + 1.0 * frame["x2"]
    frame["fraud"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "fraud", "ok")
    return frame


def test_f1_threshold_finds_the_best_cut() -> None:
    truth = np.array([0, 0, 0, 1, 0, 1, 1])
    proba = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45])

    cut, best = f1_threshold(truth, proba)

    # Predicting positive from 0.3 up catches all three positives with one false alarm.
    assert 0.2 < cut < 0.3
    assert best == pytest.approx(2 * 3 / (4 + 3))


def test_the_f1_threshold_is_stored_used_by_predict_and_exported() -> None:
    frame = _rare()
    profile = profile_table(frame, target="fraud")
    plan = build_plan(profile, metric="f1", models=["logistic_regression"], budget_s=20)

    result = train(frame, plan, profile=profile)
    model = pickle.loads(pickle.dumps(result.model))
    proba = model.predict_proba(frame)[:, list(model.classes_).index("fraud")]

    assert list(model.classes_) == ["ok", "fraud"]  # the positive (second) class is the rare one
    assert result.threshold is not None and result.threshold != 0.5
    assert model.threshold_ == result.threshold
    expected = np.where(proba >= result.threshold, "fraud", "ok")
    np.testing.assert_array_equal(model.predict(frame), expected)
    assert (expected != np.where(proba >= 0.5, "fraud", "ok")).any()
    assert any("decision threshold" in note for note in result.notes)
    schema = training_schema(
        frame, input_columns=list(model.input_columns_), target="fraud", task="binary"
    )
    script = train_script(result, schema=schema, data_path=None)
    assert f"THRESHOLD = {result.threshold!r}" in script
    assert "decision threshold (THRESHOLD)" in script


def test_no_threshold_unless_f1_is_the_metric() -> None:
    frame = _rare(600, 1)
    profile = profile_table(frame, target="fraud")
    plan = build_plan(profile, models=["logistic_regression"], budget_s=20)

    result = train(frame, plan, profile=profile)

    assert result.threshold is None
    assert not hasattr(result.model, "threshold_")


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("logistic_regression", {"class_weight": "balanced"}),
        ("lightgbm", {"class_weight": "balanced"}),
        ("catboost", {"auto_class_weights": "Balanced"}),
        ("xgboost", {"scale_pos_weight": 3.0}),
        ("knn", {}),
    ],
)
def test_class_weight_params_per_family(family: str, expected: dict) -> None:
    codes = np.array([0, 0, 0, 1, 0, 0, 0, 1])

    assert class_weight_params(family, "binary", "balanced", codes) == expected
    assert class_weight_params(family, "binary", "none", codes) == {}
    assert class_weight_params(family, "regression", "balanced", codes) == {}


def test_class_weights_are_applied_when_asked() -> None:
    frame = _rare()
    y = frame["fraud"]

    weighted = TabularModel("logistic_regression", "binary", COLUMNS, class_weight="balanced")
    weighted.fit(frame, y)
    via_params = TabularModel(
        "xgboost", "binary", COLUMNS, params={"class_weight": "balanced", "n_estimators": 20}
    ).fit(frame, y)
    plain = TabularModel("logistic_regression", "binary", COLUMNS).fit(frame, y)

    assert weighted.pipeline_.named_steps["model"].class_weight == "balanced"
    share = float((y == "fraud").mean())  # "fraud" sorts first: class 0; "ok" is class 1
    booster = via_params.pipeline_.named_steps["model"]
    assert booster.get_params()["scale_pos_weight"] == pytest.approx(share / (1 - share))
    # Weighted, the rare class gets about half the probability mass; unweighted, its share.
    fraud = list(weighted.classes_).index("fraud")
    assert weighted.predict_proba(frame)[:, fraud].mean() > 0.3
    assert plain.predict_proba(frame)[:, fraud].mean() < 0.1


def test_the_plan_can_ask_for_class_weights_and_auto_uses_them_for_balanced_accuracy() -> None:
    frame = _rare(800, 2)
    profile = profile_table(frame, target="fraud")
    asked = build_plan(profile, models=["logistic_regression"], budget_s=20)
    asked = asked.model_copy(update={"class_weight": "balanced"})
    auto = build_plan(profile, metric="balanced_accuracy", models=["lightgbm"], budget_s=20)

    asked_result = train(frame, asked, profile=profile)
    auto_result = train(frame, auto, profile=profile)
    default_result = train(frame, build_plan(profile, models=["lightgbm"], budget_s=20))

    assert asked_result.class_weight == "balanced"
    assert asked_result.model.pipeline_.named_steps["model"].class_weight == "balanced"
    assert auto_result.class_weight == "balanced"
    assert auto_result.model.pipeline_.named_steps["model"].class_weight == "balanced"
    assert default_result.class_weight == "none"
    assert default_result.model.pipeline_.named_steps["model"].class_weight is None


def test_tuning_searches_class_weights_on_imbalanced_classes(tmp_path: Path) -> None:
    frame = _rare(600, 4)
    profile = profile_table(frame, target="fraud")
    plan = build_plan(profile, models=["logistic_regression"], budget_s=30)
    reports: list = []

    result = tune(
        frame,
        plan,
        storage=tmp_path / "s.journal",
        study_key="k",
        n_trials=4,
        profile=profile,
        on_trial=reports.append,
    )

    assert {r.params.get("class_weight") for r in reports} <= {"none", "balanced"}
    assert all("class_weight" in r.params for r in reports)
    assert result.model is not None
    expected = result.best_trial_params["class_weight"]
    assert result.best_params["class_weight"] == expected


def test_automl_gives_its_final_model_the_f1_threshold(tmp_path: Path) -> None:
    frame = _rare(800, 5)
    profile = profile_table(frame, target="fraud")
    plan = build_plan(
        profile, metric="f1", models=["logistic_regression", "naive_bayes"], budget_s=6
    )

    result = fit_automl(frame, plan, profile=profile, storage=tmp_path / "s.journal")
    proba = result.model.predict_proba(frame)[:, 1]

    assert result.threshold is not None and result.model.threshold_ == result.threshold
    assert list(result.model.classes_) == ["ok", "fraud"]
    expected = np.where(proba >= result.threshold, "fraud", "ok")
    np.testing.assert_array_equal(result.model.predict(frame), expected)


def test_an_ensemble_uses_its_threshold() -> None:
    frame = _rare(400, 6)
    members = [
        TabularModel(family, "binary", COLUMNS).fit(frame, frame["fraud"])
        for family in ("logistic_regression", "naive_bayes")
    ]
    ensemble = EnsembleModel.from_fitted(members, [0.5, 0.5])
    proba = ensemble.predict_proba(frame)[:, 1]

    ensemble.threshold_ = 0.97

    np.testing.assert_array_equal(ensemble.predict(frame), np.where(proba >= 0.97, "ok", "fraud"))
    assert (ensemble.predict(frame) == "fraud").sum() > (proba < 0.5).sum()
