"""Profiling, task inference and warnings (tools/analyze.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from tools.analyze.profile import profile_table
from tools.analyze.task import infer_task, prepare_target
from tools.errors import DataError, TargetError


def _codes(profile) -> list[tuple[str, str | None]]:
    return [(w.code, w.column) for w in profile.warnings]


def test_churn_profile_kinds_warnings_and_features(churn_frame: pd.DataFrame) -> None:
    profile = profile_table(churn_frame, target="Churn")
    kinds = {c.name: c.kind for c in profile.columns}
    assert kinds == {
        "customer_id": "id",
        "tenure_months": "numeric",
        "monthly_charges": "numeric",
        "contract": "categorical",
        "support_calls": "numeric",
        "has_partner": "boolean",
        "signup_date": "datetime",
        "country": "constant",
        "refund_amount": "numeric",
        "churn": "categorical",
    }
    assert profile.target == "churn" and profile.task == "binary"
    assert profile.task_reason == (
        "The target “churn” is non-numeric with 2 distinct values, so this is binary "
        "classification."
    )
    assert _codes(profile) == [
        ("id_like", "customer_id"),
        ("constant", "country"),
        ("leakage", "refund_amount"),
    ]
    assert profile.leaking_columns == ("refund_amount",)
    assert profile.feature_columns() == [
        "tenure_months",
        "monthly_charges",
        "contract",
        "support_calls",
        "has_partner",
        "signup_date",
        "refund_amount",
    ]
    counts = churn_frame["churn"].value_counts()
    assert profile.target_summary["classes"] == {k: int(v) for k, v in counts.items()}
    monthly = profile.column("Monthly Charges")
    assert monthly.missing_share == pytest.approx(0.05)
    assert monthly.stats["mean"] == pytest.approx(churn_frame["monthly_charges"].mean())
    assert profile.column("contract").stats["top_1"] == "month-to-month"
    assert profile.column("customer_id").stats == {"unique_share": 1.0}  # no ID values shown
    assert profile.meta_features["share_id"] == pytest.approx(1 / 9)


def test_profile_to_dict_is_strict_json(churn_frame: pd.DataFrame) -> None:
    churn_frame.loc[0, "tenure_months"] = 10**6
    document = profile_table(churn_frame, target="churn").to_dict()
    text = json.dumps(document, allow_nan=False)
    assert json.loads(text)["columns"][6]["stats"]["min"].startswith("2022-")


def test_profile_is_deterministic_for_a_seed(churn_frame: pd.DataFrame) -> None:
    first = profile_table(churn_frame, target="churn", seed=3).to_dict()
    assert profile_table(churn_frame, target="churn", seed=3).to_dict() == first


def test_profile_without_target() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "x"]})
    profile = profile_table(frame)
    assert (profile.target, profile.task, profile.task_reason) == (
        None,
        None,
        "No target given yet.",
    )
    assert profile.feature_columns() == ["a", "b"]


# --- task rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["yes", "no"] * 50, "binary"),
        (["a", "b", "c"] * 50, "multiclass"),
        ([True, False] * 50, "binary"),
        ([0, 1] * 50, "binary"),
        ([1.5, 2.5] * 50, "binary"),
        ([1, 2, 3] * 100, "multiclass"),
        (list(range(20)) * 20, "multiclass"),
        (list(range(21)) * 20, "regression"),
        (list(range(10)) * 10, "regression"),
        ([0.5, 1.5, 2.5] * 100, "regression"),
    ],
    ids=[
        "text-2",
        "text-3",
        "bool",
        "int-0-1",
        "float-2-values",
        "int-3-of-300",
        "int-20-of-400",
        "int-21-values",
        "int-10-is-10pct",
        "fractional",
    ],
)
def test_task_rule(values: list[object], task: str) -> None:
    assert infer_task(pd.Series(values, name="y"))[0] == task


def test_task_reason_states_the_rule() -> None:
    _, reason = infer_task(pd.Series([1, 2, 3] * 100, name="stars"))
    assert reason == (
        "The numeric target “stars” holds whole numbers with 3 distinct values (at most 20, and "
        "at most 5% of the rows), so its values are treated as classes: multiclass "
        "classification."
    )
    _, reason = infer_task(pd.Series(list(range(10)) * 10, name="n"))
    assert reason == (
        "The target “n” holds whole numbers with 10 distinct values (10.0% of the rows), more "
        "than 20 or more than 5% of the rows, so this is regression."
    )


# --- prepare_target ---------------------------------------------------------------------------


def test_rows_with_missing_target_are_dropped_and_counted(churn_frame: pd.DataFrame) -> None:
    churn_frame.loc[[3, 7, 9], "churn"] = None
    prepared, dropped = prepare_target(churn_frame, "churn")
    assert dropped == 3 and len(prepared) == 197
    profile = profile_table(churn_frame, target="churn")
    assert profile.n_rows_dropped_missing_target == 3 and profile.n_rows == 200
    warning = next(w for w in profile.warnings if w.code == "missing_target")
    assert warning.message == (
        "3 of 200 rows (1.5%) have no value for “churn”; they are dropped before training."
    )


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ([None] * 30, "The target “t” is empty in every row"),
        (["x"] * 30, "The target “t” has the same value (“x”) in every row"),
        ([f"name{i}" for i in range(30)], "The target “t” has a different value in every row"),
        (
            [f"name{i}" for i in range(28)] + ["name0", "name1"],
            "The target “t” has a different value in almost every row",
        ),
        (list(range(100, 130)), "The target “t” numbers the rows"),
    ],
    ids=["all-missing", "constant", "unique-per-row", "nearly-unique", "row-number"],
)
def test_unusable_targets(column: list[object], message: str) -> None:
    frame = pd.DataFrame({"t": column, "x": range(30)})
    with pytest.raises(TargetError, match=re.escape(message)):
        prepare_target(frame, "t")
    with pytest.raises(TargetError, match=re.escape(message)):
        profile_table(frame, target="t")


def test_missing_target_column_names_the_closest(churn_frame: pd.DataFrame) -> None:
    with pytest.raises(TargetError, match=r"Closest matches: “churn”"):
        profile_table(churn_frame, target="chrun")


# --- warnings -----------------------------------------------------------------------------------


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})


def test_near_duplicate_numeric_and_categorical_columns() -> None:
    frame = _frame()
    frame["x1_cm"] = frame["x1"] * 2.54 + 1
    states = np.random.default_rng(1).choice(["CA", "NY", "TX"], len(frame))
    frame["state"] = states
    frame["state_name"] = pd.Series(states).map(
        {"CA": "California", "NY": "New York", "TX": "Texas"}
    )
    frame["y"] = frame["x2"] + np.random.default_rng(2).normal(size=len(frame))
    frame["state_code"] = pd.Series(states).map({"CA": 6, "NY": 36, "TX": 48})
    codes = _codes(profile_table(frame, target="y"))
    assert ("near_duplicate", "x1_cm") in codes and ("near_duplicate", "state_name") in codes
    assert ("near_duplicate", "state_code") in codes
    assert ("near_duplicate", "x1") not in codes and ("near_duplicate", "state") not in codes


def test_regression_leak_heavy_tail_and_high_cardinality() -> None:
    frame = _frame(1_000)
    rng = np.random.default_rng(3)
    frame["y"] = np.exp(frame["x1"] * 1.5 + rng.normal(scale=0.3, size=len(frame)))
    frame["y_in_cents"] = frame["y"] * 100 + rng.normal(size=len(frame))
    frame["city"] = rng.choice([f"city{i}" for i in range(80)], len(frame))
    profile = profile_table(frame, target="y")
    assert profile.task == "regression"
    assert _codes(profile) == [
        ("high_cardinality", "city"),
        ("heavy_tail", "y"),
        ("leakage", "y_in_cents"),
    ]
    heavy = next(w for w in profile.warnings if w.code == "heavy_tail")
    assert "predicting its logarithm may help" in heavy.message


def test_categorical_leak_is_found() -> None:
    frame = _frame(600)
    rng = np.random.default_rng(4)
    y = rng.choice(["a", "b", "c"], len(frame))
    frame["y"] = y
    frame["status_code"] = pd.Series(y).map({"a": "S1", "b": "S2", "c": "S3"})
    frame["noise"] = rng.choice(["p", "q", "r"], len(frame))
    profile = profile_table(frame, target="y")
    assert profile.task == "multiclass"
    assert profile.leaking_columns == ("status_code",)


def test_imbalance_and_few_rows() -> None:
    frame = _frame(60)
    frame["fraud"] = ["yes"] * 4 + ["no"] * 56
    frame["fraud"] = frame["fraud"].sample(frac=1, random_state=0).to_numpy()
    profile = profile_table(frame, target="fraud")
    assert _codes(profile) == [("few_rows", None), ("imbalance", "fraud")]
    imbalance = profile.warnings[1].message
    assert imbalance.startswith("The classes of “fraud” are imbalanced: “yes” is 6.7% of the rows.")


def test_text_and_numeric_id_kinds() -> None:
    rng = np.random.default_rng(5)
    words = ["great", "bad", "slow", "service", "would", "buy", "again", "never"]
    n = 200
    frame = pd.DataFrame(
        {
            "row": np.arange(1, n + 1),
            "review": [" ".join(rng.choice(words, 8)) + f" #{i}" for i in range(n)],
            "score": rng.normal(size=n),
            "label": rng.choice(["pos", "neg"], n),
        }
    )
    kinds = {c.name: c.kind for c in profile_table(frame, target="label").columns}
    assert kinds == {"row": "id", "review": "text", "score": "numeric", "label": "categorical"}


def test_clean_datasets_raise_no_false_alarms(
    iris_frame: pd.DataFrame, diabetes_frame: pd.DataFrame
) -> None:
    iris = profile_table(iris_frame, target="species")
    assert iris.task == "multiclass" and iris.warnings == ()
    assert iris.meta_features["class_entropy"] == pytest.approx(1.0)
    diabetes = profile_table(diabetes_frame, target="progression")
    assert diabetes.task == "regression" and diabetes.warnings == ()


def test_summary_for_a_model_names_task_kinds_and_warnings_but_no_rows(
    churn_frame: pd.DataFrame,
) -> None:
    summary = profile_table(churn_frame, target="churn").summary()
    lines = summary.splitlines()
    assert lines[0] == "200 rows x 10 columns."
    assert lines[1].startswith("Target 'churn': binary. The target “churn” is non-numeric")
    assert "id: customer_id" in lines and "constant: country" in lines
    counts = churn_frame["churn"].value_counts()
    assert lines[2] == f"Target classes: no {counts['no']}, yes {counts['yes']}."
    assert "categorical: contract" in lines  # the target is not listed as a feature kind
    assert "Missing values: monthly_charges 5%." in lines
    assert lines[-1].startswith("Warning (leakage): “refund_amount” alone predicts “churn”")
    assert "C00017" not in summary  # no cell values beyond summary statistics
    assert len(profile_table(churn_frame, target="churn").summary(max_chars=50)) == 50


def test_column_lookup_suggests_close_names(churn_frame: pd.DataFrame) -> None:
    profile = profile_table(churn_frame)
    assert profile.column("TENURE_MONTHS").kind == "numeric"
    with pytest.raises(TargetError, match=r"Closest matches: “tenure_months”"):
        profile.column("tenure")


def test_duplicate_rows(churn_frame: pd.DataFrame) -> None:
    doubled = pd.concat([churn_frame, churn_frame.head(5)], ignore_index=True)
    warning = next(w for w in profile_table(doubled).warnings if w.code == "duplicate_rows")
    assert warning.message.startswith("5 rows (2.4%) repeat an earlier row exactly.")
    with_one = pd.concat([churn_frame, churn_frame.head(1)], ignore_index=True)
    assert "duplicate_rows" not in [w.code for w in profile_table(with_one).warnings]


def test_many_warnings_of_one_kind_are_collapsed_but_leaks_never(
    churn_frame: pd.DataFrame,
) -> None:
    wide = churn_frame.assign(**{f"empty_{i}": 1 for i in range(30)})
    for i in range(12):
        wide[f"leak_{i}"] = wide["refund_amount"] * (i + 2)
    profile = profile_table(wide, target="churn")
    constant = [w for w in profile.warnings if w.code == "constant"]
    assert [w.column for w in constant[:5]] == [
        "country",
        "empty_0",
        "empty_1",
        "empty_2",
        "empty_3",
    ]
    assert len(constant) == 6 and constant[5].column is None
    assert constant[5].message.startswith(
        "26 more columns have the same warning (constant): “empty_4”, “empty_5”,"
    )
    assert constant[5].message.endswith("and 16 more.")
    assert len(profile.leaking_columns) == 13
    assert sum(w.code == "leakage" for w in profile.warnings) == 13


def test_repeated_column_names_are_a_data_error() -> None:
    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(DataError, match=r"repeated column names \(“a”\)"):
        profile_table(frame)


def test_unique_columns_in_a_tiny_table_are_not_near_duplicates() -> None:
    frame = pd.DataFrame(
        {"city": list("abcdefgh"), "zone": list("pqrstuvw"), "y": [1.0, 2, 3, 4, 5, 6, 7, 9]}
    )
    assert [code for code, _ in _codes(profile_table(frame, target="y"))] == ["few_rows"]
