"""Explanations of real fitted pipelines on small real and generated tables."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.io
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from tools.deadline import Deadline
from tools.errors import UserFacingError
from tools.explain.feature import explain_feature
from tools.explain.importance import (
    MIN_IMPORTANCE_ROWS,
    MIN_IMPORTANCE_S,
    permutation_importance_table,
)
from tools.explain.model import explain_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _days(frame: pd.DataFrame) -> np.ndarray:
    return np.column_stack(
        [(frame[c] - pd.Timestamp(0)) / pd.Timedelta(days=1) for c in frame.columns]
    )


def _pipeline(frame: pd.DataFrame, estimator):
    numeric = [c for c in frame if pd.api.types.is_numeric_dtype(frame[c])]
    dates = [c for c in frame if pd.api.types.is_datetime64_any_dtype(frame[c])]
    other = [c for c in frame if c not in numeric and c not in dates]
    transformers = [("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric)]
    if other:
        transformers.append(("cat", OneHotEncoder(handle_unknown="ignore"), other))
    if dates:
        transformers.append(
            ("date", make_pipeline(FunctionTransformer(_days), StandardScaler()), dates)
        )
    return make_pipeline(ColumnTransformer(transformers), estimator)


def _breast_cancer() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame[["worst radius", "worst concave points", "mean texture"]].copy()
    frame["noise"] = np.random.default_rng(0).normal(size=len(frame))
    labels = np.where(data.target == 1, "benign", "malignant")
    return frame, labels


def _read_figure(artifact) -> dict:
    assert artifact.png_path.read_bytes()[:8] == PNG_MAGIC
    assert artifact.json_path.read_text(encoding="utf-8") == artifact.plotly_json
    plotly.io.from_json(artifact.plotly_json)  # a valid Plotly figure
    return json.loads(artifact.plotly_json)


def test_binary_explanation_writes_its_figures_and_ranks_the_signal_first(tmp_path: Path) -> None:
    frame, labels = _breast_cancer()
    model = _pipeline(frame, LogisticRegression(max_iter=500)).fit(frame, labels)

    explanation = explain_model(
        model,
        frame,
        labels,
        task="binary",
        out_dir=tmp_path,
        metric="accuracy",
        metrics={"accuracy": 0.93},
        seed=0,
    )

    assert [f.name for f in explanation.figures] == [
        "importance",
        "confusion_matrix",
        "roc_curve",
        "pr_curve",
    ]
    for artifact in explanation.figures:
        _read_figure(artifact)
    by_column = {i.column: i for i in explanation.importance}
    assert explanation.importance[0].column in {"worst radius", "worst concave points"}
    assert abs(by_column["noise"].mean) < 0.02
    assert by_column["noise"].rank >= 3
    assert explanation.insights[0] == "The in-sample (refit model) Accuracy is 0.9300."
    assert "malignant" in next(f for f in explanation.figures if f.name == "roc_curve").title
    assert explanation.to_dict()["figures"][1] == {
        "name": "confusion_matrix",
        "title": "Confusion matrix",
        "png": "confusion_matrix.png",
        "json": "confusion_matrix.json",
    }


def test_confusion_matrix_figure_holds_the_out_of_fold_counts(tmp_path: Path) -> None:
    iris = load_iris(as_frame=True)
    frame = iris.data
    labels = iris.target_names[iris.target]
    model = _pipeline(frame, LogisticRegression(max_iter=500)).fit(frame, labels)
    oof_pred = labels.copy()
    oof_pred[:7] = "virginica"  # seven setosa rows called virginica

    explanation = explain_model(
        model,
        frame,
        labels,
        task="multiclass",
        out_dir=tmp_path,
        metric="accuracy",
        metrics={"accuracy": 143 / 150},
        y_pred=oof_pred,
        n_repeats=2,
    )

    heatmap = _read_figure(explanation.figures[1])["data"][0]
    assert heatmap["z"] == confusion_matrix(labels, oof_pred, labels=model.classes_).tolist()
    assert heatmap["z"][0] == [43, 0, 7]
    assert explanation.insights[0] == "The out-of-fold Accuracy is 0.9533."
    assert (
        "The most common mistake is predicting “virginica” for rows that are “setosa”: "
        "7 of 50 such rows (14%)." in explanation.insights
    )
    # No probabilities were passed for the out-of-fold rows: no ROC curve is invented.
    assert [f.name for f in explanation.figures] == ["importance", "confusion_matrix"]


def test_multiclass_in_sample_draws_one_roc_curve_per_class(tmp_path: Path) -> None:
    iris = load_iris(as_frame=True)
    labels = iris.target_names[iris.target]
    model = _pipeline(iris.data, LogisticRegression(max_iter=500)).fit(iris.data, labels)

    explanation = explain_model(
        model,
        iris.data,
        labels,
        task="multiclass",
        out_dir=tmp_path,
        metric="accuracy",
        metrics={},
        n_repeats=1,
    )

    roc = _read_figure(explanation.figures[-1])
    names = [trace["name"] for trace in roc["data"]]
    assert [n.split(" ")[0] for n in names] == ["setosa", "versicolor", "virginica", "chance"]


def test_regression_explanation_reports_residual_numbers(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"size": rng.uniform(0, 10, 300), "noise": rng.normal(size=300)})
    target = 3 * frame["size"].to_numpy() + rng.normal(scale=0.5, size=300)
    model = _pipeline(frame, LinearRegression()).fit(frame, target)
    predictions = model.predict(frame)

    explanation = explain_model(
        model,
        frame,
        target,
        task="regression",
        out_dir=tmp_path,
        metric="r2",
        metrics={"r2": 0.99},
        y_pred=predictions,
    )

    assert [f.name for f in explanation.figures] == [
        "importance",
        "predicted_vs_actual",
        "residuals",
    ]
    assert [i.column for i in explanation.importance] == ["size", "noise"]
    median = np.median(np.abs(target - predictions))
    assert f"Half of the absolute errors are below {median:.4f}" in explanation.insights[-2]
    scatter = _read_figure(explanation.figures[1])["data"][0]
    assert len(scatter["x"]) == 300


def test_importance_stops_at_its_time_limit_and_lists_the_columns_left(tmp_path: Path) -> None:
    frame, labels = _breast_cancer()
    model = _pipeline(frame, LogisticRegression(max_iter=500)).fit(frame, labels)

    table, unscored, rows = permutation_importance_table(
        model, frame, labels, task="binary", time_limit_s=0.0, max_rows=100
    )

    assert table == []
    assert unscored == list(frame.columns)
    assert rows == 100


def test_a_run_out_of_time_still_ranks_every_column_once_on_a_small_sample() -> None:
    frame, labels = _breast_cancer()
    model = _pipeline(frame, LogisticRegression(max_iter=500)).fit(frame, labels)
    late = Deadline.after(-2.0)  # the search overran its share of the budget

    started = time.monotonic()
    table, unscored, rows = permutation_importance_table(
        model, frame, labels, task="binary", deadline=late
    )

    assert unscored == [] and {i.column for i in table} == set(frame.columns)
    assert rows == MIN_IMPORTANCE_ROWS
    assert time.monotonic() - started < MIN_IMPORTANCE_S + 2.0  # wide: a loaded machine


def test_explain_feature_numeric_reports_rank_trend_and_partial_dependence(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    age = rng.uniform(20, 70, 600)
    frame = pd.DataFrame({"age": age, "plan": rng.choice(["basic", "pro"], 600)})
    churn = np.where(rng.uniform(size=600) < (age - 15) / 60, "yes", "no")
    model = _pipeline(frame, RandomForestClassifier(n_estimators=30, random_state=0, max_depth=4))
    model.fit(frame, churn)
    importance, _, _ = permutation_importance_table(model, frame, churn, task="binary")

    answer = explain_feature(
        model, frame, churn, "age", task="binary", out_dir=tmp_path, importance=importance
    )

    assert answer.kind == "numeric"
    assert answer.rank == 1 and answer.n_features == 2
    assert answer.correlation is not None and answer.correlation > 0.3
    assert answer.target_label == "share of “yes”"  # the positive class, classes[1]
    assert len(answer.groups) == 10 and sum(g.count for g in answer.groups) == 600
    first, last = answer.partial_dependence[0][1], answer.partial_dependence[-1][1]
    assert last > first + 0.2
    assert answer.insights[0].startswith("age ranks 1 of 2 by permutation importance")
    assert answer.figure.png_path.name == "feature_age.png"


def test_explain_feature_categorical_and_datetime_groups(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "east"], n),
            "signed": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        }
    )
    price = np.where(frame["region"] == "north", 100.0, 50.0) + rng.normal(size=n)
    model = _pipeline(frame, LinearRegression()).fit(frame, price)

    region = explain_feature(model, frame, price, "region", task="regression", out_dir=tmp_path)
    signed = explain_feature(model, frame, price, "signed", task="regression", out_dir=tmp_path)

    means = {g.label: g.target_mean for g in region.groups}
    assert set(means) == {"north", "south", "east"}
    assert means["north"] == pytest.approx(price[frame["region"] == "north"].mean())
    assert region.correlation is None and region.rank is None
    assert dict(region.partial_dependence)["north"] - dict(region.partial_dependence)[
        "south"
    ] == pytest.approx(50, abs=1)
    assert signed.kind == "datetime"
    assert signed.groups[0].label.startswith("2024-01-01–")
    assert abs(signed.correlation) < 0.2


def test_explain_feature_unknown_name_lists_the_features(tmp_path: Path) -> None:
    frame, labels = _breast_cancer()
    model = _pipeline(frame, LogisticRegression(max_iter=500)).fit(frame, labels)

    with pytest.raises(UserFacingError, match=r"no feature named “radius”.*worst radius"):
        explain_feature(model, frame, labels, "radius", task="binary", out_dir=tmp_path)


def test_curves_of_large_tables_are_thinned_for_the_figure_json(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=20_000), "z": rng.normal(size=20_000)})
    labels = np.where(frame["x"] + rng.normal(size=20_000) > 0, "b", "a")
    model = _pipeline(frame, LogisticRegression()).fit(frame, labels)

    explanation = explain_model(
        model,
        frame,
        labels,
        task="binary",
        out_dir=tmp_path,
        metric="roc_auc",
        metrics={},
        n_repeats=1,
        max_rows=500,
    )

    roc = _read_figure(next(f for f in explanation.figures if f.name == "roc_curve"))
    pr = _read_figure(next(f for f in explanation.figures if f.name == "pr_curve"))
    assert len(roc["data"][0]["x"]) == 400 and roc["data"][0]["x"][0] == 0.0
    assert roc["data"][0]["y"][-1] == 1.0
    assert len(pr["data"][0]["x"]) == 400
