"""The preprocessing in front of each estimator, by column kind.

:func:`build_pipeline` puts the preprocessing a family needs in front of its
estimator, so cross-validation refits all of it on every fold and nothing leaks.

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

LightGBM and CatBoost may instead take the ordinal codes as categories (a
:class:`CategoryColumns` step before the estimator) where cross-validation prefers it
(:mod:`tools.search.train`); the step is part of the pipeline, so the exported script
and every clone keep the choice.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tools.errors import DataError
from tools.models.encoders import target_encoding_pipeline
from tools.models.families import get_family
from tools.models.imputer import MedianImputer
from tools.models.kinds import USED_KINDS, Preprocessing, Task

MAX_ONE_HOT_LEVELS = 20
"""Most one-hot columns per categorical column; rarer levels share one "other" column."""

MAX_ORDINAL_LEVELS = 64
"""Most ordinal codes per categorical column for tree models; rarer levels share one code."""

TARGET_ENCODE_ABOVE_LEVELS: dict[str, int] = {
    "scaled": MAX_ONE_HOT_LEVELS,
    "tree": MAX_ONE_HOT_LEVELS,
}
"""Categorical columns with more levels than this (in the training rows) are target-encoded,
cross-fitted (:mod:`tools.models.encoders`), instead of one-hot or ordinal codes."""

_MISSING = "__missing__"


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
            column = frame[name]
            if isinstance(column.dtype, np.dtype) and column.dtype.kind in "fiub":  # no parsing
                out[:, i] = column.to_numpy(dtype=np.float64)
                continue
            values = pd.to_numeric(column, errors="coerce")
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


class CategoryColumns(TransformerMixin, BaseEstimator):
    """Mark the ordinal-code columns of the tree preprocessing's output as pandas categories,
    for boosters that handle categories themselves (LightGBM reads the dtype; CatBoost is
    also told their positions, ``cat_features``).

    ``columns`` are the positions of the codes. Each becomes a categorical column whose
    categories are the codes seen in fitting plus one spare, for the encoder's "other"
    code of levels first seen at predict time; larger codes fall into the spare too.
    """

    def __init__(self, columns: tuple[int, ...] = ()) -> None:
        self.columns = columns

    def fit(self, X: Any, y: Any = None) -> CategoryColumns:
        matrix = np.asarray(X, dtype=np.float64)
        self.n_features_in_ = matrix.shape[1]
        self.n_codes_ = [int(np.nanmax(matrix[:, i], initial=0)) + 2 for i in self.columns]
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        matrix = np.asarray(X, dtype=np.float64)
        frame = pd.DataFrame(matrix, columns=[f"x{i}" for i in range(matrix.shape[1])])
        for i, n_codes in zip(self.columns, self.n_codes_, strict=True):
            codes = np.clip(np.nan_to_num(matrix[:, i], nan=n_codes - 1), 0, n_codes - 1)
            frame[f"x{i}"] = pd.Categorical.from_codes(
                codes.astype(np.int64), categories=pd.RangeIndex(n_codes)
            )
        return frame

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        if input_features is not None:
            return np.asarray(input_features, dtype=object)
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)


def _category_positions(prep: ColumnTransformer) -> tuple[int, ...]:
    """Positions of the ordinal category codes in the tree preprocessing's output."""
    offset = 0
    for name, _, names in prep.transformers:
        if name == "categorical":
            return tuple(range(offset, offset + len(names)))
        if name != "numeric":  # only numeric columns (one output each, unscaled) come first
            return ()
        offset += len(names)
    return ()


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
                ("impute", MedianImputer(add_indicator=True)),
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
                    ("impute", MedianImputer()),
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
    native_categories: bool = False,
) -> Pipeline:
    """``native_categories``: the family (one with ``native_categories``) handles the
    ordinally coded categorical columns itself, through a :class:`CategoryColumns` step."""
    spec = get_family(family)
    prep = _preprocessor(
        spec.preprocessing, columns, target_encoded=target_encoded, task=task, seed=seed
    )
    positions = _category_positions(prep) if native_categories and spec.native_categories else ()
    if positions and spec.categories_param:
        params = {**(params or {}), spec.categories_param: positions}
    estimator = spec.estimator(task, params=params, seed=seed, n_jobs=n_jobs, n_rows=n_rows)
    steps: list[tuple[str, Any]] = [("prep", prep)]
    if positions:
        steps.append(("categories", CategoryColumns(positions)))
    return Pipeline([*steps, ("model", estimator)])


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
