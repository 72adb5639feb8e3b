"""Without time to refit, the shipped model is the average of the fold models, not one fold's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tools.search.automl as automl
from tools.analyze import profile_table
from tools.plan import build_plan
from tools.search.ensemble import EnsembleModel
from tools.search.train import train


def _table(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["churn"] = np.where(frame["a"] + 0.5 * rng.normal(size=n) > 0, "yes", "no")
    return frame


def test_a_search_without_refit_keeps_every_fold_model_and_averages_them() -> None:
    frame = _table()
    profile = profile_table(frame, target="churn")
    plan = build_plan(profile, models=["logistic_regression"], budget_s=5, folds=4)

    result = train(frame, plan, profile=profile, refit=False)

    assert result.model_source == "bagged"
    assert isinstance(result.model, EnsembleModel)
    assert len(result.fold_models) == 4
    rows = frame.drop(columns="churn").head(50)
    expected = np.mean([m.predict_proba(rows) for m in result.fold_models], axis=0)
    assert np.allclose(result.model.predict_proba(rows), expected)
    assert list(result.model.classes_) == ["no", "yes"]


def test_automl_ships_the_bagged_folds_when_the_refit_would_not_fit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # As on 1M rows with a short budget: every refit is estimated to take far too long.
    monkeypatch.setattr(automl, "_refit_ratio", lambda result: 1e6)
    frame = _table()
    profile = profile_table(frame, target="churn")
    plan = build_plan(profile, models=["logistic_regression", "random_forest"], budget_s=6)

    result = automl.fit_automl(frame, plan, profile=profile, tune=False)

    assert result.model_source == "bagged"
    assert isinstance(result.model, EnsembleModel)
    assert len(result.model.members_) == plan.folds
    assert any("average of its" in note for note in result.notes)
    predicted = result.model.predict(frame.drop(columns="churn"))
    assert set(predicted) <= {"yes", "no"}
    assert np.mean(predicted == frame["churn"]) > 0.75
