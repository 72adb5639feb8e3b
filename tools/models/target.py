"""Regression target transforms inside the model: a signed ``log1p`` or a quantile map, fit with the pipeline and inverted on its predictions.

Which transform a run uses is chosen by :mod:`tools.search.target_transform` (a quick cross-validated comparison).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import TransformedTargetRegressor
from sklearn.preprocessing import QuantileTransformer

log = logging.getLogger(__name__)

TargetTransform = Literal["none", "log", "quantile"]

TARGET_TRANSFORMS: tuple[str, ...] = ("none", "log", "quantile")

_MAX_LOG = 700.0
"""``expm1`` overflows float64 a little above 709."""


class SignedLog1p(TransformerMixin, BaseEstimator):
    """``sign(y) * log1p(|y|)`` and its inverse, for a target given as one column."""

    def fit(self, X: Any, y: Any = None) -> SignedLog1p:
        self.n_features_in_ = np.asarray(X).reshape(len(X), -1).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=np.float64)
        return np.sign(values) * np.log1p(np.abs(values))

    def inverse_transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=np.float64)
        return np.sign(values) * np.expm1(np.minimum(np.abs(values), _MAX_LOG))


def wrap_regressor(estimator: Any, transform: str, *, n_rows: int, seed: int) -> Any:
    """``estimator`` fitted on the transformed target, predicting on the original scale.

    Args:
        estimator: An unfitted regressor or pipeline.
        transform: One of :data:`TARGET_TRANSFORMS`; ``"none"`` returns ``estimator``.
        n_rows: Training rows (caps the quantile transform's quantiles).
        seed: Seeds the quantile transform's subsampling.
    """
    if transform == "none":
        return estimator
    if transform == "log":
        transformer: Any = SignedLog1p()
    elif transform == "quantile":
        transformer = QuantileTransformer(
            n_quantiles=max(10, min(1000, n_rows)),
            output_distribution="normal",
            random_state=seed,
        )
    else:
        raise ValueError(f"unknown target transform {transform!r}")
    return TransformedTargetRegressor(
        regressor=estimator, transformer=transformer, check_inverse=False
    )
