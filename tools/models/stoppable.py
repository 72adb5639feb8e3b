"""Estimators that stop at the active deadline, and boosters that stop early.

Each class is the library's estimator with a ``fit`` that reads
:func:`tools.deadline.active_deadline` (set by :class:`tools.models.TabularModel`'s
``fit(deadline=...)``) and keeps what it has learned when the deadline passes:

- LightGBM, XGBoost, CatBoost: a callback checked after every boosting round
  (LightGBM raises ``EarlyStopException``, XGBoost's ``TrainingCallback``
  returns True, CatBoost's ``after_iteration`` returns False), plus early
  stopping on an inner validation split of :data:`VALIDATION_SHARE` of the rows
  (at most :data:`MAX_VALIDATION_ROWS`) once there are :data:`EARLY_STOPPING_ROWS`
  rows, as FLAML's and AutoGluon's estimators do;
- MLP: checked after every epoch, where scikit-learn tests for convergence
  (the optimizer keeps its state, so Adam is not restarted);
- random forest and extra trees: grown :data:`TREES_PER_CHECK` trees at a time
  (``warm_start``, so the trees equal those of one fit with the same seed)
  until ``n_estimators`` or the deadline.

Without an active deadline they fit like their parents (boosters still stop
early on the inner split). Parameters, pickling and ``clone`` are the parents'.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from catboost import CatBoostClassifier, CatBoostRegressor
from lightgbm import LGBMClassifier, LGBMRegressor
from lightgbm.callback import EarlyStopException
from lightgbm.callback import early_stopping as lightgbm_early_stopping
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from xgboost import XGBClassifier, XGBRegressor
from xgboost.callback import TrainingCallback

from tools.deadline import Deadline, active_deadline

log = logging.getLogger(__name__)

VALIDATION_SHARE = 0.1
"""Share of a booster's training rows held out to stop boosting when it stops improving."""
MAX_VALIDATION_ROWS = 10_000
EARLY_STOPPING_ROWS = 5_000
"""Boosters with fewer training rows use them all (no inner split, no early stopping): on
small tables the held-out tenth costs more accuracy than early stopping saves time."""
EARLY_STOPPING_ROUNDS = 30
TREES_PER_CHECK = 20


def _inner_split(y: Any, *, is_classification: bool, seed: int) -> tuple[Any, Any] | None:
    """Training and validation row positions for early stopping, or None to use every row."""
    target = np.asarray(y)
    n = len(target)
    if n < EARLY_STOPPING_ROWS:
        return None
    n_valid = min(int(n * VALIDATION_SHARE), MAX_VALIDATION_ROWS)
    stratify = None
    if is_classification:
        _, counts = np.unique(target, return_counts=True)
        if counts.min() < 2 or n_valid < len(counts):
            return None  # every class must stay in the training part
        stratify = target
    train, valid = train_test_split(
        np.arange(n), test_size=n_valid, random_state=seed, stratify=stratify
    )
    return np.sort(train), np.sort(valid)


def _take(values: Any, rows: np.ndarray) -> Any:
    return values.iloc[rows] if hasattr(values, "iloc") else values[rows]


def _seed(value: Any) -> int:
    return int(value) if isinstance(value, int | np.integer) else 0


# --- LightGBM -----------------------------------------------------------------------


def _lightgbm_deadline(deadline: Deadline) -> Any:
    def callback(env: Any) -> None:
        if deadline.passed():
            log.info("fit_deadline family=lightgbm round=%d", env.iteration + 1)
            raise EarlyStopException(env.iteration, env.evaluation_result_list or [])

    callback.order = 40  # type: ignore[attr-defined]  # after early stopping (30)
    return callback


def _fit_lightgbm(
    model: Any, parent: Any, X: Any, y: Any, is_classification: bool, **kw: Any
) -> Any:
    deadline = active_deadline()
    callbacks = list(kw.pop("callbacks", None) or [])
    split = _inner_split(y, is_classification=is_classification, seed=_seed(model.random_state))
    if deadline is not None:
        callbacks.append(_lightgbm_deadline(deadline))
    if split is None:
        return parent.fit(model, X, y, callbacks=callbacks or None, **kw)
    train, valid = split
    callbacks.append(lightgbm_early_stopping(EARLY_STOPPING_ROUNDS, verbose=False))
    return parent.fit(
        model,
        _take(X, train),
        _take(y, train),
        eval_set=[(_take(X, valid), _take(y, valid))],
        callbacks=callbacks,
        **kw,
    )


class StoppableLGBMClassifier(LGBMClassifier):
    """``LGBMClassifier`` that stops early and at the active deadline."""

    def fit(self, X: Any, y: Any, **kwargs: Any) -> StoppableLGBMClassifier:  # type: ignore[override]
        return _fit_lightgbm(self, LGBMClassifier, X, y, True, **kwargs)


class StoppableLGBMRegressor(LGBMRegressor):
    """``LGBMRegressor`` that stops early and at the active deadline."""

    def fit(self, X: Any, y: Any, **kwargs: Any) -> StoppableLGBMRegressor:  # type: ignore[override]
        return _fit_lightgbm(self, LGBMRegressor, X, y, False, **kwargs)


# --- XGBoost ------------------------------------------------------------------------


class _XGBoostDeadline(TrainingCallback):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if self.deadline.passed():
            log.info("fit_deadline family=xgboost round=%d", epoch + 1)
            return True
        return False


def _fit_xgboost(
    model: Any, parent: Any, X: Any, y: Any, is_classification: bool, **kw: Any
) -> Any:
    deadline = active_deadline()
    split = _inner_split(y, is_classification=is_classification, seed=_seed(model.random_state))
    saved = {"callbacks": model.callbacks, "early_stopping_rounds": model.early_stopping_rounds}
    callbacks = list(model.callbacks or [])
    if deadline is not None:
        callbacks.append(_XGBoostDeadline(deadline))
    # Callbacks and early stopping are constructor parameters in XGBoost; they are set for
    # this fit only, so the fitted model pickles without the deadline's clock.
    model.set_params(
        callbacks=callbacks or None,
        early_stopping_rounds=EARLY_STOPPING_ROUNDS if split is not None else None,
    )
    try:
        if split is None:
            return parent.fit(model, X, y, verbose=False, **kw)
        train, valid = split
        return parent.fit(
            model,
            _take(X, train),
            _take(y, train),
            eval_set=[(_take(X, valid), _take(y, valid))],
            verbose=False,
            **kw,
        )
    finally:
        model.set_params(**saved)


class StoppableXGBClassifier(XGBClassifier):
    """``XGBClassifier`` that stops early and at the active deadline."""

    def fit(self, X: Any, y: Any, **kwargs: Any) -> StoppableXGBClassifier:  # type: ignore[override]
        return _fit_xgboost(self, XGBClassifier, X, y, True, **kwargs)


class StoppableXGBRegressor(XGBRegressor):
    """``XGBRegressor`` that stops early and at the active deadline."""

    def fit(self, X: Any, y: Any, **kwargs: Any) -> StoppableXGBRegressor:  # type: ignore[override]
        return _fit_xgboost(self, XGBRegressor, X, y, False, **kwargs)


# --- CatBoost -----------------------------------------------------------------------


class _CatBoostDeadline:
    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline

    def after_iteration(self, info: Any) -> bool:
        if self.deadline.passed():
            log.info("fit_deadline family=catboost round=%d", info.iteration)
            return False
        return True


def _fit_catboost(
    model: Any, parent: Any, X: Any, y: Any, is_classification: bool, **kw: Any
) -> Any:
    deadline = active_deadline()
    seed = _seed(model.get_params().get("random_seed"))
    split = _inner_split(y, is_classification=is_classification, seed=seed)
    callbacks = list(kw.pop("callbacks", None) or [])
    if deadline is not None:
        callbacks.append(_CatBoostDeadline(deadline))
    if split is None:
        return parent.fit(model, X, y, callbacks=callbacks or None, **kw)
    train, valid = split
    return parent.fit(
        model,
        _take(X, train),
        _take(y, train),
        eval_set=(_take(X, valid), _take(y, valid)),
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        use_best_model=True,
        callbacks=callbacks or None,
        **kw,
    )


class StoppableCatBoostClassifier(CatBoostClassifier):
    """``CatBoostClassifier`` that stops early and at the active deadline."""

    def fit(self, X: Any, y: Any = None, **kwargs: Any) -> StoppableCatBoostClassifier:  # type: ignore[override]
        return _fit_catboost(self, CatBoostClassifier, X, y, True, **kwargs)


class StoppableCatBoostRegressor(CatBoostRegressor):
    """``CatBoostRegressor`` that stops early and at the active deadline."""

    def fit(self, X: Any, y: Any = None, **kwargs: Any) -> StoppableCatBoostRegressor:  # type: ignore[override]
        return _fit_catboost(self, CatBoostRegressor, X, y, False, **kwargs)


# --- MLP ----------------------------------------------------------------------------


def _mlp_epoch_ended(model: Any) -> None:
    """Make scikit-learn's end-of-epoch convergence test stop training once the deadline passed.

    ``_fit_stochastic`` calls ``_update_no_improvement_count`` after every epoch and stops
    (keeping the best weights when ``early_stopping``) once the count exceeds
    ``n_iter_no_change``; the optimizer's state is kept, so a fit that meets no deadline
    is exactly the parent's.
    """
    deadline = active_deadline()
    if deadline is not None and deadline.passed():
        log.info("fit_deadline family=mlp epochs=%d of %d", model.n_iter_, model.max_iter)
        model._no_improvement_count = model.n_iter_no_change + 1


class StoppableMLPClassifier(MLPClassifier):
    """``MLPClassifier`` that stops after the epoch in which the active deadline passes."""

    def _update_no_improvement_count(self, *args: Any, **kwargs: Any) -> None:
        super()._update_no_improvement_count(*args, **kwargs)
        _mlp_epoch_ended(self)


class StoppableMLPRegressor(MLPRegressor):
    """``MLPRegressor`` that stops after the epoch in which the active deadline passes."""

    def _update_no_improvement_count(self, *args: Any, **kwargs: Any) -> None:
        super()._update_no_improvement_count(*args, **kwargs)
        _mlp_epoch_ended(self)


# --- forests ------------------------------------------------------------------------


def _fit_forest(model: Any, parent: Any, X: Any, y: Any, **kw: Any) -> Any:
    deadline = active_deadline()
    if deadline is None:
        return parent.fit(model, X, y, **kw)
    total, warm = model.n_estimators, model.warm_start
    grown = 0
    try:
        model.set_params(warm_start=True)
        while grown < total:
            grown = min(grown + TREES_PER_CHECK, total)
            model.set_params(n_estimators=grown)
            parent.fit(model, X, y, **kw)
            if deadline.passed() and grown < total:
                log.info("fit_deadline family=forest trees=%d of %d", grown, total)
                break
    finally:
        model.set_params(n_estimators=total, warm_start=warm)
    return model


class StoppableRandomForestClassifier(RandomForestClassifier):
    """``RandomForestClassifier`` grown in batches of trees until the active deadline."""

    def fit(self, X: Any, y: Any, **kwargs: Any) -> StoppableRandomForestClassifier:  # type: ignore[override]
        return _fit_forest(self, RandomForestClassifier, X, y, **kwargs)


class StoppableRandomForestRegressor(RandomForestRegressor):
    """``RandomForestRegressor`` grown in batches of trees until the active deadline."""

    def fit(self, X: Any, y: Any, **kwargs: Any) -> StoppableRandomForestRegressor:  # type: ignore[override]
        return _fit_forest(self, RandomForestRegressor, X, y, **kwargs)


class StoppableExtraTreesClassifier(ExtraTreesClassifier):
    """``ExtraTreesClassifier`` grown in batches of trees until the active deadline."""

    def fit(self, X: Any, y: Any, **kwargs: Any) -> StoppableExtraTreesClassifier:  # type: ignore[override]
        return _fit_forest(self, ExtraTreesClassifier, X, y, **kwargs)


class StoppableExtraTreesRegressor(ExtraTreesRegressor):
    """``ExtraTreesRegressor`` grown in batches of trees until the active deadline."""

    def fit(self, X: Any, y: Any, **kwargs: Any) -> StoppableExtraTreesRegressor:  # type: ignore[override]
        return _fit_forest(self, ExtraTreesRegressor, X, y, **kwargs)
