"""The saved estimator: :class:`TabularModel` wraps one family's pipeline with label
encoding, input checks, the target transform and the F1 threshold.

It is the picklable object inside ``model.joblib``; a pickle names it by this
module's path (``tools.models.estimator.TabularModel``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from tools.deadline import Deadline, fitting_until
from tools.errors import DataError, PlanError
from tools.features import DerivedFeatures, input_columns
from tools.imbalance import class_weight_params
from tools.models.encoders import count_levels
from tools.models.families import MODEL_FAMILIES, get_family
from tools.models.kinds import ALL_TASKS, CLASSIFICATION, USED_KINDS, Task
from tools.models.preprocessing import TARGET_ENCODE_ABOVE_LEVELS, _pipeline_for_kinds, column_kinds
from tools.models.target import TARGET_TRANSFORMS, wrap_regressor
from tools.threads import capped

NATIVE_CATEGORICAL_FAMILIES = frozenset(
    name for name, family in MODEL_FAMILIES.items() if family.native_categories
)
"""Families that can handle categories themselves (``params["native_categoricals"]``)."""


class TabularModel(BaseEstimator):
    """A fitted model that takes a raw DataFrame with the original columns.

    Parameters are only stored by ``__init__`` (scikit-learn contract).
    ``derived`` holds ``(name, expression)`` pairs (:mod:`tools.features`) computed
    by the pipeline's first step; list them in ``columns`` as numeric. After
    :meth:`fit`: ``pipeline_``, ``input_columns_`` (original columns only), ``classes_``
    (classification only, original labels, the column order of
    :meth:`predict_proba`), ``task_``, ``target_``, ``family_``,
    ``target_encoded_`` (categorical columns target-encoded for having many
    levels), ``native_categories_`` (categorical columns the family handled itself,
    ``params["native_categoricals"]``), ``target_transform_``.

    ``target_transform`` (regression: ``"none"``, ``"log"``, ``"quantile"``,
    see :mod:`tools.search.target_transform`) fits the whole pipeline on the
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
        learned (boosting rounds, epochs, trees; see :mod:`tools.models.stoppable`).
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
        native = bool(params.pop("native_categoricals", False))
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
            native_categories=native,
        )
        # The ordinally coded columns the family was given as categories (none unless native).
        self.native_categories_ = (
            [name for name in categorical if name not in self.target_encoded_]
            if "categories" in pipeline.named_steps
            else []
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
