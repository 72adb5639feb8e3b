"""A table as people export it, shared by tests/tools/test_raw_rows.py and bench/raw_rows.py."""

from __future__ import annotations

import numpy as np
import pandas as pd

TARGET = "bought"


def make_raw_table(n_rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Three yes/no features, a decimal-comma column, "n/a" cells, a date, a yes/no target."""
    rng = np.random.default_rng(seed)
    garden = rng.random(n_rows) < 0.5
    garage = rng.random(n_rows) < 0.4
    pool = rng.random(n_rows) < 0.2
    area = rng.uniform(40, 200, n_rows)
    listed = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, n_rows), "D")
    logit = 1.5 * garden - 1.2 * garage + 2.0 * pool + 0.02 * (area - 120)
    bought = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "garden": np.where(garden, "yes", "no"),
            "garage": np.where(garage, "Yes", "No"),
            "pool": np.where(pool, "y", "n"),
            "area_m2": [f"{value:.2f}".replace(".", ",") for value in area],
            "listed_on": listed.strftime("%d/%m/%Y"),
            "city": rng.choice(["Lyon", "Lille", "Nantes"], n_rows),
            TARGET: np.where(bought, "yes", "no"),
        }
    )
    frame.loc[rng.random(n_rows) < 0.05, "garden"] = "n/a"
    frame.loc[rng.random(n_rows) < 0.05, "area_m2"] = "n/a"
    frame.loc[rng.random(n_rows) < 0.05, "city"] = "n/a"
    return frame
