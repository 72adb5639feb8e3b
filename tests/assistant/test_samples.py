from __future__ import annotations

from pathlib import Path

import pandas as pd

from assistant.samples import SAMPLE_TARGET, sample_churn, write_sample


def test_the_sample_is_deterministic_and_has_a_real_signal(tmp_path: Path) -> None:
    path = write_sample(tmp_path)
    frame = pd.read_csv(path)
    assert frame.equals(pd.read_csv(write_sample(tmp_path / "again")))
    rates = frame.groupby("contract")[SAMPLE_TARGET].apply(lambda s: (s == "yes").mean())
    assert rates["month-to-month"] > rates["two year"] + 0.2
    assert frame["payment_method"].isna().any()
    assert len(sample_churn(100)) == 100
