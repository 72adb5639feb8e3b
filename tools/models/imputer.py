"""Median imputation of float columns, fast on millions of rows.

scikit-learn's ``SimpleImputer(strategy="median")`` takes the median of a masked
array, which sorts every column: on 200,000 x 50 it took 2.6 s of a 4.3 s
naive-Bayes fit, and made fit time grow faster than the rows (a refit on 20x
the rows took 28-77x as long), so refit estimates from fold fits fell short.
:class:`MedianImputer` does the same with a partition-based median per column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class MedianImputer(TransformerMixin, BaseEstimator):
    """Fill NaN with each column's training median (0 where a column had no values).

    With ``add_indicator=True``, a 0/1 column ``missingindicator_<name>`` follows
    for every column that had missing values when fit, as scikit-learn's
    ``SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)``.
    """

    def __init__(self, *, add_indicator: bool = False) -> None:
        self.add_indicator = add_indicator

    def fit(self, X: Any, y: Any = None) -> MedianImputer:
        """Learn each column's median, and which columns had missing values."""
        values = _floats(X)
        self.n_features_in_ = values.shape[1]
        missing = np.isnan(values)
        self.statistics_ = np.zeros(values.shape[1], dtype=np.float64)
        for i in range(values.shape[1]):
            present = values[~missing[:, i], i] if missing[:, i].any() else values[:, i]
            if len(present):
                self.statistics_[i] = float(np.median(present))
        self.indicator_columns_ = (
            np.flatnonzero(missing.any(axis=0)) if self.add_indicator else np.array([], dtype=int)
        )
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The values with NaN filled, followed by the missing-value indicators."""
        values = _floats(X)
        missing = np.isnan(values)
        filled = np.where(missing, self.statistics_, values)
        if not len(self.indicator_columns_):
            return filled
        indicators = missing[:, self.indicator_columns_].astype(np.float64)
        return np.hstack([filled, indicators])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The input names, then ``missingindicator_<name>`` per indicator column."""
        names = (
            [str(n) for n in input_features]
            if input_features is not None
            else [f"x{i}" for i in range(self.n_features_in_)]
        )
        indicators = [f"missingindicator_{names[i]}" for i in self.indicator_columns_]
        return np.asarray(names + indicators, dtype=object)


def _floats(X: Any) -> np.ndarray:
    values = np.asarray(X, dtype=np.float64)
    return values.reshape(-1, 1) if values.ndim == 1 else values
