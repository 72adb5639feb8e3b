"""fit_automl: breadth search, tuning, ensembling and the refit, inside one budget."""

from __future__ import annotations

import re
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.tools.scripts import run_exported_script
from tools.analyze.profile import profile_table
from tools.explain.model import explain_result
from tools.export.folder import export_run
from tools.io.load import file_sha256, load_table
from tools.metrics import resolve_metric
from tools.models.estimator import TabularModel
from tools.plan import build_plan
from tools.search.automl import ENSEMBLE_KEY, TUNED_SUFFIX, base_family, fit_automl
from tools.search.ensemble import EnsembleModel
from tools.search.tune import tune

_CHEAP = ["logistic_regression", "naive_bayes", "knn", "random_forest"]


def _plan(frame: pd.DataFrame, target: str, **kwargs):
    profile = profile_table(frame, target=target)
    return profile, build_plan(profile, target=target, seed=0, **kwargs)


def test_budget_is_honoured_and_tuned_rows_join_the_leaderboard(
    churn_frame: pd.DataFrame,
) -> None:
    frame = churn_frame.drop(columns=["refund_amount"])
    profile, plan = _plan(frame, "churn", budget_s=12, models=["logistic_regression", "lightgbm"])
    trials = []

    started = time.monotonic()
    result = fit_automl(frame, plan, profile=profile, on_trial=trials.append)
    wall = time.monotonic() - started

    assert wall <= 1.1 * plan.budget_s + 2
    assert trials, "the time left after the breadth search went to tuning"
    tuned_rows = [row for row in result.leaderboard if row.family.endswith(TUNED_SUFFIX)]
    assert tuned_rows and all(np.isfinite(row.std) and row.n_folds == 5 for row in tuned_rows)
    assert result.best_family in result.oof
    assert result.best_family == result.leaderboard[0].family
    assert result.plan.budget_s == plan.budget_s
    spec = resolve_metric(plan.metric, plan.task)
    best = spec.to_score(result.leaderboard[0].score)
    assert all(best >= spec.to_score(row.score) for row in result.leaderboard if row.status == "ok")
    features = frame.drop(columns=["churn"])
    assert result.model.predict_proba(features).shape == (len(frame), 2)
    assert result.refit_rows == len(frame)


def test_ensemble_is_kept_only_when_it_beats_every_member_in_cv(
    iris_frame: pd.DataFrame,
) -> None:
    profile, plan = _plan(iris_frame, "species", models=_CHEAP, budget_s=30, metric="log_loss")

    result = fit_automl(iris_frame, plan, profile=profile, tune=False)

    assert result.best_family == ENSEMBLE_KEY
    assert isinstance(result.model, EnsembleModel)
    row = result.leaderboard[0]
    assert row.family == ENSEMBLE_KEY and set(row.params) <= set(_CHEAP)
    assert np.isfinite(row.std) and row.std > 0
    singles = [r.score for r in result.leaderboard[1:] if r.status == "ok"]
    assert row.score < min(singles)  # log loss: lower is better
    assert result.cv_metrics["log_loss"] == pytest.approx(row.score)
    # the refit ensemble averages its refit members
    X = iris_frame.drop(columns=["species"])
    by_hand = sum(
        w * m.predict_proba(X)
        for m, w in zip(result.model.members_, result.model.weights_, strict=True)
    )
    np.testing.assert_allclose(result.model.predict_proba(X), by_hand)


def test_without_a_gain_the_best_single_model_is_kept(diabetes_frame: pd.DataFrame) -> None:
    profile, plan = _plan(diabetes_frame, "progression", models=["ridge"], budget_s=10)

    result = fit_automl(diabetes_frame, plan, profile=profile, tune=False)

    assert result.best_family == "ridge"
    assert isinstance(result.model, TabularModel)
    assert ENSEMBLE_KEY not in result.oof


def test_an_ensemble_run_exports_a_script_that_reproduces_its_score(
    iris_frame: pd.DataFrame, tmp_path: Path
) -> None:
    csv = tmp_path / "iris.csv"
    iris_frame.to_csv(csv, index=False)
    table = load_table(csv)
    profile, plan = _plan(table.frame, "species", models=_CHEAP, budget_s=30, metric="log_loss")
    result = fit_automl(table.frame, plan, profile=profile, tune=False)
    assert result.best_family == ENSEMBLE_KEY
    run = tmp_path / "run"

    explanation = explain_result(result, table.frame, out_dir=run / "figures", time_limit_s=5)
    export_run(
        result,
        out_dir=run,
        frame=table.frame,
        data_path=csv,
        data_sha256=file_sha256(csv),
        explanation=explanation,
        notes=table.notes,
    )

    saved = joblib.load(run / "model.joblib")
    X = table.frame.drop(columns=["species"])
    np.testing.assert_allclose(saved.predict_proba(X), result.model.predict_proba(X))
    assert "Ensemble" in (run / "model_card.md").read_text(encoding="utf-8") or (
        ENSEMBLE_KEY in (run / "model_card.md").read_text(encoding="utf-8")
    )
    score, metric = run_exported_script(run / "train.py", csv)
    assert metric == "log_loss"
    # the script averages per-fold log losses, as the leaderboard does
    assert score == pytest.approx(result.leaderboard[0].score, rel=0.1)


def test_tuning_studies_in_a_storage_continue_in_a_later_tune_call(
    churn_frame: pd.DataFrame, tmp_path: Path
) -> None:
    frame = churn_frame.drop(columns=["refund_amount"])
    profile, plan = _plan(frame, "churn", budget_s=12, models=["logistic_regression", "lightgbm"])
    storage = tmp_path / "studies.journal"

    result = fit_automl(frame, plan, profile=profile, storage=storage, study_key="thread-1")
    tuned_families = [
        base_family(r.family) for r in result.leaderboard if r.family.endswith(TUNED_SUFFIX)
    ]
    assert tuned_families
    later = tune(
        frame,
        plan,
        storage=storage,
        study_key="thread-1",
        families=tuned_families,
        budget_s=4,
        profile=profile,
        refit=False,
    )

    assert later.n_trials_total > later.n_trials  # the studies already held the first trials


def test_a_stop_during_the_breadth_search_skips_tuning_and_keeps_a_model(
    churn_frame: pd.DataFrame,
) -> None:
    frame = churn_frame.drop(columns=["refund_amount"])
    profile, plan = _plan(frame, "churn", budget_s=20)
    seen = []
    trials = []

    def stop_after_first_candidate() -> bool:
        return len(seen) >= 1

    def on_progress(progress) -> None:
        if progress.kind == "candidate_finished" and progress.candidate.status == "ok":
            seen.append(progress.candidate)

    result = fit_automl(
        frame,
        plan,
        profile=profile,
        on_progress=on_progress,
        on_trial=trials.append,
        should_stop=stop_after_first_candidate,
    )

    assert result.stopped
    assert not trials
    assert result.best_family == seen[0].family
    assert re.fullmatch(r"[a-z_]+", result.best_family)
    assert result.model.predict(frame.drop(columns=["churn"])).shape == (len(frame),)


def test_with_a_holdout_tuning_validates_on_the_same_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=1200) for i in range(5)})
    frame["label"] = np.where(frame["x0"] + rng.normal(0, 0.8, 1200) > 0, "a", "b")
    profile, plan = _plan(
        frame, "label", budget_s=8, validation="holdout", models=["logistic_regression"]
    )

    result = fit_automl(frame, plan, profile=profile, storage=tmp_path / "s.journal")

    assert len(result.search_rows) == 1200 and len(result.oof_rows) == 240
    keys = [row.family for row in result.leaderboard if row.status == "ok"]
    assert "logistic_regression" + TUNED_SUFFIX in keys, result.notes


def test_f1_runs_store_the_winners_threshold_and_predict_with_it(
    churn_frame: pd.DataFrame,
) -> None:
    frame = churn_frame.drop(columns=["refund_amount"])
    profile, plan = _plan(frame, "churn", models=_CHEAP, budget_s=30, metric="f1")

    result = fit_automl(frame, plan, profile=profile, tune=False)

    assert result.threshold is not None
    assert result.model.threshold_ == result.threshold
    X = frame.drop(columns=["churn"])
    proba = result.model.predict_proba(X)[:, 1]
    expected = np.asarray(result.model.classes_)[(proba >= result.threshold).astype(int)]
    np.testing.assert_array_equal(result.model.predict(X), expected)
    assert sum(n.startswith("The decision threshold") for n in result.notes) == 1
