"""The model zoo: one scikit-learn ``Pipeline`` per model family.

Each family is a :class:`ModelFamily`: a name, the tasks it handles, a cost
rank (cheapest first), the groups a user can name ("tree", "linear",
"boosting", ...), default parameters, a builder that turns parameters into an
unfitted estimator, and an optional search space for tuning.

:func:`build_pipeline` puts the preprocessing a family needs in front of its
estimator, so cross-validation refits all of it on every fold and nothing
leaks. :class:`TabularModel` wraps one pipeline with label encoding and input
checks; it is the picklable object saved as ``model.joblib``.

Preprocessing by column kind (kinds come from the profile):

========================  ===============================  ==========================
kind                      scaled families (linear, kNN,    tree families
                          MLP, SVM, naive Bayes, LDA)      (forests, boosting)
========================  ===============================  ==========================
numeric                   median impute + indicator, scale  as is (NaN handled natively)
categorical / boolean     one-hot, <= 20 levels + "other"   ordinal, <= 64 levels + "other"
datetime                  year, month, day, weekday, hour,  same parts, unscaled
                          days since 1970; impute, scale
text                      length, words, 16 components of   the same
                          word 1-2 gram TF-IDF (LSA)
id / constant             dropped                           dropped
========================  ===============================  ==========================
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from tools.deadline import Deadline, fitting_until
from tools.encoders import count_levels, target_encoding_pipeline
from tools.errors import DataError, PlanError
from tools.features import DerivedFeatures, input_columns
from tools.imbalance import class_weight_params
from tools.target_transform import TARGET_TRANSFORMS, wrap_regressor
from tools.threads import capped

log = logging.getLogger(__name__)

Task = Literal["binary", "multiclass", "regression"]
ColumnKind = Literal["numeric", "categorical", "boolean", "datetime", "text", "id", "constant"]
Preprocessing = Literal["scaled", "tree"]
Params = dict[str, Any]

CLASSIFICATION: frozenset[str] = frozenset({"binary", "multiclass"})
REGRESSION: frozenset[str] = frozenset({"regression"})
ALL_TASKS: frozenset[str] = CLASSIFICATION | REGRESSION

MAX_ONE_HOT_LEVELS = 20
"""Most one-hot columns per categorical column; rarer levels share one "other" column."""
MAX_ORDINAL_LEVELS = 64
"""Most ordinal codes per categorical column for tree models; rarer levels share one code."""
USED_KINDS: frozenset[str] = frozenset({"numeric", "categorical", "boolean", "datetime", "text"})
"""Column kinds a pipeline uses; ``id`` and ``constant`` columns are dropped."""

TARGET_ENCODE_ABOVE_LEVELS: dict[str, int] = {
    "scaled": MAX_ONE_HOT_LEVELS,
    "tree": MAX_ONE_HOT_LEVELS,
}
"""Categorical columns with more levels than this (in the training rows) are target-encoded,
cross-fitted (:mod:`tools.encoders`), instead of one-hot or ordinal codes."""

_MISSING = "__missing__"
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
    search_space: Callable[[Any], Params] | None = None
    fit_to_rows: Callable[[Params, int], Params] | None = None
    """Adjust parameters to the number of training rows (see :meth:`estimator`)."""

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


# --- estimators ------------------------------------------------------------------


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
    from tools.stoppable import StoppableMLPClassifier, StoppableMLPRegressor

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
    from tools.stoppable import StoppableRandomForestClassifier, StoppableRandomForestRegressor

    classification = _is_classification(task)
    cls = StoppableRandomForestClassifier if classification else StoppableRandomForestRegressor
    return cls(random_state=seed, n_jobs=n_jobs, **_forest_params(task, params))


def _extra_trees(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    from tools.stoppable import StoppableExtraTreesClassifier, StoppableExtraTreesRegressor

    classification = _is_classification(task)
    cls = StoppableExtraTreesClassifier if classification else StoppableExtraTreesRegressor
    return cls(random_state=seed, n_jobs=n_jobs, **_forest_params(task, params))


def _xgboost(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    from tools.stoppable import StoppableXGBClassifier, StoppableXGBRegressor

    cls = StoppableXGBClassifier if _is_classification(task) else StoppableXGBRegressor
    return cls(random_state=seed, n_jobs=n_jobs, tree_method="hist", verbosity=0, **params)


def _lightgbm(task: Task, params: Params, seed: int, n_jobs: int) -> Any:
    from tools.stoppable import StoppableLGBMClassifier, StoppableLGBMRegressor

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
    from tools.stoppable import StoppableCatBoostClassifier, StoppableCatBoostRegressor

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


# --- search spaces (used by tuning; `trial` is an optuna.Trial) --------------------


def _space_logistic(trial: Any) -> Params:
    return {"C": trial.suggest_float("C", 1e-3, 1e2, log=True)}


def _space_ridge(trial: Any) -> Params:
    return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}


def _space_lasso(trial: Any) -> Params:
    return {"alpha": trial.suggest_float("alpha", 1e-5, 1.0, log=True)}


def _space_knn(trial: Any) -> Params:
    return {
        "n_neighbors": trial.suggest_int("n_neighbors", 3, 50, log=True),
        "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
    }


def _space_forest(trial: Any) -> Params:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 100, 500, log=True),
        "max_features": trial.suggest_float("max_features", 0.1, 1.0),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 20, log=True),
    }


def _space_xgboost(trial: Any) -> Params:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 1000, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 10),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10, log=True),
    }


def _space_lightgbm(trial: Any) -> Params:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 1000, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 2, 100, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "subsample_freq": 1,
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10, log=True),
    }


def _space_catboost(trial: Any) -> Params:
    return {
        "iterations": trial.suggest_int("iterations", 100, 1000, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "depth": trial.suggest_int("depth", 3, 8),
        "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 20, log=True),
    }


def _space_mlp(trial: Any) -> Params:
    width = trial.suggest_int("width", 16, 256, log=True)
    return {
        "hidden_layer_sizes": (width,) * trial.suggest_int("layers", 1, 2),
        "alpha": trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
        "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 1e-2, log=True),
    }


def _space_svm(trial: Any) -> Params:
    return {
        "C": trial.suggest_float("C", 1e-2, 1e2, log=True),
        "gamma": trial.suggest_float("gamma", 1e-4, 1.0, log=True),
    }


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
            seconds_per_million_cells=0.15,
        ),
        _family(
            "linear",
            "Linear regression",
            REGRESSION,
            0,
            ["linear", "simple"],
            "scaled",
            _linear,
            seconds_per_million_cells=0.2,
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
            seconds_per_million_cells=0.2,
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
            seconds_per_million_cells=1.5,
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
            seconds_per_million_cells=0.8,
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
            seconds_per_million_cells=0.5,
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
            cost_per_class=True,
            default_params={
                "n_estimators": 200,
                "learning_rate": 0.05,
                "num_leaves": 31,
                "min_child_samples": 10,
            },
            seconds_per_million_cells=5.0,
            search_space=_space_lightgbm,
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
            seconds_per_million_cells=40.0,
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
            seconds_per_million_cells=90.0,
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
            seconds_per_million_cells=8.0,
            search_space=_space_xgboost,
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
            cost_per_class=True,
            default_params={"iterations": 300, "depth": 6},
            seconds_per_million_cells=20.0,
            search_space=_space_catboost,
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
            seconds_per_million_cells=60.0,
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


# --- column transformers -----------------------------------------------------------


class _FrameTransformer(TransformerMixin, BaseEstimator):
    """Base of our column transformers: remember input names, emit float or object arrays."""

    def fit(self, X: Any, y: Any = None) -> _FrameTransformer:
        frame = _as_frame(X)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        self._fit_frame(frame)
        return self

    def _fit_frame(self, frame: pd.DataFrame) -> None:
        return None

    def _names(self, input_features: Any) -> list[str]:
        return [
            str(c)
            for c in (input_features if input_features is not None else self.feature_names_in_)
        ]


def _as_frame(X: Any) -> pd.DataFrame:
    return X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)


class NumericCoercer(_FrameTransformer):
    """Turn every column into float64; anything unparseable, and infinities, become NaN."""

    def transform(self, X: Any) -> np.ndarray:
        frame = _as_frame(X)
        out = np.empty(frame.shape, dtype=np.float64)
        for i, name in enumerate(frame.columns):
            values = pd.to_numeric(frame[name], errors="coerce")
            out[:, i] = (
                pd.Series(values).astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
            )
        out[np.isinf(out)] = np.nan
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self._names(input_features), dtype=object)


class CategoryEncoder(_FrameTransformer):
    """Encode categorical columns by their most frequent levels, fast on millions of rows.

    Values are compared as text, and a missing value is a level of its own.
    The ``max_levels`` most frequent levels of each column are kept (ties by
    name); rarer levels, and levels first seen at predict time, share one
    "other" level. ``one_hot=True`` emits one 0/1 column per kept level (plus
    "other" when the training data had rare levels); otherwise one ordinal
    code per column (levels in name order, "other" last).
    """

    def __init__(self, *, max_levels: int = MAX_ONE_HOT_LEVELS, one_hot: bool = True) -> None:
        self.max_levels = max_levels
        self.one_hot = one_hot

    def _fit_frame(self, frame: pd.DataFrame) -> None:
        self.levels_: list[pd.Index] = []
        self.has_other_: list[bool] = []
        for name in frame.columns:
            counts = _as_text(frame[name]).value_counts(sort=False)
            order = sorted(
                zip(counts.index, counts.to_numpy(), strict=True), key=lambda lc: (-lc[1], lc[0])
            )
            kept = sorted(level for level, _ in order[: self.max_levels])
            self.levels_.append(pd.Index(kept, dtype=object))
            self.has_other_.append(len(order) > len(kept))

    def transform(self, X: Any) -> np.ndarray:
        frame = _as_frame(X)
        blocks: list[np.ndarray] = []
        for name, levels, has_other in zip(
            frame.columns, self.levels_, self.has_other_, strict=True
        ):
            codes = pd.Categorical(_as_text(frame[name]), categories=levels).codes.astype(np.int64)
            other = len(levels)
            codes[codes < 0] = other
            if not self.one_hot:
                blocks.append(codes.astype(np.float64)[:, None])
                continue
            width = other + (1 if has_other else 0)
            block = np.zeros((len(codes), width + 1), dtype=np.float32)
            block[np.arange(len(codes)), codes] = 1.0
            blocks.append(block[:, :width])  # unseen levels without an "other" column: all zeros
        if not blocks:
            return np.empty((len(frame), 0))
        return np.hstack(blocks)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names: list[str] = []
        for name, levels, has_other in zip(
            self._names(input_features), self.levels_, self.has_other_, strict=True
        ):
            if not self.one_hot:
                names.append(name)
                continue
            names += [f"{name}_{level}" for level in levels]
            if has_other:
                names.append(f"{name}_other")
        return np.asarray(names, dtype=object)


def _as_text(column: pd.Series) -> pd.Series:
    if isinstance(column.dtype, pd.StringDtype):
        return column.fillna(_MISSING)
    return column.astype("string").fillna(_MISSING)


_DATE_PARTS = ("year", "month", "day", "dayofweek")


class DatetimeExpander(_FrameTransformer):
    """Expand each datetime column into numeric parts: year, month, day, weekday,
    hour (only if the training data has times of day), and days since 1970."""

    def _fit_frame(self, frame: pd.DataFrame) -> None:
        self.has_hour_ = [
            bool((_to_datetime(frame[c]).dt.hour.fillna(0) != 0).any()) for c in frame.columns
        ]

    def transform(self, X: Any) -> np.ndarray:
        frame = _as_frame(X)
        blocks: list[np.ndarray] = []
        for name, has_hour in zip(frame.columns, self.has_hour_, strict=True):
            when = _to_datetime(frame[name])
            parts = [getattr(when.dt, part) for part in _DATE_PARTS]
            if has_hour:
                parts.append(when.dt.hour)
            epoch = when.astype("datetime64[s]").astype("int64").astype(np.float64) / 86_400.0
            epoch[when.isna().to_numpy()] = np.nan
            for part in parts:
                blocks.append(
                    pd.Series(part).astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
                )
            blocks.append(np.asarray(epoch, dtype=np.float64))
        if not blocks:
            return np.empty((len(frame), 0))
        return np.column_stack(blocks)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names: list[str] = []
        for name, has_hour in zip(self._names(input_features), self.has_hour_, strict=True):
            parts = [*_DATE_PARTS, "hour"] if has_hour else list(_DATE_PARTS)
            names += [f"{name}__{part}" for part in [*parts, "days"]]
        return np.asarray(names, dtype=object)


def _to_datetime(column: pd.Series) -> pd.Series:
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return column
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(column, errors="coerce", utc=True)
    return parsed.dt.tz_localize(None)


class TextStats(_FrameTransformer):
    """Replace each free-text column by its length in characters and its word count."""

    def transform(self, X: Any) -> np.ndarray:
        frame = _as_frame(X)
        blocks: list[np.ndarray] = []
        for name in frame.columns:
            text = frame[name].astype("string")
            blocks.append(
                text.str.len().astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
            )
            words = text.str.split().str.len()
            blocks.append(words.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan))
        if not blocks:
            return np.empty((len(frame), 0))
        return np.column_stack(blocks)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(
            [f"{n}__{p}" for n in self._names(input_features) for p in ("chars", "words")],
            dtype=object,
        )


class TextNgrams(_FrameTransformer):
    """Word n-grams of each free-text column, as a few dense components.

    Per column: TF-IDF of words and word pairs seen in at least two rows (at most
    ``max_terms``), reduced to ``n_components`` by truncated SVD (latent semantic
    analysis), so every family, trees included, gets a small dense block. A column
    with too few repeated words gives no components.
    """

    def __init__(self, n_components: int = 16, max_terms: int = 2000) -> None:
        self.n_components = n_components
        self.max_terms = max_terms

    def _fit_frame(self, frame: pd.DataFrame) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.steps_: list[tuple[Any, Any] | None] = []
        for name in frame.columns:
            text = _text_values(frame[name])
            vectorizer = TfidfVectorizer(
                ngram_range=(1, 2), min_df=2, max_features=self.max_terms, sublinear_tf=True
            )
            try:
                terms = vectorizer.fit_transform(text)
            except ValueError:  # no word occurs twice
                self.steps_.append(None)
                continue
            k = min(self.n_components, terms.shape[1] - 1, len(text) - 1)
            if k < 1:
                self.steps_.append(None)
                continue
            svd = TruncatedSVD(n_components=k, random_state=0).fit(terms)
            self.steps_.append((vectorizer, svd))

    def transform(self, X: Any) -> np.ndarray:
        frame = _as_frame(X)
        blocks = [
            step[1].transform(step[0].transform(_text_values(frame[name])))
            for name, step in zip(frame.columns, self.steps_, strict=True)
            if step is not None
        ]
        return np.column_stack(blocks) if blocks else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = self._names(input_features)
        return np.asarray(
            [
                f"{name}__ngram{i}"
                for name, step in zip(names, self.steps_, strict=True)
                if step is not None
                for i in range(step[1].n_components)
            ],
            dtype=object,
        )


def _text_values(column: pd.Series) -> list[str]:
    return column.astype("string").fillna("").tolist()


def _preprocessor(
    style: Preprocessing,
    columns: Sequence[tuple[str, str]],
    *,
    target_encoded: Sequence[str] = (),
    task: Task = "binary",
    seed: int = 0,
) -> ColumnTransformer:
    by_kind: dict[str, list[str]] = {}
    for name, kind in columns:
        if kind in USED_KINDS:
            key = "categorical" if kind == "boolean" else kind
            if key == "categorical" and name in target_encoded:
                key = "target_encoded"
            by_kind.setdefault(key, []).append(name)
    scaled = style == "scaled"
    transformers: list[tuple[str, Any, list[str]]] = []
    if names := by_kind.get("numeric"):
        steps: list[tuple[str, Any]] = [("to_float", NumericCoercer())]
        if scaled:
            steps += [
                (
                    "impute",
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                ),
                ("scale", StandardScaler()),
            ]
        transformers.append(("numeric", Pipeline(steps), names))
    if names := by_kind.get("categorical"):
        encoder = CategoryEncoder(
            max_levels=MAX_ONE_HOT_LEVELS if scaled else MAX_ORDINAL_LEVELS, one_hot=scaled
        )
        transformers.append(("categorical", encoder, names))
    if names := by_kind.get("target_encoded"):
        encoding = target_encoding_pipeline(task, scaled=scaled, seed=seed)
        transformers.append(("target_encoded", encoding, names))
    if names := by_kind.get("text"):
        transformers.append(("text_ngrams", TextNgrams(), names))
    for kind, expander in (("datetime", DatetimeExpander), ("text", TextStats)):
        if names := by_kind.get(kind):
            steps = [("expand", expander())]
            if scaled:
                steps += [
                    ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                    ("scale", StandardScaler()),
                ]
            transformers.append((kind, Pipeline(steps), names))
    if not transformers:
        raise DataError("No usable feature columns are left (only IDs, constants or the target).")
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


def column_kinds(profile: Any, features: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``(name, kind)`` pairs for ``features``, kinds taken from ``profile``."""
    return tuple((name, str(profile.column(name).kind)) for name in features)


def _pipeline_for_kinds(
    family: str,
    task: Task,
    columns: Sequence[tuple[str, str]],
    *,
    params: Mapping[str, Any] | None,
    seed: int,
    n_jobs: int,
    n_rows: int | None = None,
    target_encoded: Sequence[str] = (),
) -> Pipeline:
    spec = get_family(family)
    estimator = spec.estimator(task, params=params, seed=seed, n_jobs=n_jobs, n_rows=n_rows)
    prep = _preprocessor(
        spec.preprocessing, columns, target_encoded=target_encoded, task=task, seed=seed
    )
    return Pipeline([("prep", prep), ("model", estimator)])


def build_pipeline(
    family: str,
    task: Task,
    profile: Any,
    features: list[str],
    *,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    n_jobs: int = 1,
) -> Pipeline:
    """An unfitted pipeline (preprocessing + estimator) for ``family`` on ``features``.

    The pipeline expects a DataFrame with the original columns and, for
    classification, integer-encoded labels (use :class:`TabularModel` to get
    label encoding for free).
    """
    return _pipeline_for_kinds(
        family, task, column_kinds(profile, features), params=params, seed=seed, n_jobs=n_jobs
    )


def encoded_width(
    columns: Sequence[tuple[str, str]],
    *,
    preprocessing: Preprocessing,
    n_unique: Mapping[str, int] | None = None,
) -> int:
    """Roughly how many numeric features a pipeline feeds its estimator (for cost estimates)."""
    width = 0
    for name, kind in columns:
        if kind == "numeric":
            width += 2 if preprocessing == "scaled" else 1
        elif kind in {"categorical", "boolean"}:
            levels = (n_unique or {}).get(name, MAX_ONE_HOT_LEVELS)
            high = levels > TARGET_ENCODE_ABOVE_LEVELS[preprocessing]
            width += (
                min(levels, MAX_ONE_HOT_LEVELS) if preprocessing == "scaled" and not high else 1
            )
        elif kind == "datetime":
            width += 6
        elif kind == "text":
            width += 2 + TextNgrams().n_components
    return max(width, 1)


# --- the saved model -----------------------------------------------------------------


class TabularModel(BaseEstimator):
    """A fitted model that takes a raw DataFrame with the original columns.

    Parameters are only stored by ``__init__`` (scikit-learn contract).
    ``derived`` holds ``(name, expression)`` pairs (:mod:`tools.features`) computed
    by the pipeline's first step; list them in ``columns`` as numeric. After
    :meth:`fit`: ``pipeline_``, ``input_columns_`` (original columns only), ``classes_``
    (classification only, original labels, the column order of
    :meth:`predict_proba`), ``task_``, ``target_``, ``family_``,
    ``target_encoded_`` (categorical columns target-encoded for having many
    levels), ``target_transform_``.

    ``target_transform`` (regression: ``"none"``, ``"log"``, ``"quantile"``,
    see :mod:`tools.target_transform`) fits the whole pipeline on the
    transformed target and inverts its predictions. ``class_weight``
    (``"balanced"``; also accepted as ``params["class_weight"]``) weights
    classes equally where the family can (:mod:`tools.imbalance`). A binary
    model with a ``threshold_`` (set after fitting, e.g. the F1-best cut on
    out-of-fold probabilities) predicts the second class when its probability
    is at least ``threshold_``. ``positive_class`` (binary only) names the class
    put second in ``classes_`` (see :mod:`tools.classes`); without it the labels
    are sorted.
    """

    def __init__(
        self,
        family: str = "lightgbm",
        task: Task = "binary",
        columns: tuple[tuple[str, str], ...] = (),
        *,
        params: dict[str, Any] | None = None,
        seed: int = 0,
        n_jobs: int = 1,
        target: str | None = None,
        derived: tuple[tuple[str, str], ...] = (),
        target_transform: str = "none",
        class_weight: str | None = None,
        positive_class: str | None = None,
    ) -> None:
        self.family = family
        self.task = task
        self.columns = columns
        self.params = params
        self.seed = seed
        self.n_jobs = n_jobs
        self.target = target
        self.derived = derived
        self.target_transform = target_transform
        self.class_weight = class_weight
        self.positive_class = positive_class

    @classmethod
    def for_profile(
        cls,
        family: str,
        profile: Any,
        features: Sequence[str],
        *,
        task: Task | None = None,
        params: dict[str, Any] | None = None,
        seed: int = 0,
        n_jobs: int = 1,
        target_transform: str = "none",
        class_weight: str | None = None,
    ) -> TabularModel:
        """An unfitted model for ``features`` whose column kinds come from ``profile``."""
        return cls(
            family=family,
            task=task or profile.task,
            columns=column_kinds(profile, features),
            params=params,
            seed=seed,
            n_jobs=n_jobs,
            target=profile.target,
            target_transform=target_transform,
            class_weight=class_weight,
        )

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier" if self.task in CLASSIFICATION else "regressor"
        return tags

    def fit(
        self, X: pd.DataFrame, y: pd.Series, *, deadline: Deadline | None = None
    ) -> TabularModel:
        """Fit the pipeline on ``X`` (original columns) and ``y`` (original labels or values).

        With a ``deadline``, the estimator stops when it passes and keeps what it has
        learned (boosting rounds, epochs, trees; see :mod:`tools.stoppable`).
        """
        if self.task not in ALL_TASKS:
            raise PlanError(f"Unknown task “{self.task}”; use binary, multiclass or regression.")
        used = [(name, kind) for name, kind in self.columns if kind in USED_KINDS]
        self.input_columns_ = input_columns([name for name, _ in used], self.derived)
        frame = self._select(X)
        if len(frame) != len(y):
            raise DataError(f"The table has {len(frame)} rows but the target has {len(y)} values.")
        target = y.to_numpy() if isinstance(y, pd.Series) else np.asarray(y)
        if self.task in CLASSIFICATION:
            codes, uniques = pd.factorize(pd.Series(target), sort=True, use_na_sentinel=True)
            if (codes < 0).any():
                raise DataError("The target has missing values; drop those rows before fitting.")
            if len(uniques) < 2:
                raise DataError(
                    "The target has only one class in these rows; a classifier needs at least two."
                )
            self.classes_ = np.asarray(uniques)
            encoded: np.ndarray = codes.astype(np.int64)
            if self.task == "binary" and self.positive_class is not None:
                from tools.classes import match_class

                positive = match_class(uniques, self.positive_class, target=self.target or "")
                if positive == uniques[0]:  # the positive class goes second
                    self.classes_ = self.classes_[::-1].copy()
                    encoded = 1 - encoded
        else:
            encoded = pd.to_numeric(pd.Series(target), errors="coerce").to_numpy(dtype=np.float64)
            if np.isnan(encoded).any():
                raise DataError(
                    "The target has missing or non-numeric values; a regression needs numbers."
                )
        transform = self.target_transform if self.task not in CLASSIFICATION else "none"
        if transform not in TARGET_TRANSFORMS:
            raise PlanError(
                f"Unknown target transform “{transform}”; use {', '.join(TARGET_TRANSFORMS)}."
            )
        params = dict(self.params or {})
        weighting = params.pop("class_weight", self.class_weight)
        if self.task in CLASSIFICATION:
            params.update(class_weight_params(self.family, self.task, weighting, encoded))
        limit = TARGET_ENCODE_ABOVE_LEVELS[get_family(self.family).preprocessing]
        categorical = [name for name, kind in used if kind in {"categorical", "boolean"}]
        levels = count_levels(frame, categorical)
        self.target_encoded_ = [name for name in categorical if levels[name] > limit]
        pipeline = _pipeline_for_kinds(
            self.family,
            self.task,
            used,
            params=params or None,
            seed=self.seed,
            n_jobs=self.n_jobs,
            n_rows=len(frame),
            target_encoded=self.target_encoded_,
        )
        if self.derived:
            derive = ("derive", DerivedFeatures(tuple(self.derived)))
            pipeline = Pipeline([derive, *pipeline.steps])
        self.pipeline_ = wrap_regressor(pipeline, transform, n_rows=len(frame), seed=self.seed)
        with warnings.catch_warnings(), fitting_until(deadline), capped(self.n_jobs or 1):
            warnings.simplefilter("ignore")
            self.pipeline_.fit(frame, encoded)
        self.target_transform_ = transform
        self.task_ = self.task
        self.target_ = self.target
        self.family_ = self.family
        return self

    def _select(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise DataError("The model needs a table (a pandas DataFrame) with named columns.")
        missing = [name for name in self.input_columns_ if name not in X.columns]
        if missing:
            shown = ", ".join(f"“{name}”" for name in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise DataError(
                f"The table is missing columns the model was trained on: {shown}{more}. Add them and try again."
            )
        return X.loc[:, self.input_columns_]

    def _check_fitted(self) -> None:
        if not hasattr(self, "pipeline_"):
            raise DataError("This model has not been trained yet; call fit first.")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predictions in the target's original labels (classification) or units (regression)."""
        self._check_fitted()
        threshold = getattr(self, "threshold_", None)
        if threshold is not None and self.task_ == "binary":
            return self.classes_[(self.predict_proba(X)[:, 1] >= threshold).astype(np.int64)]
        frame = self._select(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = np.asarray(self.pipeline_.predict(frame)).reshape(len(frame), -1)[:, 0]
        if self.task_ in CLASSIFICATION:
            return self.classes_[raw.astype(np.int64)]
        return raw.astype(np.float64)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one column per entry of ``classes_``, in that order."""
        self._check_fitted()
        if self.task_ not in CLASSIFICATION:
            raise DataError("Probabilities exist only for classification models.")
        frame = self._select(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proba = np.asarray(self.pipeline_.predict_proba(frame), dtype=np.float64)
        proba /= proba.sum(axis=1, keepdims=True)  # float32 models sum to 1 only within 1e-7
        fitted = np.asarray(self.pipeline_.classes_).astype(np.int64)
        if proba.shape[1] == len(self.classes_) and np.array_equal(
            fitted, np.arange(len(self.classes_))
        ):
            return proba
        full = np.zeros((len(frame), len(self.classes_)))
        full[:, fitted] = proba
        return full
