"""The one refit routine: a fit that cannot stop is abandoned at the deadline, and the
fallback ships; the fast median imputer matches scikit-learn's."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.impute import SimpleImputer

from tools.analyze.profile import profile_table
from tools.deadline import Deadline
from tools.models.families import MODEL_FAMILIES
from tools.models.imputer import MedianImputer
from tools.plan import Plan, build_plan
from tools.search.refit import Fallback, fit_by, refit_final


class _SlowRidge(BaseEstimator):
    """A "ridge" fit that takes ``seconds`` of real time and cannot be stopped."""

    family = "ridge"

    def __init__(self, seconds: float = 2.0) -> None:
        self.seconds = seconds

    def fit(self, X: object, y: object, *, deadline: object = None) -> _SlowRidge:
        time.sleep(self.seconds)
        self.fitted_ = True
        return self


def _plan() -> Plan:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"a": rng.normal(size=60), "y": rng.normal(size=60)})
    return build_plan(profile_table(table, target="y"), models=["ridge"], budget_s=5)


def _frame(n: int = 50) -> tuple[pd.DataFrame, pd.Series]:
    return pd.DataFrame({"a": np.arange(n, dtype=float)}), pd.Series(np.arange(n, dtype=float))


def test_only_the_families_whose_estimators_check_the_deadline_are_marked_stoppable() -> None:
    stoppable = {name for name, family in MODEL_FAMILIES.items() if family.stops_at_deadline}
    assert stoppable == {"lightgbm", "xgboost", "catboost", "mlp", "random_forest", "extra_trees"}


def test_a_fit_that_cannot_stop_is_abandoned_at_the_deadline() -> None:
    X, y = _frame()
    started = time.monotonic()

    fitted = fit_by(_SlowRidge(2.0), X, y, Deadline.after(0.3))

    assert fitted is None
    assert time.monotonic() - started < 1.0


def test_a_fit_that_cannot_stop_but_ends_in_time_is_kept() -> None:
    X, y = _frame()

    fitted = fit_by(_SlowRidge(0.01), X, y, Deadline.after(5.0))

    assert fitted is not None and fitted.fitted_


def test_an_abandoned_refit_ships_the_fallback_within_the_deadline() -> None:
    X, y = _frame()
    notes: list[str] = []
    fold_model = object()
    started = time.monotonic()

    final = refit_final(
        [_SlowRidge(3.0)],
        X,
        y,
        label="Ridge regression",
        estimate_s=0.1,  # underestimated, as a fold-based guess can be
        plan=_plan(),
        deadline=Deadline.after(0.4),
        stopped=False,
        fallback=Fallback(fold_model, "bagged", 40, "the average of its 5 models is used."),
        partial=True,
        emit=lambda *_: None,
        notes=notes,
    )

    assert time.monotonic() - started < 1.2
    assert (final.model, final.source, final.rows) == (fold_model, "bagged", 40)
    assert notes == [
        "The refit of Ridge regression on 50 rows was cut short by the budget; "
        "the average of its 5 models is used."
    ]


def test_a_refit_that_does_not_fit_in_the_time_left_uses_part_of_the_rows() -> None:
    X, y = _frame(1_000)
    notes: list[str] = []

    final = refit_final(
        [_SlowRidge(0.0)],
        X,
        y,
        label="Ridge regression",
        estimate_s=10.0,  # all rows would need 10 s; about 3 s are left
        plan=_plan(),
        deadline=Deadline.after(3.0),
        stopped=False,
        fallback=Fallback(object(), "fold", 100, "its first cross-validation model is used."),
        partial=True,
        emit=lambda *_: None,
        notes=notes,
    )

    assert final.source == "refit"
    assert 200 <= final.rows < 300
    assert notes == [
        f"Ridge regression was refit on {final.rows:,} of 1,000 rows to stay within the budget."
    ]


@pytest.mark.parametrize("add_indicator", [False, True])
def test_the_median_imputer_matches_scikit_learns(add_indicator: bool) -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(501, 4))
    train[rng.random(train.shape) < 0.2] = np.nan
    train[:, 2] = np.nan  # a column with no values at all
    train[:, 3] = rng.normal(size=501)  # a column with none missing
    test = rng.normal(size=(30, 4))
    test[rng.random(test.shape) < 0.3] = np.nan
    names = np.asarray(["a", "b", "c", "d"], dtype=object)
    ours = MedianImputer(add_indicator=add_indicator).fit(train)
    theirs = SimpleImputer(
        strategy="median", add_indicator=add_indicator, keep_empty_features=True
    ).fit(train)

    assert np.allclose(ours.transform(test), theirs.transform(test))
    assert list(ours.get_feature_names_out(names)) == list(theirs.get_feature_names_out(names))
