"""Target transforms: applied in fit, reverted in predict, kept only when CV says so."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.model_selection import KFold

from tools.analyze.profile import profile_table
from tools.errors import PlanError
from tools.metrics import resolve_metric
from tools.models.estimator import TabularModel
from tools.models.target import SignedLog1p
from tools.plan import build_plan, update_plan
from tools.search.automl import fit_automl
from tools.search.target_transform import compare_target_transforms
from tools.search.train import train
from tools.search.tune import tune

COLUMNS = (("x1", "numeric"), ("x2", "numeric"), ("shop", "categorical"))
RMSE = resolve_metric("rmse", "regression")


def _features(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "shop": rng.choice(["a", "b", "c"], n),
        }
    )


def _log_normal(frame: pd.DataFrame, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed + 1)
    log_y = 3.0 + 1.0 * frame["x1"] - 0.7 * frame["x2"] + 0.4 * (frame["shop"] == "a")
    return pd.Series(np.exp(log_y + rng.normal(0, 0.2, len(frame))), name="price")


def _symmetric(frame: pd.DataFrame, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed + 1)
    y = 1.0 * frame["x1"] - 0.7 * frame["x2"] + 0.4 * (frame["shop"] == "a")
    return pd.Series(y + rng.normal(0, 0.3, len(frame)), name="price")


def test_log_transform_is_reverted_in_predictions() -> None:
    train_x, test_x = _features(600, 0), _features(300, 1)
    train_y, test_y = _log_normal(train_x, 0), _log_normal(test_x, 1)

    logged = TabularModel("ridge", "regression", COLUMNS, target_transform="log")
    logged.fit(train_x, train_y)
    plain = TabularModel("ridge", "regression", COLUMNS).fit(train_x, train_y)
    predicted = logged.predict(test_x)

    assert isinstance(logged.pipeline_, TransformedTargetRegressor)
    assert logged.target_transform_ == "log"
    # On the original scale (the log of the target is about 3, the target about 20) and
    # close to the truth: the log-linear truth is exactly what ridge fits on log(y).
    assert 10 < np.median(predicted) < 40
    relative_error = np.median(np.abs(predicted - test_y) / test_y)
    assert relative_error < 0.2, relative_error
    plain_error = np.median(np.abs(plain.predict(test_x) - test_y) / test_y)
    assert relative_error < 0.5 * plain_error
    restored = pickle.loads(pickle.dumps(logged))
    np.testing.assert_allclose(restored.predict(test_x), predicted)


def test_quantile_transform_predicts_within_the_training_range() -> None:
    frame = _features(400, 2)
    y = _log_normal(frame, 2)

    model = TabularModel("lightgbm", "regression", COLUMNS, target_transform="quantile")
    predicted = model.fit(frame, y).predict(_features(200, 3))

    assert predicted.min() >= y.min() - 1e-6 and predicted.max() <= y.max() + 1e-6
    assert 0.5 < np.median(predicted) / np.median(y) < 2.0


def test_signed_log_round_trips_negative_and_huge_values() -> None:
    values = np.array([[-1e6], [-3.5], [0.0], [0.25], [7.0], [1e300]])
    transformer = SignedLog1p().fit(values)

    logged = transformer.transform(values)

    assert logged[0, 0] == pytest.approx(-np.log1p(1e6))
    np.testing.assert_allclose(transformer.inverse_transform(logged), values, rtol=1e-9)
    assert np.isfinite(transformer.inverse_transform(np.array([[5000.0]]))).all()


def test_comparison_keeps_the_transform_only_when_cv_says_so() -> None:
    frame = _features(500, 4)
    splits = list(KFold(5, shuffle=True, random_state=0).split(frame))

    skewed = compare_target_transforms(
        frame, _log_normal(frame, 4), splits, columns=COLUMNS, spec=RMSE, family="ridge"
    )
    symmetric = compare_target_transforms(
        frame, _symmetric(frame, 4), splits, columns=COLUMNS, spec=RMSE, family="ridge"
    )

    assert skewed.chosen in {"log", "quantile"}
    assert skewed.scores[skewed.chosen] < 0.9 * skewed.scores["none"]
    assert "transformed" in skewed.note
    assert symmetric.chosen == "none"
    assert set(symmetric.scores) == {"none", "log", "quantile"}
    assert symmetric.scores["log"] > symmetric.scores["none"]


def test_train_transforms_a_skewed_target_and_says_so() -> None:
    frame = _features(800, 5)
    frame["price"] = _log_normal(frame, 5)
    profile = profile_table(frame, target="price")
    plan = build_plan(profile, models=["ridge", "lightgbm"], budget_s=30)

    result = train(frame, plan, profile=profile)

    assert result.target_transforms["ridge"] in {"log", "quantile"}
    assert result.model.target_transform_ == result.target_transform
    assert result.target_transform == result.target_transforms[result.best_family]
    assert set(result.target_transform_scores) == {"scaled", "tree"}
    assert any("transformed for the scaled-based models" in note for note in result.notes)
    predicted = result.model.predict(frame.head(200))
    relative_error = np.median(
        np.abs(predicted - frame["price"].head(200)) / frame["price"].head(200)
    )
    assert relative_error < 0.3, relative_error


def test_train_leaves_a_symmetric_target_alone_and_honours_an_explicit_choice() -> None:
    frame = _features(400, 6)
    frame["price"] = _symmetric(frame, 6)
    profile = profile_table(frame, target="price")
    plan = build_plan(profile, models=["ridge"], budget_s=20)

    automatic = train(frame, plan, profile=profile)
    forced = train(frame, plan.model_copy(update={"target_transform": "quantile"}), profile=profile)

    assert automatic.target_transform == "none"
    assert automatic.target_transform_scores == {}
    assert not any("transform" in note for note in automatic.notes)
    assert forced.target_transform == "quantile"
    assert forced.model.target_transform_ == "quantile"


def test_a_classification_plan_refuses_a_target_transform() -> None:
    frame = _features(60, 7)
    frame["label"] = np.where(frame["x1"] > 0, "yes", "no")
    profile = profile_table(frame, target="label")

    with pytest.raises(PlanError, match="only to a regression"):
        update_plan(build_plan(profile), profile, target_transform="log")


def test_tuning_builds_its_models_with_the_given_transform(tmp_path: Path) -> None:
    frame = _features(300, 8)
    frame["price"] = _log_normal(frame, 8)
    profile = profile_table(frame, target="price")
    plan = build_plan(profile, models=["ridge"], budget_s=20)

    given = tune(
        frame,
        plan,
        storage=tmp_path / "s.journal",
        study_key="a",
        n_trials=2,
        profile=profile,
        target_transforms={"ridge": "log"},
    )
    chosen = tune(
        frame, plan, storage=tmp_path / "s.journal", study_key="b", n_trials=2, profile=profile
    )

    assert given.model is not None and given.model.target_transform_ == "log"
    assert chosen.model is not None and chosen.model.target_transform_ in {"log", "quantile"}
    assert any("transformed" in note for note in chosen.notes)


def test_automl_tunes_with_the_transform_training_chose(tmp_path: Path) -> None:
    frame = _features(500, 9)
    frame["price"] = _log_normal(frame, 9)
    profile = profile_table(frame, target="price")
    plan = build_plan(profile, models=["ridge", "lightgbm"], budget_s=8)

    result = fit_automl(frame, plan, profile=profile, storage=tmp_path / "s.journal")

    tuned = {key: model for key, model in result.templates.items() if key.endswith(":tuned")}
    assert tuned, result.notes
    assert result.target_transforms["ridge"] in {"log", "quantile"}
    for key, model in tuned.items():
        assert model.target_transform == result.target_transforms[key.split(":")[0]]
    predicted = result.model.predict(frame.head(100))
    assert 0.7 < np.median(predicted) / frame["price"].head(100).median() < 1.4


def test_an_explicit_choice_shows_in_the_plan_description() -> None:
    frame = _features(60, 10)
    frame["price"] = _log_normal(frame, 10)
    profile = profile_table(frame, target="price")
    plan = build_plan(profile)

    forced = update_plan(plan, profile, target_transform="log")

    assert "Target transform" not in plan.describe()
    assert forced.describe().splitlines()[-1] == "Target transform: log (not chosen by CV)."
