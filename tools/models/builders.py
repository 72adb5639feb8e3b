"""Estimator builders and row-count adjusters for the model families (:mod:`tools.models.families`).

A builder turns ``(task, params, seed, n_jobs)`` into an unfitted estimator; an adjuster
(``fit_to_rows``) changes parameters that depend on the number of training rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from tools.models.kinds import CLASSIFICATION, Params, Task


def _is_classification(task: str) -> bool:
    return task in CLASSIFICATION


def build_logistic(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """Logistic regression."""
    return LogisticRegression(random_state=seed, **params)


def build_linear(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """Ordinary least squares."""
    return LinearRegression(**params)


def build_ridge(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """Ridge regression."""
    return Ridge(random_state=seed, **params)


def build_lasso(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """Lasso regression (its target scaled)."""
    # alpha is relative to a standardised target, so one default suits any target scale.
    return TransformedTargetRegressor(
        regressor=Lasso(random_state=seed, **params), transformer=StandardScaler()
    )


def build_naive_bayes(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """Gaussian naive Bayes."""
    return GaussianNB(**params)


def build_lda(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """Linear discriminant analysis."""
    return LinearDiscriminantAnalysis(**params)


def build_knn(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """k-nearest neighbours, classifier or regressor."""
    cls = KNeighborsClassifier if _is_classification(task) else KNeighborsRegressor
    return cls(n_jobs=n_jobs, **params)


def knn_rows(params: Params, n_rows: int) -> Params:
    """No more neighbours than training rows."""
    return {**params, "n_neighbors": max(1, min(int(params.get("n_neighbors", 5)), n_rows))}


COARSE_BINS_BELOW_ROWS = 10_000
"""Boosters trained on fewer rows bin each feature into 64 values instead of 255."""


def coarse_bins(param: str, bins: int) -> Callable[[Params, int], Params]:
    """A ``fit_to_rows`` that sets the booster's histogram bins on small tables.

    With few rows, finding splits over 255 bins per feature dominates the fit (LightGBM on
    1,200 x 300: 4.2 s with 255 bins, 1.3 s with 63). On generated tables of 800 to 4,000
    rows (not the benchmark's), 5-fold scores with 64 bins were within noise of 255 for
    LightGBM, XGBoost and CatBoost at a third to a quarter of the time (bench/README.md).
    A tuned or user-set value is kept.
    """

    def fit(params: Params, n_rows: int) -> Params:
        if n_rows < COARSE_BINS_BELOW_ROWS:
            return {param: bins, **params}
        return params

    return fit


def mlp_rows(params: Params, n_rows: int) -> Params:
    """Early stopping on big tables only."""
    # On big tables, stop when a 10 % validation split stops improving: about 2x faster.
    # Below that it costs accuracy (digits: 0.934 -> 0.927), so small tables train fully.
    if n_rows >= 20_000:
        return {"early_stopping": True, "n_iter_no_change": 20, **params}
    return params


def build_svm(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """An RBF support vector classifier with calibrated probabilities."""
    # SVC(probability=True) is deprecated in scikit-learn 1.9; this is its replacement.
    return CalibratedClassifierCV(SVC(random_state=seed, **params), ensemble=False, cv=3)


def build_mlp(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """A multilayer perceptron that stops at the deadline."""
    from tools.models.stoppable import StoppableMLPClassifier, StoppableMLPRegressor

    if _is_classification(task):
        return StoppableMLPClassifier(random_state=seed, **params)
    return TransformedTargetRegressor(
        regressor=StoppableMLPRegressor(random_state=seed, **params), transformer=StandardScaler()
    )


def _forest_params(task: Task, params: Params) -> Params:
    # sqrt of the features per split for classification, half for regression: the usual
    # defaults, and several times cheaper than all features.
    return {"max_features": "sqrt" if _is_classification(task) else 0.5, **params}


def build_random_forest(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """A random forest that stops at the deadline."""
    from tools.models.stoppable import (
        StoppableRandomForestClassifier,
        StoppableRandomForestRegressor,
    )

    classification = _is_classification(task)
    cls = StoppableRandomForestClassifier if classification else StoppableRandomForestRegressor
    return cls(random_state=seed, n_jobs=n_jobs, **_forest_params(task, params))


def build_extra_trees(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """Extra trees that stop at the deadline."""
    from tools.models.stoppable import StoppableExtraTreesClassifier, StoppableExtraTreesRegressor

    classification = _is_classification(task)
    cls = StoppableExtraTreesClassifier if classification else StoppableExtraTreesRegressor
    return cls(random_state=seed, n_jobs=n_jobs, **_forest_params(task, params))


def build_xgboost(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """XGBoost that stops early and at the deadline."""
    from tools.models.stoppable import StoppableXGBClassifier, StoppableXGBRegressor

    cls = StoppableXGBClassifier if _is_classification(task) else StoppableXGBRegressor
    return cls(random_state=seed, n_jobs=n_jobs, tree_method="hist", verbosity=0, **params)


def build_lightgbm(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """LightGBM that stops early and at the deadline."""
    from tools.models.stoppable import StoppableLGBMClassifier, StoppableLGBMRegressor

    cls = StoppableLGBMClassifier if _is_classification(task) else StoppableLGBMRegressor
    return cls(
        random_state=seed,
        n_jobs=n_jobs,
        verbose=-1,
        deterministic=True,
        force_row_wise=True,
        **params,
    )


def build_catboost(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    """CatBoost that stops early and at the deadline."""
    from tools.models.stoppable import StoppableCatBoostClassifier, StoppableCatBoostRegressor

    classification = _is_classification(task)
    cls = StoppableCatBoostClassifier if classification else StoppableCatBoostRegressor
    # allow_writing_files=False: CatBoost would otherwise write catboost_info/ into the cwd.
    return cls(
        random_seed=seed,
        thread_count=n_jobs,
        verbose=False,
        allow_writing_files=False,
        **params,
    )
