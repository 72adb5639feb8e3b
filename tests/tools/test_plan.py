"""The plan: defaults from a profile, user changes, and plain-words rejection of invalid plans."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris

from tools.analyze.profile import Profile, profile_table
from tools.errors import PlanError
from tools.models.families import families_for
from tools.plan import Plan, build_plan, parse_budget_s, update_plan


@pytest.fixture(scope="module")
def iris_profile() -> Profile:
    frame = load_iris(as_frame=True).frame
    frame["species"] = frame.pop("target").map({0: "setosa", 1: "versicolor", 2: "virginica"})
    return profile_table(frame, target="species")


@pytest.fixture(scope="module")
def churn_profile() -> Profile:
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, n),
            "plan_type": rng.choice(["basic", "plus"], n),
            "signup": pd.date_range("2020-01-01", periods=n, freq="D"),
            "churn": rng.choice(["yes", "no"], n),
        }
    )
    return profile_table(frame, target="churn")


@pytest.fixture(scope="module")
def diabetes_profile() -> Profile:
    return profile_table(load_diabetes(as_frame=True).frame, target="target")


def test_default_plan_for_multiclass(iris_profile: Profile) -> None:
    plan = build_plan(iris_profile)
    assert (plan.task, plan.target, plan.metric) == ("multiclass", "species", "log_loss")
    assert plan.validation == "stratified_kfold" and plan.folds == 5
    assert plan.models == families_for("multiclass")
    assert plan.budget_s == 60 and plan.seed == 0


def test_default_plan_for_regression_uses_kfold_and_rmse(diabetes_profile: Profile) -> None:
    plan = build_plan(diabetes_profile, budget_s=30)
    assert (plan.task, plan.metric, plan.validation) == (
        "regression",
        "root_mean_squared_error",
        "kfold",
    )
    assert "svm" not in plan.models and "linear" in plan.models


def test_large_tables_get_a_holdout_and_skip_slow_models(diabetes_profile: Profile) -> None:
    large = dataclasses.replace(diabetes_profile, n_rows=500_000)
    plan = build_plan(large)
    assert plan.validation == "holdout" and plan.holdout_fraction == 0.2
    assert "knn" not in plan.models  # too slow above its row limit


def test_overrides_are_canonicalised(churn_profile: Profile) -> None:
    plan = build_plan(
        churn_profile, metric="neg_log_loss", models=["xgb", "rf", "xgboost"], budget_s="2 minutes"
    )  # type: ignore[arg-type]
    assert plan.metric == "log_loss"
    assert plan.models == ["xgboost", "random_forest"]
    assert plan.budget_s == 120.0


def test_user_requests_change_the_plan(churn_profile: Profile) -> None:
    plan = build_plan(churn_profile)
    f1 = update_plan(plan, churn_profile, metric="F1")
    assert f1.metric == "f1" and plan.metric == "roc_auc"  # the old plan is unchanged
    trees = update_plan(plan, churn_profile, models="only tree models")
    assert set(trees.models) == {"lightgbm", "extra_trees", "random_forest", "xgboost", "catboost"}
    boosting = update_plan(plan, churn_profile, models=["boosting"])
    assert boosting.models == ["lightgbm", "xgboost", "catboost"]
    linear = update_plan(plan, churn_profile, models="linear")
    assert linear.models == ["lda", "logistic_regression"]  # classification members of the group
    assert update_plan(plan, churn_profile, budget_s="5 minutes").budget_s == 300.0
    fewer = update_plan(plan, churn_profile, remove_models=["svm", "mlp"])
    assert "svm" not in fewer.models and len(fewer.models) == len(plan.models) - 2
    more = update_plan(linear, churn_profile, add_models="catboost")
    assert more.models == ["lda", "logistic_regression", "catboost"]
    timed = update_plan(plan, churn_profile, time_column="signup")
    assert (timed.validation, timed.time_column) == ("time_split", "signup")
    by_date = update_plan(plan, churn_profile, validation="time split")
    assert (by_date.validation, by_date.time_column) == ("time_split", "signup")  # the only date
    holdout = update_plan(plan, churn_profile, validation="Holdout", holdout_fraction=0.3)
    assert (holdout.validation, holdout.holdout_fraction) == ("holdout", 0.3)


def test_describe_reads_like_a_plan(churn_profile: Profile) -> None:
    plan = build_plan(churn_profile, models=["logistic_regression", "lightgbm"], budget_s=300)
    assert plan.describe().splitlines() == [
        "Task: binary classification of “churn”.",
        "Metric: ROC AUC (higher is better).",
        "Validation: 5-fold stratified cross-validation.",
        "Models: Logistic regression, LightGBM.",
        "Budget: 5 minutes, seed 0.",
        "Positive class: “yes” (F1, threshold and curves).",
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metric": "rmse"}, "RMSE is a regression metric"),
        ({"metric": "happiness"}, "Unknown metric “happiness”"),
        ({"folds": 1}, "“folds” must be at least 2 (got 1)"),
        ({"folds": "many"}, "“folds”"),
        ({"budget_s": 0.1}, "“budget_s” must be at least 1.0 (got 0.1)"),
        ({"budget_s": "soon"}, "“soon” is not a time budget"),
        ({"models": ["gpt"]}, "There is no model called “gpt”. Known models:"),
        ({"models": []}, "at least one model"),
        ({"remove_models": "all"}, "would remove every model"),
        ({"validation": "bootstrap"}, "“validation” cannot be 'bootstrap'"),
        ({"drop_columns": ["churn"]}, "“churn” is the target, so it cannot be dropped"),
        ({"drop_columns": ["tenur"]}, "no column named “tenur”. Closest matches: tenure"),
        (
            {"time_column": "plan_type"},
            "“plan_type” is a categorical column, so it cannot order the rows",
        ),
        ({"colour": "blue"}, "Cannot change colour"),
        ({"target": "tenure"}, "profile it again"),
    ],
)
def test_invalid_changes_are_rejected_in_plain_words(
    churn_profile: Profile, changes: dict[str, object], message: str
) -> None:
    plan = build_plan(churn_profile)
    with pytest.raises(PlanError) as raised:
        update_plan(plan, churn_profile, **changes)
    assert message in str(raised.value)


def test_regression_rejects_classification_only_choices(diabetes_profile: Profile) -> None:
    plan = build_plan(diabetes_profile)
    with pytest.raises(
        PlanError,
        match=r"Support vector machine cannot be used for regression tasks\. Choose from: linear",
    ):
        update_plan(plan, diabetes_profile, models=["svm"])
    assert update_plan(plan, diabetes_profile, models="linear").models == ["linear"]
    assert update_plan(plan, diabetes_profile, models="only linear models").models == [
        "linear",
        "ridge",
        "lasso",
    ]
    with pytest.raises(PlanError, match="for a regression use “kfold”"):
        update_plan(plan, diabetes_profile, validation="stratified_kfold")
    with pytest.raises(PlanError, match="needs a date column, and this table has none"):
        update_plan(plan, diabetes_profile, validation="time_split")


def test_a_plan_built_by_hand_is_validated_too() -> None:
    with pytest.raises(PlanError) as raised:
        Plan(
            task="binary",
            target="y",
            metric="auc",
            validation="kfold",
            models=["rf"],
            seed=-1,
            extra=1,
        )  # type: ignore[call-arg]
    text = str(raised.value)
    assert text.startswith("The plan is not valid: ")
    assert "“seed” must be at least 0 (got -1)" in text
    assert "“extra” is not a plan setting" in text
    with pytest.raises(PlanError, match="A time-ordered split needs a time column"):
        Plan(task="binary", target="y", metric="auc", validation="time_split", models=["rf"])
    ok = Plan(task="binary", target="y", metric="AUC", validation="kfold", models=["rf"])
    assert (ok.metric, ok.models) == ("roc_auc", ["random_forest"])


def test_budget_words() -> None:
    assert [parse_budget_s(v) for v in (90, "90s", "1.5 min", "2 minutes", "1h")] == [
        90,
        90,
        90,
        120,
        3600,
    ]
