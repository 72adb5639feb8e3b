"""LightGBM's and CatBoost's native categorical handling, used only where it beats ordinal
codes in cross-validation."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from tools.analyze import profile_table
from tools.deadline import Deadline
from tools.models.estimator import TabularModel
from tools.plan import build_plan
from tools.search.train import train


def _cities(n: int = 1_200, seed: int = 0) -> pd.DataFrame:
    # The target depends on the city alone, in an order ordinal codes (sorted names) scramble.
    rng = np.random.default_rng(seed)
    names = [f"city_{i:02d}" for i in range(15)]
    effect = dict(zip(names, rng.permutation(np.linspace(-2, 2, 15)), strict=True))
    city = rng.choice(names, n)
    noise = rng.normal(size=n)
    score = np.array([effect[c] for c in city]) + 0.5 * rng.normal(size=n)
    return pd.DataFrame({"city": city, "noise": noise, "y": np.where(score > 0, "yes", "no")})


_COLUMNS = (("city", "categorical"), ("noise", "numeric"))


def test_the_native_flag_makes_lightgbm_split_on_categories() -> None:
    frame = _cities(300)
    infos = {}
    for native in (False, True):
        model = TabularModel(
            "lightgbm", "binary", _COLUMNS, params={"native_categoricals": True} if native else None
        ).fit(frame[["city", "noise"]], frame["y"])
        booster = model.pipeline_.steps[-1][1].booster_
        infos[native] = list(booster.dump_model()["feature_infos"].values())[1]["values"]
        assert set(model.predict(frame.head(20))) <= {"yes", "no"}
        assert model.native_categories_ == (["city"] if native else [])
    assert infos[False] == [] and len(infos[True]) >= 10  # categories, not a numeric range


def test_the_native_flag_gives_catboost_the_categories() -> None:
    frame = _cities(300)
    model = TabularModel(
        "catboost", "binary", _COLUMNS, params={"native_categoricals": True, "iterations": 30}
    ).fit(frame[["city", "noise"]], frame["y"])
    # The numeric column comes first, then the city's codes, which CatBoost treats as categories.
    assert model.pipeline_.steps[-1][1].get_cat_feature_indices() == [1]
    assert model.native_categories_ == ["city"]
    unseen = pd.DataFrame({"city": ["city_03", "nowhere", None], "noise": [0.0, 1.0, 2.0]})
    assert set(model.predict(unseen)) <= {"yes", "no"}  # new and missing levels still predict
    assert model.predict_proba(unseen).shape == (3, 2)


@pytest.mark.parametrize(
    ("family", "label", "n_rows"), [("lightgbm", "LightGBM", 1_200), ("catboost", "CatBoost", 600)]
)
def test_training_keeps_the_native_handling_only_when_cv_prefers_it(
    family: str, label: str, n_rows: int
) -> None:
    frame = _cities(n_rows)
    profile = profile_table(frame, target="y")
    plan = build_plan(profile, models=[family], budget_s=30, metric="roc_auc")
    params = {"catboost": {"iterations": 100}} if family == "catboost" else None

    result = train(frame, plan, profile=profile, params=params)

    row = result.leaderboard[0]
    said = [n for n in result.notes if "categor" in n and label in n]
    assert len(said) == 1, result.notes
    native = bool(row.params.get("native_categoricals"))
    assert ("handled the categorical columns itself" in said[0]) == native
    # The shipped model is the variant that won.
    assert ("categories" in result.model.pipeline_.named_steps) == native


@pytest.mark.parametrize("family", ["lightgbm", "catboost"])
def test_native_fits_stop_at_the_deadline(family: str) -> None:
    frame = _cities(300)
    ticks = itertools.count()
    clock = lambda: float(next(ticks))  # noqa: E731  # moves one second per reading
    deadline = Deadline(clock() + 3, clock)  # three readings from now

    model = TabularModel(family, "binary", _COLUMNS, params={"native_categoricals": True}).fit(
        frame[["city", "noise"]], frame["y"], deadline=deadline
    )

    estimator = model.pipeline_.steps[-1][1]
    rounds = (
        estimator.tree_count_ if family == "catboost" else estimator.booster_.current_iteration()
    )
    assert "categories" in model.pipeline_.named_steps
    assert 1 <= rounds <= 4  # one reading per round, far short of the 200-300 it would do
