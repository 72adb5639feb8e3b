"""Short budgets cut a booster's rounds instead of skipping it; small tables use coarse bins."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tools.models.builders import COARSE_BINS_BELOW_ROWS
from tools.models.families import MODEL_FAMILIES
from tools.search.fewer_rounds import MIN_ROUNDS_SHARE, fewer_rounds


def test_rounds_shrink_to_the_time_left_and_the_rate_rises_in_step() -> None:
    lightgbm = MODEL_FAMILIES["lightgbm"]
    shorter = fewer_rounds(lightgbm, {}, needed_s=10.0, left_s=5.0)
    assert shorter is not None
    rounds = shorter.overrides["n_estimators"]
    assert rounds == int(200 * 0.9 * 0.5)
    assert shorter.overrides["learning_rate"] == pytest.approx(0.05 * 200 / rounds, rel=1e-3)
    assert shorter.share == pytest.approx(rounds / 200)
    assert f"{rounds} of its 200 rounds" in shorter.note


def test_time_held_for_the_current_best_refit_does_not_shrink() -> None:
    lightgbm = MODEL_FAMILIES["lightgbm"]
    shorter = fewer_rounds(lightgbm, {}, needed_s=10.0, held_s=2.0, left_s=10.0)
    assert shorter is not None
    assert shorter.overrides["n_estimators"] == int(200 * (0.9 * 10.0 - 2.0) / 10.0)
    assert fewer_rounds(lightgbm, {}, needed_s=7.0, held_s=2.0, left_s=10.0) is None


def test_nothing_is_cut_when_it_fits_is_set_or_would_be_too_little() -> None:
    lightgbm = MODEL_FAMILIES["lightgbm"]
    assert fewer_rounds(lightgbm, {}, needed_s=4.0, left_s=5.0) is None
    assert fewer_rounds(lightgbm, {"n_estimators": 500}, needed_s=10.0, left_s=5.0) is None
    # 0.9 x 3 s / 10 s: 27% of the rounds would fit, under the minimum share.
    assert fewer_rounds(lightgbm, {}, needed_s=10.0, left_s=10.0 * MIN_ROUNDS_SHARE) is None
    assert fewer_rounds(MODEL_FAMILIES["logistic_regression"], {}, needed_s=10, left_s=5) is None


def test_catboost_keeps_its_automatic_learning_rate() -> None:
    shorter = fewer_rounds(MODEL_FAMILIES["catboost"], {}, needed_s=10.0, left_s=6.0)
    assert shorter is not None
    assert set(shorter.overrides) == {"iterations"}


@pytest.mark.parametrize(
    ("family", "param", "bins"),
    [("lightgbm", "max_bin", 63), ("xgboost", "max_bin", 64), ("catboost", "border_count", 64)],
)
def test_small_tables_bin_coarsely_unless_told_otherwise(
    family: str, param: str, bins: int
) -> None:
    booster = MODEL_FAMILIES[family]
    small = booster.estimator("binary", n_rows=COARSE_BINS_BELOW_ROWS - 1).get_params()
    large = booster.estimator("binary", n_rows=COARSE_BINS_BELOW_ROWS).get_params()
    chosen = booster.estimator("binary", params={param: 16}, n_rows=100).get_params()
    assert small[param] == bins
    assert large.get(param) != bins
    assert chosen[param] == 16


@pytest.mark.parametrize(("prior", "runs"), [(3_000.0, True), (30_000.0, False)])
def test_the_search_cuts_rounds_or_skips_by_the_estimate(
    monkeypatch: pytest.MonkeyPatch, prior: float, runs: bool
) -> None:
    """With a frozen clock 60 s are always left: a prior that needs ~100 s runs with ~half
    the rounds; one that needs ~1,000 s is skipped."""
    from tools.analyze.profile import profile_table
    from tools.plan import build_plan
    from tools.search.train import train

    slow = dataclasses.replace(MODEL_FAMILIES["lightgbm"], seconds_per_million_cells=prior)
    monkeypatch.setitem(MODEL_FAMILIES, "lightgbm", slow)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 20))
    frame = pd.DataFrame(X, columns=[f"g{i}" for i in range(20)])
    frame["y"] = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    profile = profile_table(frame, target="y")
    plan = build_plan(profile, budget_s=60, models=["naive_bayes", "lightgbm"])
    result = train(frame, plan, profile=profile, clock=lambda: 0.0)
    lightgbm = next(r for r in result.leaderboard if r.family == "lightgbm")
    if runs:
        assert lightgbm.status == "ok"
        assert 60 <= lightgbm.params["n_estimators"] < 200
        assert lightgbm.params["learning_rate"] > 0.05
        assert "rounds to fit the time left" in lightgbm.message
    else:
        assert lightgbm.status == "skipped"
        assert "needs about" in lightgbm.message
