"""Without time to refit, the shipped model is the average of the fold models, not one fold's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

import tools.search.automl as automl
from tools.analyze.profile import profile_table
from tools.deadline import Deadline
from tools.plan import build_plan
from tools.search.ensemble import EnsembleModel
from tools.search.refit import refit_ratio, rows_exponent
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
    monkeypatch.setattr(automl, "refit_ratio", lambda n_rows, n_fold, exponent: 1e6)
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


_NOW = [0.0]
"""The fake clock of :class:`_SublinearFit` (a module global: ``clone`` copies parameters)."""


class _SublinearFit(BaseEstimator):
    """Its fit "takes" ``0.01 * rows ** 0.6`` seconds of the fake clock."""

    def fit(self, X: pd.DataFrame, y: pd.Series, *, deadline: object = None) -> _SublinearFit:
        _NOW[0] += 0.01 * len(X) ** 0.6
        return self


def test_the_refit_estimate_uses_measured_growth_with_rows() -> None:
    frame = _table()
    profile = profile_table(frame, target="churn")
    plan = build_plan(profile, budget_s=60)
    n_fold = 480
    exponent = rows_exponent(
        _SublinearFit(),
        frame,
        frame["churn"],
        n_fold=n_fold,
        fold_s=0.01 * n_fold**0.6,
        plan=plan,
        deadline=Deadline(_NOW[0] + 100.0, lambda: _NOW[0]),
    )

    assert exponent == pytest.approx(0.6, abs=0.01)
    # 200,000 rows after a 9,600-row fold: about 6x the fold time, not the 21x of a linear guess.
    assert refit_ratio(200_000, 9_600, exponent) == pytest.approx((200_000 / 9_600) ** 0.6)
    assert refit_ratio(200_000, 9_600, None) == pytest.approx(200_000 / 9_600)
