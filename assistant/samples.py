"""Sample datasets the UI offers to try, generated locally (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SAMPLE_NAME = "sample_churn.csv"
SAMPLE_TARGET = "churn"


def sample_churn(n_rows: int = 2_000, *, seed: int = 0) -> pd.DataFrame:
    """A customer-churn table with mixed types: numbers, categories, a date, missing values.

    Churn depends on tenure, contract, monthly charges and support calls, with noise,
    so models have something real (but not trivial) to find.
    """
    rng = np.random.default_rng(seed)
    contract = rng.choice(["month-to-month", "one year", "two year"], n_rows, p=[0.55, 0.25, 0.2])
    tenure = rng.integers(1, 72, n_rows)
    monthly = rng.normal(65, 25, n_rows).clip(18, 120).round(2)
    calls = rng.poisson(1.5, n_rows)
    signup = pd.Timestamp("2024-12-31") - pd.to_timedelta(tenure * 30, unit="D")
    logit = (
        -1.2
        + 1.6 * (contract == "month-to-month")
        - 0.04 * tenure
        + 0.02 * (monthly - 65)
        + 0.45 * calls
        + rng.normal(0, 0.8, n_rows)
    )
    churn = np.where(rng.random(n_rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    frame = pd.DataFrame(
        {
            "customer_id": [f"CUST-{i:05d}" for i in range(n_rows)],
            "signup_date": signup.strftime("%Y-%m-%d"),
            "tenure_months": tenure,
            "contract": contract,
            "payment_method": rng.choice(["card", "bank transfer", "electronic check"], n_rows),
            "monthly_charges": monthly,
            "support_calls": calls,
            "internet": rng.choice(["fiber", "dsl", "none"], n_rows, p=[0.45, 0.4, 0.15]),
            SAMPLE_TARGET: churn,
        }
    )
    missing = rng.random(n_rows) < 0.04
    frame.loc[missing, "payment_method"] = None
    return frame


def write_sample(folder: Path) -> Path:
    """Write the sample churn table as CSV into ``folder`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SAMPLE_NAME
    sample_churn().to_csv(path, index=False)
    return path
