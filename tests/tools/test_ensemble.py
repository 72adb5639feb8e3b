"""Greedy ensemble selection and the ensemble estimator."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tools.analyze.profile import profile_table
from tools.errors import DataError
from tools.metrics import resolve_metric
from tools.models.estimator import TabularModel
from tools.plan import build_plan
from tools.search.ensemble import EnsembleModel, blend, fit_ensemble, select_ensemble
from tools.search.train import train
from tools.search.tune import tune


def test_averaging_independent_errors_beats_each_member() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, 2000)
    oofs = {
        "a": y + rng.normal(0, 0.5, 2000),
        "b": y + rng.normal(0, 0.5, 2000),
        "bad": y + rng.normal(0, 3.0, 2000),
    }
    spec = resolve_metric("rmse", "regression")

    selection = select_ensemble(oofs, y, spec=spec, classes=None)

    assert selection.beats_best
    assert set(selection.weights) == {"a", "b"}
    assert selection.weights["a"] == pytest.approx(0.5, abs=0.15)
    assert selection.score < selection.best_single_score
    # Two independent errors of equal size: averaging divides the RMSE by about sqrt(2).
    assert selection.score == pytest.approx(selection.best_single_score / np.sqrt(2), rel=0.1)
    assert selection.score == pytest.approx(
        spec.compute(y, blend(oofs, selection.weights)), rel=1e-9
    )


def test_one_dominant_candidate_is_kept_alone() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, 500)
    oofs = {"exact": y.copy(), "noisy": y + rng.normal(0, 1, 500)}
    selection = select_ensemble(oofs, y, spec=resolve_metric("rmse", "regression"), classes=None)
    assert selection.weights == {"exact": 1.0}
    assert not selection.beats_best
    assert selection.best_single == "exact"


def test_ensemble_of_trained_candidates_is_at_least_the_best_member(
    churn_frame: pd.DataFrame,
) -> None:
    frame = churn_frame.drop(columns="refund_amount")  # without the leak, models disagree
    profile = profile_table(frame, target="churn")
    plan = build_plan(
        profile,
        target="churn",
        models=["logistic_regression", "naive_bayes", "knn", "lda"],
        budget_s=60,
    )
    result = train(frame, plan, profile=profile)
    spec = resolve_metric(plan.metric, plan.task)

    selection = select_ensemble(result.oof, result.oof_y, spec=spec, classes=result.classes)

    assert set(result.oof) == {"logistic_regression", "naive_bayes", "knn", "lda"}
    assert selection.score >= selection.best_single_score
    singles = {
        name: spec.compute(result.oof_y, None, oof, classes=result.classes)
        for name, oof in result.oof.items()
    }
    assert selection.best_single_score == pytest.approx(max(singles.values()))
    assert sum(selection.weights.values()) == pytest.approx(1.0)

    features = result.features
    members = {
        name: TabularModel.for_profile(name, profile, features) for name in selection.weights
    }
    ensemble = fit_ensemble(selection, members, frame[features], frame["churn"], target="churn")
    assert ensemble.weights_ == pytest.approx(list(selection.weights.values()))
    assert [m.family_ for m in ensemble.members_] == list(selection.weights)
    assert set(ensemble.predict(frame)) <= {"yes", "no"}
    with pytest.raises(DataError, match="No model was given"):
        fit_ensemble(selection, {}, frame[features], frame["churn"])


def test_tuned_trials_line_up_with_training_candidates(
    churn_frame: pd.DataFrame, tmp_path: Path
) -> None:
    frame = churn_frame.drop(columns="refund_amount")
    profile = profile_table(frame, target="churn")
    plan = build_plan(profile, target="churn", models=["knn", "naive_bayes"], budget_s=60)
    trained = train(frame, plan, profile=profile)
    # knn's defaults are a point of its search space: tuning that point must reproduce
    # training's out-of-fold predictions exactly (same rows, same folds, same model).
    tuned = tune(
        frame,
        plan,
        profile=profile,
        storage=tmp_path / "s.log",
        study_key="align",
        families=["knn"],
        warm_start={"knn": [{"n_neighbors": 15, "weights": "distance"}]},
        n_trials=2,
        rows=trained.oof_rows,
        refit=False,
    )
    first = next(c for c in tuned.candidates if c.number == 0)
    np.testing.assert_array_equal(tuned.oof_rows, trained.oof_rows)
    np.testing.assert_allclose(first.oof, trained.oof["knn"])
    pool = {**trained.oof, **{c.key: c.oof for c in tuned.candidates}}
    spec = resolve_metric(plan.metric, plan.task)
    selection = select_ensemble(pool, trained.oof_y, spec=spec, classes=trained.classes)
    assert set(pool) == {"knn", "naive_bayes", "knn#0", "knn#1"}
    assert selection.score >= selection.best_single_score


def _fitted(iris_frame: pd.DataFrame, family: str, params: dict | None = None) -> TabularModel:
    features = [c for c in iris_frame.columns if c != "species"]
    columns = tuple((name, "numeric") for name in features)
    model = TabularModel(family, "multiclass", columns, params=params)
    return model.fit(iris_frame[features], iris_frame["species"])


def test_ensemble_model_averages_members_and_survives_pickling(iris_frame: pd.DataFrame) -> None:
    knn = _fitted(iris_frame, "knn", {"n_neighbors": 25})
    logistic = _fitted(iris_frame, "logistic_regression", {"C": 0.05})
    ensemble = EnsembleModel.from_fitted([knn, logistic], [3, 1], target="species")
    X = iris_frame.drop(columns="species")

    expected = 0.75 * knn.predict_proba(X) + 0.25 * logistic.predict_proba(X)
    np.testing.assert_allclose(ensemble.predict_proba(X), expected)
    assert list(ensemble.classes_) == ["setosa", "versicolor", "virginica"]
    assert list(ensemble.predict(X)) == list(ensemble.classes_[np.argmax(expected, axis=1)])
    assert ensemble.input_columns_ == knn.input_columns_
    assert (ensemble.task_, ensemble.family_, ensemble.target_) == (
        "multiclass",
        "ensemble",
        "species",
    )
    restored = pickle.loads(pickle.dumps(ensemble))
    np.testing.assert_allclose(restored.predict_proba(X), expected)


def test_ensemble_model_fit_refits_clones(iris_frame: pd.DataFrame) -> None:
    X, y = iris_frame.drop(columns="species"), iris_frame["species"]
    unfitted = TabularModel("knn", "multiclass", tuple((c, "numeric") for c in X.columns))
    ensemble = EnsembleModel(members=(unfitted,), weights=(1.0,)).fit(X, y)
    assert not hasattr(unfitted, "pipeline_")  # the given member is left alone
    assert (ensemble.predict(X) == y.to_numpy()).mean() > 0.9


def test_regression_ensemble_predicts_the_weighted_mean(diabetes_frame: pd.DataFrame) -> None:
    profile = profile_table(diabetes_frame, target="progression")
    features = [c for c in diabetes_frame.columns if c != "progression"]
    X, y = diabetes_frame[features], diabetes_frame["progression"]
    ridge = TabularModel.for_profile("ridge", profile, features).fit(X, y)
    knn = TabularModel.for_profile("knn", profile, features).fit(X, y)
    ensemble = EnsembleModel.from_fitted([ridge, knn], [1.0, 1.0])
    np.testing.assert_allclose(ensemble.predict(X), (ridge.predict(X) + knn.predict(X)) / 2)
    with pytest.raises(DataError, match="only for classification"):
        ensemble.predict_proba(X)


def test_members_must_agree(iris_frame: pd.DataFrame) -> None:
    knn = _fitted(iris_frame, "knn")
    two_classes = iris_frame[iris_frame["species"] != "setosa"]
    other = _fitted(two_classes, "knn")
    with pytest.raises(DataError, match="different classes"):
        EnsembleModel.from_fitted([knn, other], [1, 1])
    with pytest.raises(DataError, match="2 members but 1 weights"):
        EnsembleModel.from_fitted([knn, knn], [1])
    with pytest.raises(DataError, match="not been trained"):
        EnsembleModel(members=(knn,), weights=(1,)).predict(iris_frame)
