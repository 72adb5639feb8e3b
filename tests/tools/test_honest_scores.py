"""Honest scores: what to expect on new data comes from rows that did not choose the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tools.analyze.profile import profile_table
from tools.explain.model import explain_result
from tools.export.folder import export_run
from tools.metrics import resolve_metric
from tools.plan import build_plan
from tools.search.automl import fit_automl
from tools.search.honest import CandidatePool, Choice, expected_metrics, fold_scores
from tools.search.train import train

CLASSES = np.array(["a", "b"])


def _noise_candidates(n_rows: int, n_candidates: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n_candidates):
        p = rng.uniform(size=n_rows)
        out[f"m{i}"] = np.column_stack([1 - p, p])
    return out


def _selection_and_expected(seed: int, ensemble: bool) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = 400
    y = rng.choice(CLASSES, n)
    folds = np.arange(n) % 5
    candidates = _noise_candidates(n, 40, seed=seed + 100)
    trials = _noise_candidates(n, 20, seed=seed + 200)
    choice = Choice(resolve_metric("roc_auc", "binary"), "binary", CLASSES, ensemble=ensemble)
    selection = max(
        np.mean(fold_scores(p, y, folds, choice)) for p in [*candidates.values(), *trials.values()]
    )
    estimate = expected_metrics(
        CandidatePool(singles=candidates, trials={"lightgbm:tuned": list(trials.values())}),
        y,
        folds,
        choice,
    )
    assert estimate is not None
    assert estimate.n_groups == 5
    assert "nested" in estimate.method
    return float(selection), estimate.metrics["roc_auc"]


def test_choosing_among_many_noise_models_flatters_the_selection_score_not_the_expected_one() -> (
    None
):
    pairs = [_selection_and_expected(seed, ensemble=False) for seed in range(5)]
    selection = float(np.median([s for s, _ in pairs]))
    expected = float(np.median([e for _, e in pairs]))

    assert selection > 0.55  # the best of 60 coin flips looks like a model
    assert expected == pytest.approx(0.5, abs=0.03)
    assert selection - expected > 0.03


def test_the_ensemble_choice_is_replayed_too() -> None:
    selection, expected = _selection_and_expected(11, ensemble=True)

    assert selection > 0.55
    assert expected == pytest.approx(0.5, abs=0.06)


def test_with_real_signal_the_expected_score_stays_close_to_the_selection_score() -> None:
    rng = np.random.default_rng(3)
    n = 1000
    signal = rng.normal(size=n)
    y = np.where(signal + rng.normal(scale=0.8, size=n) > 0, "b", "a")
    folds = np.arange(n) % 5
    candidates = {}
    for i in range(8):
        score = signal + rng.normal(scale=0.5 + 0.1 * i, size=n)
        p = 1 / (1 + np.exp(-score))
        candidates[f"m{i}"] = np.column_stack([1 - p, p])
    choice = Choice(resolve_metric("roc_auc", "binary"), "binary", CLASSES, ensemble=False)

    selection = max(np.mean(fold_scores(p, y, folds, choice)) for p in candidates.values())
    estimate = expected_metrics(CandidatePool(singles=candidates), y, folds, choice)

    assert estimate is not None
    assert selection > 0.8
    assert estimate.metrics["roc_auc"] == pytest.approx(selection, abs=0.02)


def test_a_single_holdout_is_cut_into_groups_for_the_nested_choice() -> None:
    rng = np.random.default_rng(4)
    n = 300
    y = rng.normal(size=n)
    candidates = {f"m{i}": y + rng.normal(scale=1 + i, size=n) for i in range(4)}
    choice = Choice(resolve_metric("rmse", "regression"), "regression", None, ensemble=False)

    estimate = expected_metrics(CandidatePool(singles=candidates), y, np.zeros(n, int), choice)

    assert estimate is not None
    assert estimate.n_groups == 5
    assert estimate.metrics["root_mean_squared_error"] == pytest.approx(1.0, abs=0.2)


def _noise_table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"x{i}" for i in range(6)])
    frame["label"] = rng.choice(["no", "yes"], n)
    return frame


def test_automl_on_pure_noise_reports_an_expected_score_near_chance(tmp_path: Path) -> None:
    frame = _noise_table(600, seed=5)
    profile = profile_table(frame, target="label")
    plan = build_plan(profile, metric="roc_auc", budget_s=8)

    result = fit_automl(frame, plan, profile=profile)

    assert result.expected_metrics["roc_auc"] == pytest.approx(0.5, abs=0.08)
    assert "nested" in result.estimate_method
    # One definition of a metric: the winner's leaderboard score is its cv metric.
    winner = next(r for r in result.leaderboard if r.family == result.best_family)
    assert result.cv_metrics["roc_auc"] == pytest.approx(winner.score, abs=1e-9)

    out = tmp_path / "run"
    explanation = explain_result(result, frame, out_dir=out / "figures", time_limit_s=5)
    export_run(result, out_dir=out, frame=frame, explanation=explanation)
    report = json.loads((out / "report.json").read_text())
    card = (out / "model_card.md").read_text()
    assert report["expected_metrics"]["roc_auc"] == pytest.approx(
        result.expected_metrics["roc_auc"]
    )
    assert "nested selection" in report["estimate_method"]
    assert "## Expected on new data" in card
    assert "Method: nested selection" in card
    assert "held-out rows" in card


def test_regression_leaderboard_and_metrics_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    frame = pd.DataFrame(rng.normal(size=(500, 4)), columns=list("abcd"))
    frame["price"] = 50_000 + 20_000 * frame["a"] + 5_000 * rng.normal(size=500)
    profile = profile_table(frame, target="price")
    plan = build_plan(profile, models=["ridge", "random_forest"], budget_s=6)

    result = train(frame, plan, profile=profile)

    winner = next(r for r in result.leaderboard if r.family == result.best_family)
    assert result.cv_metrics["root_mean_squared_error"] == pytest.approx(winner.score, rel=1e-9)


def test_permutation_importance_of_a_noise_column_is_near_zero_on_held_out_rows(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(7)
    n = 800
    frame = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n)})
    frame["y"] = 3 * frame["signal"] + rng.normal(scale=0.5, size=n)
    profile = profile_table(frame, target="y")
    plan = build_plan(profile, models=["random_forest"], budget_s=8, metric="r2")

    result = train(frame, plan, profile=profile)
    explanation = explain_result(result, frame, out_dir=tmp_path / "figures", time_limit_s=10)

    importance = {i.column: i.mean for i in explanation.importance}
    assert explanation.importance_source == "held-out rows"
    assert importance["signal"] > 0.5
    assert abs(importance["noise"]) < 0.02
