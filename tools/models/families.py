"""The model zoo: one :class:`ModelFamily` per kind of model.

Each family has a name, the tasks it handles, a cost rank (cheapest first), the
groups a user can name ("tree", "linear", "boosting", ...), default parameters,
a builder that turns parameters into an unfitted estimator
(:mod:`tools.models.builders`), a prior fit-time estimate for budgeting, and an
optional search space for tuning (:mod:`tools.models.spaces`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tools.errors import PlanError
from tools.models.builders import (
    build_catboost,
    build_extra_trees,
    build_knn,
    build_lasso,
    build_lda,
    build_lightgbm,
    build_linear,
    build_logistic,
    build_mlp,
    build_naive_bayes,
    build_random_forest,
    build_ridge,
    build_svm,
    build_xgboost,
    coarse_bins,
    knn_rows,
    mlp_rows,
)
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
            build_naive_bayes,
            seconds_per_million_cells=0.08,
        ),
        _family(
            "linear",
            "Linear regression",
            REGRESSION,
            0,
            ["linear", "simple"],
            "scaled",
            build_linear,
            seconds_per_million_cells=0.08,
        ),
        _family(
            "ridge",
            "Ridge regression",
            REGRESSION,
            1,
            ["linear", "simple"],
            "scaled",
            build_ridge,
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
            build_lda,
            seconds_per_million_cells=0.4,
        ),
        _family(
            "lasso",
            "Lasso regression",
            REGRESSION,
            2,
            ["linear", "simple"],
            "scaled",
            build_lasso,
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
            build_logistic,
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
            build_lightgbm,
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
            fit_to_rows=coarse_bins("max_bin", 63),
        ),
        _family(
            "extra_trees",
            "Extra trees",
            ALL_TASKS,
            4,
            ["tree", "forest"],
            "tree",
            build_extra_trees,
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
            build_random_forest,
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
            build_xgboost,
            cost_per_class=True,
            default_params={"n_estimators": 200, "learning_rate": 0.08, "max_depth": 6},
            seconds_per_million_cells=4.5,
            stops_at_deadline=True,
            rounds_param="n_estimators",
            rate_param="learning_rate",
            search_space=_space_xgboost,
            fit_to_rows=coarse_bins("max_bin", 64),
        ),
        _family(
            "knn",
            "k-nearest neighbours",
            ALL_TASKS,
            7,
            ["neighbors", "simple"],
            "scaled",
            build_knn,
            default_params={"n_neighbors": 15, "weights": "distance"},
            seconds_per_million_cells=1.0,
            quadratic_in_rows=True,
            max_rows=300_000,
            search_space=_space_knn,
            fit_to_rows=knn_rows,
        ),
        _family(
            "catboost",
            "CatBoost",
            ALL_TASKS,
            8,
            ["tree", "boosting"],
            "tree",
            build_catboost,
            native_categories=True,
            categories_param="cat_features",
            native_cost=3.0,  # ordered target statistics: measured 1.6x to 4.6x on 4 tables
            cost_per_class=True,
            default_params={"iterations": 300, "depth": 6},
            seconds_per_million_cells=11.0,
            stops_at_deadline=True,
            rounds_param="iterations",
            search_space=_space_catboost,
            fit_to_rows=coarse_bins("border_count", 64),
        ),
        _family(
            "mlp",
            "Neural network (MLP)",
            ALL_TASKS,
            9,
            ["neural"],
            "scaled",
            build_mlp,
            default_params={"hidden_layer_sizes": (64,), "max_iter": 200, "alpha": 1e-4},
            seconds_per_million_cells=15.0,
            stops_at_deadline=True,
            search_space=_space_mlp,
            fit_to_rows=mlp_rows,
        ),
        _family(
            "svm",
            "Support vector machine",
            CLASSIFICATION,
            10,
            ["kernel"],
            "scaled",
            build_svm,
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
