"""Optuna tuning: persistent studies, warm starts, progress, budget, shared PostgreSQL studies."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from tests.postgres import new_database
from tools.analyze.profile import profile_table
from tools.errors import PlanError
from tools.imbalance import f1_of, thresholded_f1
from tools.metrics import resolve_metric
from tools.plan import Plan, build_plan
from tools.search.studies import open_storage, trial_to_params, tuning_storage
from tools.search.tune import TrialReport, tune

ROOT = Path(__file__).resolve().parents[2]


def _plan(frame: pd.DataFrame, target: str, **overrides: object) -> tuple[Plan, object]:
    profile = profile_table(frame, target=target)
    return build_plan(profile, target=target, **overrides), profile  # type: ignore[arg-type]


@pytest.fixture
def cancer_frame() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    return frame.rename(columns=lambda c: c.replace(" ", "_"))


def test_second_call_continues_the_same_study(iris_frame: pd.DataFrame, tmp_path: Path) -> None:
    plan, profile = _plan(iris_frame, "species", folds=3)
    storage = tmp_path / "studies.log"
    kwargs = dict(storage=storage, study_key="run-1", families=["knn"])

    first = tune(iris_frame, plan, profile=profile, n_trials=3, budget_s=30, **kwargs)
    second = tune(iris_frame, plan, profile=profile, n_trials=2, budget_s=30, **kwargs)

    assert (first.n_trials, first.n_trials_total) == (3, 3)
    assert (second.n_trials, second.n_trials_total) == (2, 5)
    study = optuna.load_study(study_name="run-1.knn", storage=open_storage(storage))
    assert len(study.trials) == 5
    # The study's best carries over: the second call never reports worse than the first.
    spec = resolve_metric(plan.metric, plan.task)
    assert spec.to_score(second.best_score) >= spec.to_score(first.best_score)
    assert second.best_score == pytest.approx(-study.best_value)  # log loss: stored negated
    # The continued best was re-evaluated, so its out-of-fold predictions are available.
    assert second.oof is not None and second.oof.shape == (150, 3)


def test_a_study_keeps_its_metric(iris_frame: pd.DataFrame, tmp_path: Path) -> None:
    plan, profile = _plan(iris_frame, "species", folds=3)
    kwargs = dict(storage=tmp_path / "s.log", study_key="m", families=["knn"], refit=False)
    tune(iris_frame, plan, profile=profile, n_trials=1, budget_s=30, **kwargs)
    accuracy = plan.model_copy(update={"metric": "accuracy"})
    with pytest.raises(PlanError, match="holds log_loss scores, not Accuracy"):
        tune(iris_frame, accuracy, profile=profile, n_trials=1, budget_s=30, **kwargs)


def test_sqlite_url_storage_also_continues(iris_frame: pd.DataFrame, tmp_path: Path) -> None:
    plan, profile = _plan(iris_frame, "species", folds=3)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    for _ in range(2):
        result = tune(
            iris_frame,
            plan,
            profile=profile,
            storage=url,
            study_key="k",
            families=["knn"],
            n_trials=2,
            budget_s=30,
            refit=False,
        )
    assert result.n_trials_total == 4
    assert result.model is None


def test_warm_start_configs_are_tried_first_and_reported(
    iris_frame: pd.DataFrame, tmp_path: Path
) -> None:
    plan, profile = _plan(iris_frame, "species", folds=3)
    given = [{"C": 0.0123}, {"C": 42.0}]
    reports: list[TrialReport] = []

    result = tune(
        iris_frame,
        plan,
        profile=profile,
        storage=tmp_path / "s.log",
        study_key="warm",
        families=["logistic_regression"],
        warm_start={"logistic_regression": given},
        n_trials=3,
        budget_s=30,
        on_trial=reports.append,
    )

    assert [r.params for r in reports[:2]] == given
    assert [r.number for r in reports] == [0, 1, 2]
    assert all(r.state == "complete" for r in reports)
    best_so_far = [r.best_score for r in reports]
    assert best_so_far == sorted(best_so_far, reverse=True)  # log loss: lower is better
    assert best_so_far[-1] == pytest.approx(min(r.score for r in reports))
    assert result.best_score == pytest.approx(best_so_far[-1])
    assert all(r.time_left_s <= 30 for r in reports)
    # The refit model uses the best trial's estimator parameters.
    assert result.model is not None and result.model.params == result.best_params
    assert result.best_params == trial_to_params("logistic_regression", result.best_trial_params)
    assert list(result.model.classes_) == ["setosa", "versicolor", "virginica"]


def test_best_trial_oof_matches_its_reported_score(
    cancer_frame: pd.DataFrame, tmp_path: Path
) -> None:
    plan, profile = _plan(cancer_frame, "target", folds=3, metric="accuracy")
    result = tune(
        cancer_frame,
        plan,
        profile=profile,
        storage=tmp_path / "s.log",
        study_key="acc",
        families=["ridge"] if plan.task == "regression" else ["logistic_regression"],
        n_trials=2,
        budget_s=30,
        refit=False,
    )
    best = result.candidates[0]
    assert (best.family, best.number) == (result.best_family, result.best_number)
    y = result.y.iloc[result.oof_rows].to_numpy()
    fold_accuracy = np.mean(result.classes[np.argmax(best.oof, axis=1)] == y)
    # The trial's score is the mean of fold accuracies; equal folds make it the overall accuracy.
    assert best.score == pytest.approx(fold_accuracy, abs=0.01)


def test_regression_reports_rmse_in_target_units(
    diabetes_frame: pd.DataFrame, tmp_path: Path
) -> None:
    plan, profile = _plan(diabetes_frame, "progression", folds=3)
    reports: list[TrialReport] = []
    result = tune(
        diabetes_frame,
        plan,
        profile=profile,
        storage=tmp_path / "s.log",
        study_key="reg",
        families=["ridge"],
        warm_start={"ridge": [{"alpha": 1e3}]},
        n_trials=3,
        budget_s=30,
        on_trial=reports.append,
    )
    assert result.metric == "root_mean_squared_error"
    # A heavily shrunk model is better than predicting the mean, and worse than the best.
    assert result.best_score < reports[0].score < diabetes_frame["progression"].std()
    assert result.best_score == pytest.approx(min(r.score for r in reports))
    assert result.oof is not None and result.oof.shape == (442,)
    rmse = np.sqrt(np.mean((result.oof - result.y.to_numpy()) ** 2))
    assert rmse == pytest.approx(result.best_score, rel=0.05)
    assert result.model is not None
    assert result.model.predict(diabetes_frame).shape == (442,)


def test_budget_is_honoured_across_families(cancer_frame: pd.DataFrame, tmp_path: Path) -> None:
    plan, profile = _plan(cancer_frame, "target")
    budget_s = 5.0
    started = time.monotonic()
    result = tune(
        cancer_frame,
        plan,
        profile=profile,
        storage=tmp_path / "s.log",
        study_key="budget",
        families=["random_forest", "lightgbm"],
        budget_s=budget_s,
        # Start from moderate points, as callers do with the portfolio; later trials
        # sample freely (up to 1,000 boosting rounds) and must still respect the budget.
        warm_start={
            "random_forest": [{"n_estimators": 100, "max_features": 0.3, "min_samples_leaf": 5}],
            "lightgbm": [
                {
                    "n_estimators": 100,
                    "learning_rate": 0.1,
                    "num_leaves": 15,
                    "min_child_samples": 20,
                    "subsample": 0.8,
                    "colsample_bytree": 0.8,
                    "reg_lambda": 1.0,
                }
            ],
        },
    )
    wall_s = time.monotonic() - started

    assert wall_s <= 1.1 * budget_s + 2.0
    assert result.elapsed_s <= 1.1 * budget_s + 2.0
    assert result.n_complete >= 1
    assert result.best_family in {"random_forest", "lightgbm"}


def test_stop_request_ends_tuning_after_the_running_trial(
    iris_frame: pd.DataFrame, tmp_path: Path
) -> None:
    plan, profile = _plan(iris_frame, "species", folds=3)
    reports: list[TrialReport] = []
    result = tune(
        iris_frame,
        plan,
        profile=profile,
        storage=tmp_path / "s.log",
        study_key="stop",
        families=["knn"],
        budget_s=60,
        on_trial=reports.append,
        should_stop=lambda: len(reports) >= 2,
        refit=False,
    )
    assert result.stopped
    assert (result.n_trials, len(reports)) == (2, 2)


def test_storage_comes_from_the_url_or_the_data_folder(tmp_path: Path) -> None:
    url = "postgresql://tuner@db.internal:5432/studies"
    assert tuning_storage(url, tmp_path) == url
    assert tuning_storage(None, tmp_path) == tmp_path / "optuna" / "studies.journal"
    assert tuning_storage("  ", tmp_path) == tmp_path / "optuna" / "studies.journal"


def test_unknown_or_untunable_family_is_refused(iris_frame: pd.DataFrame, tmp_path: Path) -> None:
    plan, profile = _plan(iris_frame, "species")
    with pytest.raises(PlanError, match="no parameters to tune"):
        tune(
            iris_frame,
            plan,
            profile=profile,
            storage=tmp_path / "s",
            study_key="x",
            families=["naive_bayes"],
        )
    with pytest.raises(PlanError, match="Unknown model family “boosted_tree”"):
        tune(
            iris_frame,
            plan,
            profile=profile,
            storage=tmp_path / "s",
            study_key="x",
            families=["boosted_tree"],
        )


def test_pruned_trials_are_told_to_the_study(cancer_frame: pd.DataFrame, tmp_path: Path) -> None:
    plan, profile = _plan(cancer_frame, "target", folds=5)
    # Five good trials set the median; then a hopeless configuration (tiny k, uniform)
    # against strong ones: the median pruner stops some weak trials after fold 2.
    good = [{"n_neighbors": 15, "weights": "distance"}] * 1 + [
        {"n_neighbors": n, "weights": "distance"} for n in (9, 11, 13, 17)
    ]
    bad = [{"n_neighbors": 3, "weights": "uniform"}]
    reports: list[TrialReport] = []
    tune(
        cancer_frame,
        plan,
        profile=profile,
        storage=tmp_path / "s.log",
        study_key="prune",
        families=["knn"],
        warm_start={"knn": good + bad},
        n_trials=6,
        budget_s=60,
        on_trial=reports.append,
        refit=False,
    )
    states = [r.state for r in reports]
    assert states[:5] == ["complete"] * 5
    assert states[5] == "pruned" and "median" in reports[5].message
    assert math.isnan(reports[5].score)


# --------------------------------------------------------------- PostgreSQL, two workers


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """An empty database on the session's throwaway PostgreSQL server."""
    return new_database(postgres_server_url)


_WORKER = """
import json, sys
from tools.analyze import profile_table
from tools.plan import build_plan
from tools.search.tune import tune
from sklearn.datasets import load_iris
frame = load_iris(as_frame=True).frame
profile = profile_table(frame, target="target")
plan = build_plan(profile, target="target", folds=3)
result = tune(frame, plan, profile=profile, storage=sys.argv[1], study_key="shared",
              families=["knn"], n_trials=4, budget_s=60,
              worker=int(sys.argv[2]), refit=False)
print(json.dumps({"best": result.best_score, "n": result.n_trials, "params": result.best_trial_params}))
"""


def test_two_workers_share_one_postgres_study(postgres_url: str) -> None:
    _check_two_workers(postgres_url)


def test_two_workers_share_one_journal_file(tmp_path: Path) -> None:
    _check_two_workers(str(tmp_path / "shared.journal"))


def _check_two_workers(storage: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, storage, str(number)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in (1, 2)
    ]
    outputs = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr[-2000:]
        outputs.append(json.loads(stdout.strip().splitlines()[-1]))

    study = optuna.load_study(study_name="shared.knn", storage=open_storage(storage))
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == len(study.trials) == 8
    assert sorted(t.user_attrs["worker"] for t in finished) == [1, 1, 1, 1, 2, 2, 2, 2]
    assert [o["n"] for o in outputs] == [4, 4]
    # Log loss is stored negated (higher is better); the workers report natural units.
    study_best = -study.best_value
    assert min(o["best"] for o in outputs) == pytest.approx(study_best)
    best_report = outputs[int(np.argmin([o["best"] for o in outputs]))]
    assert best_report["params"] == study.best_params


def test_f1_trials_are_scored_at_their_own_threshold(tmp_path: Path) -> None:
    # A rare positive class: F1 at a 0.5 cut and at the trial's best cut differ.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 3))
    label = np.where(x[:, 0] + 0.8 * rng.normal(size=400) > 1.3, "fraud", "ok")
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(label=label)
    plan, profile = _plan(frame, "label", metric="f1", folds=3, positive_class="fraud")
    result = tune(
        frame,
        plan,
        profile=profile,
        storage=None,
        study_key="f1",
        families=["logistic_regression"],
        n_trials=2,
        budget_s=30,
        refit=False,
    )
    truth = result.y.iloc[result.oof_rows].to_numpy() == "fraud"
    at_half = []
    for candidate in result.candidates:
        expected = thresholded_f1(truth, candidate.oof[:, -1], result.oof_folds)[0]
        assert candidate.score == pytest.approx(expected)
        folds = result.oof_folds
        half = [f1_of(truth[folds == f], candidate.oof[folds == f, -1] >= 0.5) for f in set(folds)]
        at_half.append(float(np.mean(half)))
    assert result.best_score == pytest.approx(max(c.score for c in result.candidates))
    assert any(c.score != pytest.approx(h) for c, h in zip(result.candidates, at_half, strict=True))
