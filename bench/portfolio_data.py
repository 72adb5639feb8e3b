"""Generated datasets the warm-start portfolio is learned on, disjoint from the quality suite.

The quality benchmark (``bench/quality.py``) scores on scikit-learn's bundled datasets
and its own generated tables. Learning the portfolio on those would tune our defaults
on the rows we are scored on, so the portfolio is learned only here: other generators,
other shapes and other seeds (all >= 1000, none used by the suite), no bundled data.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from quality import Dataset
from sklearn import datasets as skd


def _classification(name: str, seed: int, n: int, features: int, classes: int) -> Dataset:
    X, y = skd.make_classification(
        n_samples=n,
        n_features=features,
        n_informative=max(2, features // 3),
        n_redundant=max(0, features // 6),
        n_classes=classes,
        n_clusters_per_class=1 if classes > 3 else 2,
        flip_y=0.05,
        random_state=seed,
    )
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(features)])
    frame["label"] = np.array([f"k{v}" for v in y])
    return Dataset(name, frame, "label", "binary" if classes == 2 else "multiclass")


def _friedman(name: str, seed: int, generator: Callable[..., tuple], n: int) -> Dataset:
    X, y = generator(n_samples=n, noise=1.0, random_state=seed)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["y"] = y
    return Dataset(name, frame, "y", "regression")


def _categorical_mix(name: str, seed: int, n: int, regression: bool) -> Dataset:
    rng = np.random.default_rng(seed)
    group = rng.choice([f"g{i}" for i in range(25)], n)
    effect = dict(zip([f"g{i}" for i in range(25)], rng.normal(0, 1, 25), strict=True))
    level = rng.choice(["low", "mid", "high"], n)
    x = rng.normal(size=(n, 5))
    signal = (
        np.vectorize(effect.get)(group)
        + np.where(level == "high", 0.8, 0.0)
        + x[:, 0] * x[:, 1]
        + np.sin(2 * x[:, 2])
    )
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(5)])
    frame["group"], frame["level"] = group, level
    frame.loc[rng.random(n) < 0.05, "x3"] = np.nan
    if regression:
        frame["y"] = signal + rng.normal(0, 0.5, n)
        return Dataset(name, frame, "y", "regression")
    frame["label"] = np.where(rng.random(n) < 1 / (1 + np.exp(-signal + 0.5)), "yes", "no")
    return Dataset(name, frame, "label", "binary")


PORTFOLIO_SUITE: dict[str, Callable[[], Dataset]] = {
    "gen_binary_a": lambda: _classification("gen_binary_a", 1001, 2000, 10, 2),
    "gen_binary_b": lambda: _classification("gen_binary_b", 1002, 1500, 40, 2),
    "gen_multi_a": lambda: _classification("gen_multi_a", 1003, 1500, 12, 4),
    "gen_multi_b": lambda: _classification("gen_multi_b", 1004, 1200, 25, 6),
    "gen_cat_binary": lambda: _categorical_mix("gen_cat_binary", 1005, 2500, regression=False),
    "gen_friedman1": lambda: _friedman("gen_friedman1", 1006, skd.make_friedman1, 2000),
    "gen_friedman2": lambda: _friedman("gen_friedman2", 1007, skd.make_friedman2, 1500),
    "gen_friedman3": lambda: _friedman("gen_friedman3", 1008, skd.make_friedman3, 1500),
    "gen_cat_regression": lambda: _categorical_mix(
        "gen_cat_regression", 1009, 2500, regression=True
    ),
}
