"""LightGBM's native categorical handling, used only where it beats ordinal codes in CV."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.analyze import profile_table
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


def test_the_native_flag_makes_lightgbm_split_on_categories() -> None:
    frame = _cities(300)
    columns = (("city", "categorical"), ("noise", "numeric"))
    infos = {}
    for native in (False, True):
        model = TabularModel(
            "lightgbm", "binary", columns, params={"native_categoricals": True} if native else None
        ).fit(frame[["city", "noise"]], frame["y"])
        booster = model.pipeline_.steps[-1][1].booster_
        infos[native] = booster.dump_model()["feature_infos"]["Column_1"]["values"]
        assert set(model.predict(frame.head(20))) <= {"yes", "no"}
    assert infos[False] == [] and len(infos[True]) >= 10  # categories, not a numeric range


def test_training_keeps_the_native_handling_only_when_cv_prefers_it() -> None:
    frame = _cities()
    profile = profile_table(frame, target="y")
    plan = build_plan(profile, models=["lightgbm"], budget_s=30, metric="roc_auc")

    result = train(frame, plan, profile=profile)

    row = result.leaderboard[0]
    said = [n for n in result.notes if "categor" in n and "LightGBM" in n]
    assert len(said) == 1, result.notes
    native = bool(row.params.get("native_categoricals"))
    assert ("split on the categorical columns' categories itself" in said[0]) == native
    # The shipped model is the variant that won.
    shipped = result.model.pipeline_.steps[-1][1]
    assert bool(getattr(shipped, "categorical_columns_", None)) == native
