"""Target encoding of high-cardinality categorical columns, cross-fitted so nothing leaks.

A categorical column with more levels than the one-hot / ordinal limit of
:mod:`tools.models` loses its rarer levels to a shared "other" code. Target
encoding keeps them all: each level becomes the (shrunk) mean of the target
over the rows with that level. Done naively that leaks, because a row's own
target is part of its encoding; scikit-learn's ``TargetEncoder`` avoids it by
cross-fitting in ``fit_transform`` (each row is encoded with means learned on
the other folds), which is what a ``Pipeline`` calls while fitting. At predict
time the encodings learned on all training rows are used.

:func:`target_encoding_pipeline` is the column-transformer entry
:func:`tools.models.build_pipeline` uses for such columns; since it sits inside
the model's pipeline, cross-validation refits it on each training fold.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler, TargetEncoder

log = logging.getLogger(__name__)

TargetType = Literal["binary", "multiclass", "continuous"]

ENCODER_FOLDS = 5
"""Folds of the cross-fitting inside ``TargetEncoder.fit_transform``."""
_MISSING = "__missing__"


class CategoryText(TransformerMixin, BaseEstimator):
    """Turn categorical columns into text (an object array), a missing value being its own level."""

    def fit(self, X: Any, y: Any = None) -> CategoryText:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        out = np.empty(frame.shape, dtype=object)
        for i, name in enumerate(frame.columns):
            column = frame[name]
            text = column if isinstance(column.dtype, pd.StringDtype) else column.astype("string")
            out[:, i] = text.fillna(_MISSING).to_numpy(dtype=object)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = input_features if input_features is not None else self.feature_names_in_
        return np.asarray([str(name) for name in names], dtype=object)


def target_type_for(task: str) -> TargetType:
    """The ``TargetEncoder`` target type for a task (set explicitly: a regression target
    of whole numbers would otherwise be taken for classes)."""
    if task == "regression":
        return "continuous"
    return "binary" if task == "binary" else "multiclass"


def target_encoding_pipeline(task: str, *, scaled: bool, seed: int) -> Pipeline:
    """Text -> cross-fitted target encoding (-> standard scaling for scaled families).

    Args:
        task: binary, multiclass or regression (sets the encoder's target type;
            multiclass gives one column per class).
        scaled: Standardise the encodings (for linear, kNN, MLP, SVM models).
        seed: Shuffles the encoder's cross-fitting folds.
    """
    steps: list[tuple[str, Any]] = [
        ("as_text", CategoryText()),
        (
            "encode",
            TargetEncoder(
                target_type=target_type_for(task),
                cv=ENCODER_FOLDS,
                shuffle=True,
                random_state=seed,
            ),
        ),
    ]
    if scaled:
        steps.append(("scale", StandardScaler()))
    return Pipeline(steps)


def count_levels(frame: pd.DataFrame, names: list[str]) -> dict[str, int]:
    """Distinct values (missing counted as one) of each column in ``names``."""
    return {name: int(frame[name].nunique(dropna=False)) for name in names}


__all__ = [
    "ENCODER_FOLDS",
    "CategoryText",
    "count_levels",
    "target_encoding_pipeline",
    "target_type_for",
]
