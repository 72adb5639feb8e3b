"""The model zoo: one :class:`ModelFamily` per kind of model.

Each family has a name, the tasks it handles, a cost rank (cheapest first), the
groups a user can name ("tree", "linear", "boosting", ...), default parameters,
a builder that turns parameters into an unfitted estimator, a prior fit-time
estimate for budgeting, and an optional search space for tuning
(:mod:`tools.models.spaces`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from tools.errors import PlanError
from tools.models.kinds import ALL_TASKS, CLASSIFICATION, REGRESSION, Params, Preprocessing, Task
from tools.models.spaces import (
    _space_catboost,
    _space_forest,
    _space_knn,
    _space_lasso,
    _space_lightgbm,
    _space_logistic,
    _space_mlp,
    _space_ridge,
    _space_svm,
    _space_xgboost,
)

_PREPROCESSING_S_PER_CELL = {"scaled": 1.0e-6, "tree": 0.4e-6}
"""Measured seconds per (row x original column) to fit and apply each preprocessing."""


@dataclass(frozen=True, slots=True)
class ModelFamily:
    """One kind of model the engine can train.

    ``builder(task, params, seed, n_jobs)`` returns an unfitted estimator;
    ``params`` already holds the defaults merged with any overrides.
    ``search_space(trial)`` (an Optuna trial) returns parameters to try.
    """

    name: str
    label: str
    tasks: frozenset[str]
    cost_rank: int
    """Relative cost on typical data; candidates run cheapest first."""
    groups: frozenset[str]
    preprocessing: Preprocessing
    builder: Callable[[Task, Params, int, int], Any]
    default_params: Mapping[str, Any] = field(default_factory=dict)
    seconds_per_million_cells: float = 1.0
    """Prior fit time per million (rows x encoded features) cells on one core, for budgeting."""
    quadratic_in_rows: bool = False
    """Fit (or predict) time grows with rows squared (SVM, kNN) rather than linearly."""
    max_rows: int | None = None
    """Above this many training rows the family is skipped as too slow."""
    cost_per_class: bool = False
    """Multiclass fits build one model per class (boosting), so cost grows with the classes."""
    stops_at_deadline: bool = False
    """Its estimator stops at the active deadline and keeps what it learned
    (:mod:`tools.models.stoppable`); other families' fits run to the end."""
    search_space: Callable[[Any], Params] | None = None
    fit_to_rows: Callable[[Params, int], Params] | None = None
    """Adjust parameters to the number of training rows (see :meth:`estimator`)."""
    native_categories: bool = False
    """Handles categorical columns itself when they arrive as pandas categories (tried where
    ``params["native_categoricals"]``; see :class:`tools.models.preprocessing.CategoryColumns`)."""
    categories_param: str | None = None
    """The constructor parameter that must list those columns' positions (CatBoost's
    ``cat_features``; LightGBM reads the dtype)."""
    native_cost: float = 1.0
    """Fit time with native categories over fit time with ordinal codes, for budgeting."""
    rounds_param: str | None = None
    """The parameter counting boosting rounds or trees, which fit time grows with; a short
    budget may lower it (:mod:`tools.search.fewer_rounds`)."""
    rate_param: str | None = None
    """The learning rate, raised as rounds are lowered (when set in the parameters)."""

    def supports(self, task: str) -> bool:
        """Whether this family can be trained for ``task``."""
        return task in self.tasks

    def estimator(
        self,
        task: Task,
        *,
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
        n_jobs: int = 1,
        n_rows: int | None = None,
    ) -> Any:
        """An unfitted estimator with the defaults overridden by ``params``.

        ``n_rows`` (the training rows, when known) lets a family shrink settings
        that cannot exceed the data, such as kNN's neighbour count.
        """
        if not self.supports(task):
            raise PlanError(f"{self.label} cannot be used for {task} tasks.")
        merged = {**self.default_params, **(params or {})}
        if n_rows is not None and self.fit_to_rows is not None:
            merged = self.fit_to_rows(merged, n_rows)
        return self.builder(task, merged, seed, n_jobs)

    def estimate_fit_s(
        self, n_rows: int, n_features: int, *, n_columns: int = 0, n_classes: int = 2
    ) -> float:
        """A prior guess of one fit's wall time in seconds (before any measurement).

        ``n_features`` is the encoded width the estimator sees, ``n_columns`` the
        original columns the preprocessing reads. Priors were measured on 2 busy
        cores (one thread), so they err on the slow side.
        """
        cells = n_rows * max(n_features, 1) / 1e6
        scale = n_rows / 10_000 if self.quadratic_in_rows else 1.0
        preprocessing = n_rows * n_columns * _PREPROCESSING_S_PER_CELL[self.preprocessing]
        per_class = n_classes if self.cost_per_class and n_classes > 2 else 1
        return self.seconds_per_million_cells * cells * max(scale, 1.0) * per_class + preprocessing


def _is_classification(task: str) -> bool:
    return task in CLASSIFICATION


def _logistic(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    return LogisticRegression(random_state=seed, **params)


def _linear(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    return LinearRegression(**params)


def _ridge(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    return Ridge(random_state=seed, **params)


def _lasso(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    # alpha is relative to a standardised target, so one default suits any target scale.
    return TransformedTargetRegressor(
        regressor=Lasso(random_state=seed, **params), transformer=StandardScaler()
    )


def _naive_bayes(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    return GaussianNB(**params)


def _lda(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    return LinearDiscriminantAnalysis(**params)


def _knn(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    cls = KNeighborsClassifier if _is_classification(task) else KNeighborsRegressor
    return cls(n_jobs=n_jobs, **params)


def _knn_rows(params: Params, n_rows: int) -> Params:
    return {**params, "n_neighbors": max(1, min(int(params.get("n_neighbors", 5)), n_rows))}


COARSE_BINS_BELOW_ROWS = 10_000
"""Boosters trained on fewer rows bin each feature into 64 values instead of 255."""


def _coarse_bins(param: str, bins: int) -> Callable[[Params, int], Params]:
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


def _mlp_rows(params: Params, n_rows: int) -> Params:
    # On big tables, stop when a 10 % validation split stops improving: about 2x faster.
    # Below that it costs accuracy (digits: 0.934 -> 0.927), so small tables train fully.
    if n_rows >= 20_000:
        return {"early_stopping": True, "n_iter_no_change": 20, **params}
    return params


def _svm(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    # SVC(probability=True) is deprecated in scikit-learn 1.9; this is its replacement.
    return CalibratedClassifierCV(SVC(random_state=seed, **params), ensemble=False, cv=3)


def _mlp(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
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


def _random_forest(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    from tools.models.stoppable import (
        StoppableRandomForestClassifier,
        StoppableRandomForestRegressor,
    )

    classification = _is_classification(task)
    cls = StoppableRandomForestClassifier if classification else StoppableRandomForestRegressor
    return cls(random_state=seed, n_jobs=n_jobs, **_forest_params(task, params))


def _extra_trees(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    from tools.models.stoppable import StoppableExtraTreesClassifier, StoppableExtraTreesRegressor

    classification = _is_classification(task)
    cls = StoppableExtraTreesClassifier if classification else StoppableExtraTreesRegressor
    return cls(random_state=seed, n_jobs=n_jobs, **_forest_params(task, params))


def _xgboost(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    from tools.models.stoppable import StoppableXGBClassifier, StoppableXGBRegressor

    cls = StoppableXGBClassifier if _is_classification(task) else StoppableXGBRegressor
    return cls(random_state=seed, n_jobs=n_jobs, tree_method="hist", verbosity=0, **params)


def _lightgbm(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
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


def _catboost(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
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


def _family(
    name: str,
    label: str,
    tasks: frozenset[str],
    rank: int,
    groups: Sequence[str],
    preprocessing: Preprocessing,
    builder: Callable[[Task, Params, int, int], Any],
    **kwargs: Any,
) -> ModelFamily:
    return ModelFamily(
        name=name,
        label=label,
        tasks=tasks,
        cost_rank=rank,
        groups=frozenset(groups),
        preprocessing=preprocessing,
        builder=builder,
        **kwargs,
    )


MODEL_FAMILIES: dict[str, ModelFamily] = {
    family.name: family
    for family in (
        _family(
            "naive_bayes",
            "Naive Bayes",
            CLASSIFICATION,
            0,
            ["bayes", "simple"],
            "scaled",
            _naive_bayes,
            seconds_per_million_cells=0.08,
        ),
        _family(
            "linear",
            "Linear regression",
            REGRESSION,
            0,
            ["linear", "simple"],
            "scaled",
            _linear,
            seconds_per_million_cells=0.08,
        ),
        _family(
            "ridge",
            "Ridge regression",
            REGRESSION,
            1,
            ["linear", "simple"],
            "scaled",
            _ridge,
            default_params={"alpha": 1.0},
            seconds_per_million_cells=0.08,
            search_space=_space_ridge,
        ),
        _family(
            "lda",
            "Linear discriminant analysis",
            CLASSIFICATION,
            1,
            ["linear", "bayes", "simple"],
            "scaled",
            _lda,
            seconds_per_million_cells=0.4,
        ),
        _family(
            "lasso",
            "Lasso regression",
            REGRESSION,
            2,
            ["linear", "simple"],
            "scaled",
            _lasso,
            default_params={"alpha": 0.001, "max_iter": 2000},
            seconds_per_million_cells=0.2,
            search_space=_space_lasso,
        ),
        _family(
            "logistic_regression",
            "Logistic regression",
            CLASSIFICATION,
            2,
            ["linear", "simple"],
            "scaled",
            _logistic,
            default_params={"C": 1.0, "max_iter": 500},
            seconds_per_million_cells=0.25,
            search_space=_space_logistic,
        ),
        _family(
            "lightgbm",
            "LightGBM",
            ALL_TASKS,
            3,
            ["tree", "boosting"],
            "tree",
            _lightgbm,
            native_categories=True,
            cost_per_class=True,
            default_params={
                "n_estimators": 200,
                "learning_rate": 0.05,
                "num_leaves": 31,
                "min_child_samples": 10,
            },
            seconds_per_million_cells=4.0,
            stops_at_deadline=True,
            rounds_param="n_estimators",
            rate_param="learning_rate",
            search_space=_space_lightgbm,
            fit_to_rows=_coarse_bins("max_bin", 63),
        ),
        _family(
            "extra_trees",
            "Extra trees",
            ALL_TASKS,
            4,
            ["tree", "forest"],
            "tree",
            _extra_trees,
            default_params={"n_estimators": 200},
            seconds_per_million_cells=16.0,
            stops_at_deadline=True,
            rounds_param="n_estimators",
            search_space=_space_forest,
        ),
        _family(
            "random_forest",
            "Random forest",
            ALL_TASKS,
            5,
            ["tree", "forest"],
            "tree",
            _random_forest,
            default_params={"n_estimators": 200},
            seconds_per_million_cells=35.0,
            stops_at_deadline=True,
            rounds_param="n_estimators",
            search_space=_space_forest,
        ),
        _family(
            "xgboost",
            "XGBoost",
            ALL_TASKS,
            6,
            ["tree", "boosting"],
            "tree",
            _xgboost,
            cost_per_class=True,
            default_params={"n_estimators": 200, "learning_rate": 0.08, "max_depth": 6},
            seconds_per_million_cells=4.5,
            stops_at_deadline=True,
            rounds_param="n_estimators",
            rate_param="learning_rate",
            search_space=_space_xgboost,
            fit_to_rows=_coarse_bins("max_bin", 64),
        ),
        _family(
            "knn",
            "k-nearest neighbours",
            ALL_TASKS,
            7,
            ["neighbors", "simple"],
            "scaled",
            _knn,
            default_params={"n_neighbors": 15, "weights": "distance"},
            seconds_per_million_cells=1.0,
            quadratic_in_rows=True,
            max_rows=300_000,
            search_space=_space_knn,
            fit_to_rows=_knn_rows,
        ),
        _family(
            "catboost",
            "CatBoost",
            ALL_TASKS,
            8,
            ["tree", "boosting"],
            "tree",
            _catboost,
            native_categories=True,
            categories_param="cat_features",
            native_cost=3.0,  # ordered target statistics: measured 1.6x to 4.6x on 4 tables
            cost_per_class=True,
            default_params={"iterations": 300, "depth": 6},
            seconds_per_million_cells=11.0,
            stops_at_deadline=True,
            rounds_param="iterations",
            search_space=_space_catboost,
            fit_to_rows=_coarse_bins("border_count", 64),
        ),
        _family(
            "mlp",
            "Neural network (MLP)",
            ALL_TASKS,
            9,
            ["neural"],
            "scaled",
            _mlp,
            default_params={"hidden_layer_sizes": (64,), "max_iter": 200, "alpha": 1e-4},
            seconds_per_million_cells=15.0,
            stops_at_deadline=True,
            search_space=_space_mlp,
            fit_to_rows=_mlp_rows,
        ),
        _family(
            "svm",
            "Support vector machine",
            CLASSIFICATION,
            10,
            ["kernel"],
            "scaled",
            _svm,
            default_params={"C": 1.0},
            seconds_per_million_cells=5.0,
            quadratic_in_rows=True,
            max_rows=20_000,
            search_space=_space_svm,
        ),
    )
}

GROUPS: dict[str, tuple[str, ...]] = {
    group: tuple(name for name, family in MODEL_FAMILIES.items() if group in family.groups)
    for group in sorted({g for family in MODEL_FAMILIES.values() for g in family.groups})
}
"""Group name -> family names, e.g. ``GROUPS["boosting"] == ("lightgbm", "xgboost", "catboost")``."""


def families_for(task: str) -> list[str]:
    """Names of the families that handle ``task``, cheapest first."""
    return [
        f.name
        for f in sorted(MODEL_FAMILIES.values(), key=lambda f: (f.cost_rank, f.name))
        if f.supports(task)
    ]


def get_family(name: str) -> ModelFamily:
    """The family called ``name``; a :class:`PlanError` lists the known ones otherwise."""
    try:
        return MODEL_FAMILIES[name]
    except KeyError:
        known = ", ".join(sorted(MODEL_FAMILIES))
        raise PlanError(f"There is no model called “{name}”. Known models: {known}.") from None
