"""Metric names, aliases and values (tools/metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from tools.errors import PlanError
from tools.metrics import default_metric, evaluate_all, metric_names, resolve_metric


@pytest.mark.parametrize(
    ("name", "task", "canonical"),
    [
        ("auc", "binary", "roc_auc"),
        ("AUC", "multiclass", "roc_auc_ovr"),
        ("roc_auc_ovr", "binary", "roc_auc"),
        ("f1", "binary", "f1"),
        ("F1", "multiclass", "f1_macro"),
        ("macro-f1", "binary", "f1_macro"),
        ("logloss", "multiclass", "log_loss"),
        ("neg_log_loss", "binary", "log_loss"),
        ("pr_auc", "binary", "average_precision"),
        ("acc", "multiclass", "accuracy"),
        ("Balanced Accuracy", "binary", "balanced_accuracy"),
        ("rmse", "regression", "root_mean_squared_error"),
        ("neg_root_mean_squared_error", "regression", "root_mean_squared_error"),
        ("MAE", "regression", "mean_absolute_error"),
        ("neg_mean_absolute_error", "regression", "mean_absolute_error"),
        ("mape", "regression", "mean_absolute_percentage_error"),
        ("r2", "regression", "r2"),
        ("R-squared", "regression", "r2"),
    ],
)
def test_resolve_metric_accepts_scorer_names_and_aliases(name, task, canonical) -> None:
    assert resolve_metric(name, task).name == canonical


def test_metric_of_another_task_is_a_plan_error_listing_valid_choices() -> None:
    with pytest.raises(PlanError) as caught:
        resolve_metric("rmse", "binary")
    message = str(caught.value)
    assert message.startswith("RMSE is a regression metric, but this is binary classification.")
    assert "roc_auc (ROC AUC)" in message and "log_loss" in message


def test_unknown_metric_is_a_plan_error_listing_valid_choices() -> None:
    with pytest.raises(PlanError, match=r"Unknown metric “kappa”\. For regression choose one of: "):
        resolve_metric("kappa", "regression")


def test_direction_and_scores() -> None:
    rmse = resolve_metric("rmse", "regression")
    auc = resolve_metric("auc", "binary")
    assert (rmse.greater_is_better, rmse.needs_proba, rmse.label) == (False, False, "RMSE")
    assert (auc.greater_is_better, auc.needs_proba) == (True, True)
    assert rmse.to_score(2.5) == -2.5 and auc.to_score(0.8) == 0.8
    assert rmse.scorer_name == "neg_root_mean_squared_error" and auc.scorer_name == "roc_auc"


def test_defaults_and_names() -> None:
    assert [default_metric(t) for t in ("binary", "multiclass", "regression")] == [
        "roc_auc",
        "log_loss",
        "root_mean_squared_error",
    ]
    assert metric_names("regression") == [
        "root_mean_squared_error",
        "mean_absolute_error",
        "r2",
        "mean_absolute_percentage_error",
    ]


def test_binary_metrics_with_string_labels_use_the_second_class_as_positive() -> None:
    y = np.array(["no", "yes", "no", "yes", "yes"])
    proba_yes = np.array([0.2, 0.9, 0.6, 0.4, 0.8])
    proba = np.column_stack([1 - proba_yes, proba_yes])
    results = evaluate_all(y, None, proba, task="binary", classes=["no", "yes"])
    y01 = (y == "yes").astype(int)
    pred01 = (proba_yes > 0.5).astype(int)
    assert results["roc_auc"] == pytest.approx(skm.roc_auc_score(y01, proba_yes))
    assert results["f1"] == pytest.approx(skm.f1_score(y01, pred01))
    assert results["accuracy"] == pytest.approx(0.6)
    assert results["log_loss"] == pytest.approx(skm.log_loss(y01, proba_yes))
    assert results["average_precision"] == pytest.approx(
        skm.average_precision_score(y01, proba_yes)
    )
    assert set(results) == set(metric_names("binary"))


def test_multiclass_metrics() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    proba = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.2, 0.7],
            [0.3, 0.4, 0.3],
            [0.1, 0.8, 0.1],
            [0.6, 0.2, 0.2],
        ]
    )
    results = evaluate_all(y, proba.argmax(axis=1), proba, task="multiclass", classes=[0, 1, 2])
    assert results["accuracy"] == pytest.approx(5 / 6)
    assert results["f1_macro"] == pytest.approx(
        skm.f1_score(y, proba.argmax(axis=1), average="macro")
    )
    assert results["roc_auc_ovr"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert results["log_loss"] == pytest.approx(skm.log_loss(y, proba))


def test_regression_metrics_are_natural_values() -> None:
    y = np.array([1.0, 2.0, 4.0])
    pred = np.array([1.0, 3.0, 2.0])
    results = evaluate_all(y, pred, None, task="regression", classes=None)
    assert results["root_mean_squared_error"] == pytest.approx(np.sqrt(5 / 3))
    assert results["mean_absolute_error"] == pytest.approx(1.0)
    assert results["mean_absolute_percentage_error"] == pytest.approx((0 + 0.5 + 0.5) / 3)
    assert results["r2"] == pytest.approx(skm.r2_score(y, pred))


def test_evaluate_all_leaves_out_what_cannot_be_computed() -> None:
    y = np.array(["yes", "yes", "yes"])
    proba = np.array([[0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    results = evaluate_all(y, None, proba, task="binary", classes=["no", "yes"])
    assert "roc_auc" not in results and "average_precision" in results
    assert results["accuracy"] == pytest.approx(2 / 3)
    assert "log_loss" not in evaluate_all(y, y, None, task="binary", classes=["no", "yes"])


def test_scorer_works_with_string_labels(iris_frame) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    x = iris_frame.drop(columns="species")
    y = iris_frame["species"]
    scorer = resolve_metric("logloss", "multiclass").scorer()
    scores = cross_val_score(LogisticRegression(max_iter=500), x, y, cv=3, scoring=scorer)
    assert np.all(scores < 0) and np.all(scores > -0.5)


def test_common_unoffered_metrics_get_a_hint() -> None:
    with pytest.raises(PlanError) as caught:
        resolve_metric("neg_mean_squared_error", "regression")
    assert str(caught.value).startswith(
        "Unknown metric “neg_mean_squared_error”. MSE is not offered: RMSE (rmse) ranks models "
        "the same way, in the target's units. For regression choose one of: "
    )


def test_scorer_ranks_with_decision_scores_when_there_are_no_probabilities(iris_frame) -> None:
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVC

    binary = iris_frame[iris_frame["species"] != "setosa"]
    x, y = binary.drop(columns="species"), binary["species"]
    auc = cross_val_score(SVC(), x, y, cv=3, scoring=resolve_metric("auc", "binary").scorer())
    expected = cross_val_score(SVC(), x, y, cv=3, scoring="roc_auc")
    np.testing.assert_allclose(auc, expected)
    with pytest.raises(ValueError, match="Log loss needs class probabilities"):
        resolve_metric("log_loss", "binary").scorer()(SVC().fit(x, y), x, y)
