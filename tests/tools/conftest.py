"""Small real tables shared by the engine tests (tests/tools/*).

Fixtures:
    churn_frame     200-row customer churn table (binary target "churn", yes/no) with an
                    ID column "customer_id", a constant column "country", some missing
                    values, a date column, and one known leak: "refund_amount" is positive
                    exactly for churned customers.
    churn_csv       the same table written as CSV in tmp_path (dates as ISO text).
    iris_frame      iris with a string target "species" (multiclass, 150 rows).
    diabetes_frame  scikit-learn's diabetes data, numeric target "progression" (regression).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris

CHURN_TARGET = "churn"
CHURN_LEAK_COLUMN = "refund_amount"
CHURN_ID_COLUMN = "customer_id"
CHURN_CONSTANT_COLUMN = "country"


def make_churn_frame(n_rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """A churn table whose signal is learnable but noisy, plus one perfect leak."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n_rows)
    monthly = np.round(rng.uniform(20, 120, n_rows), 2)
    contract = rng.choice(["month-to-month", "one-year", "two-year"], n_rows, p=[0.5, 0.3, 0.2])
    support_calls = rng.poisson(1.5, n_rows)
    logit = -0.04 * tenure + 0.02 * monthly + 0.5 * support_calls - 1.0
    logit += np.where(contract == "month-to-month", 1.0, -0.5)
    churned = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    refund = np.where(churned, np.round(rng.uniform(5, 50, n_rows), 2), 0.0)
    monthly_with_gaps = monthly.copy()
    monthly_with_gaps[rng.choice(n_rows, 10, replace=False)] = np.nan
    signup = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 700, n_rows), unit="D")
    return pd.DataFrame(
        {
            CHURN_ID_COLUMN: [f"C{i:05d}" for i in range(n_rows)],
            "tenure_months": tenure,
            "monthly_charges": monthly_with_gaps,
            "contract": contract,
            "support_calls": support_calls,
            "has_partner": rng.random(n_rows) < 0.4,
            "signup_date": signup,
            CHURN_CONSTANT_COLUMN: "US",
            CHURN_LEAK_COLUMN: refund,
            CHURN_TARGET: np.where(churned, "yes", "no"),
        }
    )


@pytest.fixture
def churn_frame() -> pd.DataFrame:
    """200-row churn table with a known leak (see the module docstring)."""
    return make_churn_frame()


@pytest.fixture
def churn_csv(tmp_path: Path, churn_frame: pd.DataFrame) -> Path:
    """The churn table as a CSV file in tmp_path."""
    path = tmp_path / "churn.csv"
    churn_frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


@pytest.fixture
def iris_frame() -> pd.DataFrame:
    """Iris with readable column names and a string target "species"."""
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    frame["species"] = np.asarray(data.target_names)[data.target]
    return frame.drop(columns="target")


@pytest.fixture
def diabetes_frame() -> pd.DataFrame:
    """scikit-learn's diabetes data with the numeric target renamed "progression"."""
    frame = load_diabetes(as_frame=True).frame
    return frame.rename(columns={"target": "progression"})
