"""Budgeted cross-validated training: ranking, out-of-fold predictions, budget, stop, determinism."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from tools.analyze.profile import profile_table
from tools.metrics import resolve_metric
from tools.plan import build_plan
from tools.search.results import TrainingError, TrainProgress
from tools.search.train import train


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    frame["species"] = frame.pop("target").map({0: "setosa", 1: "versicolor", 2: "virginica"})
    return frame


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


def _mixed(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": rng.lognormal(10, 0.5, n),
            "city": rng.choice(["paris", "lyon", "nice", "lille"], n),
            "member": rng.choice([True, False], n),
            "joined": pd.Timestamp("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
        }
    )
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    logit = 0.05 * (frame["age"] - 50) + 1.0 * (frame["city"] == "paris") - 0.5 * frame["member"]
    frame["bought"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return frame


def test_leaderboard_oof_and_metrics_are_consistent(iris: pd.DataFrame) -> None:
    profile = profile_table(iris, target="species")
    plan = build_plan(
        profile, models=["naive_bayes", "logistic_regression", "lightgbm"], budget_s=60
    )
    events: list[TrainProgress] = []

    result = train(iris, plan, profile=profile, on_progress=events.append)

    ok = [c for c in result.leaderboard if c.status == "ok"]
    assert [c.score for c in ok] == sorted(c.score for c in ok)
    assert result.best_family == ok[0].family  # log loss: lower is better, best first
    assert [e.kind for e in events][:2] == ["started", "candidate_started"]
    assert [e.kind for e in events][-2:] == ["refit_started", "finished"]
    finished = [
        e.candidate.family for e in events if e.kind == "candidate_finished" and e.candidate
    ]
    assert finished == ["naive_bayes", "logistic_regression", "lightgbm"]  # cheapest first

    np.testing.assert_array_equal(result.oof_rows, np.arange(150))
    assert result.oof["lightgbm"].shape == (150, 3)
    assert list(result.classes) == ["setosa", "versicolor", "virginica"]  # type: ignore[arg-type]
    accuracy = float(np.mean(result.oof_predictions() == result.oof_y.to_numpy()))
    assert result.cv_metrics["accuracy"] == pytest.approx(accuracy)
    pooled = resolve_metric("log_loss", "multiclass").compute(
        result.oof_y, None, result.oof[result.best_family], classes=result.classes
    )
    assert result.cv_metrics["log_loss"] == pytest.approx(pooled)
    assert result.cv_metrics["accuracy"] > 0.9  # OOF columns really are in `classes` order
    for family, proba in result.oof.items():
        chosen = result.classes[np.argmax(proba, axis=1)]  # type: ignore[index]
        assert np.mean(chosen == result.oof_y.to_numpy()) > 0.85, family

    assert (result.model_source, result.refit_rows) == ("refit", 150)
    assert list(result.model.classes_) == ["setosa", "versicolor", "virginica"]
    assert result.model.target_ == "species"
    assert set(result.model.predict(iris.drop(columns="species"))) <= set(iris["species"])
    assert result.stopped is False


def test_same_seed_same_leaderboard_and_another_seed_differs(iris: pd.DataFrame) -> None:
    profile = profile_table(iris, target="species")
    plan = build_plan(profile, models=["naive_bayes", "lightgbm"], budget_s=60, seed=7)

    def board(seed: int) -> list[tuple[str, float, float, str]]:
        result = train(iris, plan.model_copy(update={"seed": seed}), profile=profile)
        return [(c.family, c.score, c.std, c.status) for c in result.leaderboard]

    first = board(7)
    assert board(7) == first
    assert board(8) != first


def test_budget_is_honoured_and_slow_candidates_are_skipped() -> None:
    frame = _mixed(6_000)
    profile = profile_table(frame, target="bought")
    plan = build_plan(profile, budget_s=5)  # every family: far more than 5 s of work
    started = time.monotonic()

    result = train(frame, plan, profile=profile)

    wall_s = time.monotonic() - started
    assert wall_s <= 1.1 * 5 + 2, wall_s
    assert result.elapsed_s <= 1.1 * 5 + 2
    skipped = [c for c in result.leaderboard if c.status == "skipped"]
    assert skipped, "with 5 s for 11 families some must be skipped"
    assert all(("left" in c.message) or ("budget" in c.message) for c in skipped)
    statuses = [c.status for c in result.leaderboard]
    assert statuses == sorted(statuses, key=["ok", "skipped", "failed"].index)
    assert result.model.predict(frame.head(5)).shape == (5,)


def test_stop_keeps_the_leaderboard_and_best_model_so_far(cancer: pd.DataFrame) -> None:
    profile = profile_table(cancer, target="target")
    plan = build_plan(
        profile, models=["naive_bayes", "lda", "logistic_regression", "random_forest"], budget_s=60
    )
    finished: list[str] = []

    def record(event: TrainProgress) -> None:
        if event.kind == "candidate_finished" and event.candidate is not None:
            finished.append(event.candidate.family)

    result = train(
        cancer, plan, profile=profile, on_progress=record, should_stop=lambda: len(finished) >= 2
    )

    assert result.stopped is True
    assert {c.family for c in result.leaderboard} == {"naive_bayes", "lda"}
    assert result.best_family in {"naive_bayes", "lda"}
    assert set(result.oof) == {"naive_bayes", "lda"}
    assert result.model.predict(cancer.drop(columns="target")).shape == (569,)


def test_stop_before_anything_finished_says_so(cancer: pd.DataFrame) -> None:
    profile = profile_table(cancer, target="target")
    plan = build_plan(profile, models=["naive_bayes"], budget_s=10)
    with pytest.raises(TrainingError, match="stopped before any model finished"):
        train(cancer, plan, profile=profile, should_stop=lambda: True)


def test_large_tables_are_searched_on_a_sample_and_refit_on_all_rows() -> None:
    frame = _mixed(3_000)
    profile = profile_table(frame, target="bought")
    plan = build_plan(
        profile, models=["logistic_regression", "lightgbm"], validation="holdout", budget_s=60
    )

    result = train(frame, plan, profile=profile, max_search_rows=1_000)

    assert len(result.oof_rows) == 200  # 20 % of the 1,000-row sample
    assert result.oof["lightgbm"].shape == (200, 2)
    assert result.refit_rows == 3_000 and result.model_source == "refit"
    assert "compared on a sample of 1,000 of 3,000 rows" in " ".join(result.notes)


def test_time_split_validates_on_the_latest_rows() -> None:
    frame = _mixed(400)
    profile = profile_table(frame, target="bought")
    plan = build_plan(profile, models=["logistic_regression"], time_column="joined", budget_s=30)

    result = train(frame, plan, profile=profile)

    assert plan.validation == "time_split"
    when = frame["joined"].to_numpy()
    valid = np.zeros(len(frame), dtype=bool)
    valid[result.oof_rows] = True
    assert valid.sum() == 80
    assert when[valid].min() >= when[~valid].max()


def test_regression_and_single_row_classes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    frame = load_diabetes(as_frame=True).frame
    profile = profile_table(frame, target="target")
    plan = build_plan(profile, models=["ridge", "catboost"], budget_s=60)
    result = train(frame, plan, profile=profile)
    assert result.oof["ridge"].shape == (442,)
    assert result.cv_metrics["r2"] > 0.3
    assert list(tmp_path.iterdir()) == []  # CatBoost wrote no catboost_info/

    rare = _mixed(300)
    rare.loc[0, "bought"] = "maybe"  # a class with one row cannot be validated
    rare_profile = profile_table(rare, target="bought")
    rare_plan = build_plan(rare_profile, models=["logistic_regression"], budget_s=30)
    rare_result = train(rare, rare_plan, profile=rare_profile)
    assert list(rare_result.classes) == ["no", "yes"]  # type: ignore[arg-type]
    assert "1 class(es) with a single row were dropped (“maybe”)" in rare_result.notes[0]


def test_failing_candidate_is_reported_last_and_overrides_are_used() -> None:
    frame = load_diabetes(as_frame=True).frame
    profile = profile_table(frame, target="target")
    plan = build_plan(profile, models=["linear", "ridge", "lasso"], budget_s=30)

    result = train(
        frame, plan, profile=profile, params={"ridge": {"alpha": -1.0}, "lasso": {"alpha": 0.05}}
    )

    last = result.leaderboard[-1]
    assert (last.family, last.status) == ("ridge", "failed")
    assert "alpha" in last.message
    lasso = next(c for c in result.leaderboard if c.family == "lasso")
    assert lasso.status == "ok" and lasso.params["alpha"] == 0.05
    assert "ridge" not in result.oof


def test_when_time_runs_out_the_first_model_keeps_its_finished_folds(cancer: pd.DataFrame) -> None:
    profile = profile_table(cancer, target="target")
    plan = build_plan(profile, budget_s=10)
    ticks = itertools.count()

    def slow_clock() -> float:  # every step of training "takes" one second
        return float(next(ticks))

    result = train(cancer, plan, profile=profile, clock=slow_clock)

    first = result.leaderboard[0]
    assert (first.family, first.status, first.n_folds) == ("naive_bayes", "ok", 1)
    assert first.message == "scored on 1 of 5 folds to stay within the budget."
    assert len(result.oof_rows) == 114 and result.oof["naive_bayes"].shape == (114, 2)
    assert (result.model_source, result.refit_rows) == ("fold", 455)
    assert result.notes == [
        "Time allowed only 1 validation fold(s); every model was scored on them.",
        "Naive Bayes was not refit on all rows (no time left); its first cross-validation model is used.",
    ]
    assert result.model.predict(cancer.head(3)).shape == (3,)


def test_a_dozen_rows_train_without_failures() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=12), "b": rng.choice(["x", "y"], 12)})
    frame["t"] = np.where(frame["a"] > 0, "p", "n")
    profile = profile_table(frame, target="t")
    forests = {"random_forest", "extra_trees"}  # safe on any size, and the slowest here
    plan = build_plan(profile, budget_s=30)
    plan = plan.model_copy(update={"models": [m for m in plan.models if m not in forests]})

    result = train(frame, plan, profile=profile)

    assert [(c.family, c.message) for c in result.leaderboard if c.status != "ok"] == []
    assert len(result.leaderboard) == 9  # kNN, SVM, MLP and boosting included


def _hard_case(task: str, n: int = 5_000, seed: int = 3) -> pd.DataFrame:
    """A 400-level categorical with signal and, by task, a heavy-tailed target or 3 % positives."""
    rng = np.random.default_rng(seed)
    shops = np.array([f"S{i:03d}" for i in range(400)])
    effect = dict(zip(shops, rng.normal(0, 0.8, len(shops)), strict=True))
    frame = pd.DataFrame(
        {"x": rng.normal(size=n), "z": rng.normal(size=n), "shop": rng.choice(shops, n)}
    )
    signal = frame["x"] - 0.5 * frame["z"] + frame["shop"].map(effect)
    if task == "regression":
        frame["amount"] = np.exp(2.0 + signal + rng.normal(0, 0.5, n))
    else:
        frame["amount"] = np.where(rng.random(n) < 1 / (1 + np.exp(4.0 - signal)), "yes", "no")
    return frame


@pytest.mark.parametrize(("task", "metric"), [("regression", "rmse"), ("binary", "f1")])
def test_budget_is_honoured_with_the_hard_cases_on(task: str, metric: str) -> None:
    frame = _hard_case(task)
    profile = profile_table(frame, target="amount")
    plan = build_plan(profile, metric=metric, budget_s=4)  # every family for the task
    started = time.monotonic()

    result = train(frame, plan, profile=profile)

    wall_s = time.monotonic() - started
    assert wall_s <= 1.1 * 4 + 2, wall_s
    assert result.model.target_encoded_ == ["shop"]
    if task == "regression":
        assert result.target_transform_scores, result.notes  # the comparison ran
    else:
        assert result.threshold is not None
