"""Refuse work that would load a file above ``MLCHAT_DASK_ABOVE_MB`` whole into one Dask worker.

With a Dask scheduler set, a CSV, TSV or Parquet file above the threshold trains through
Dask DataFrames spread over the cluster (:mod:`assistant.dask_jobs`). Everything else
reads the whole file into the memory of one worker, which a file that size may not fit:

- training an Excel or JSON file above the threshold (only the formats above read in pieces);
- tuning and trying new features: the Dask path trains XGBoost and LightGBM with their
  default settings and no derived features, and both jobs would read the whole file.

Those are refused with what to do instead, rather than sampled: a tuned model or a kept
feature scored on a sample would not carry over to the Dask path's full-data training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from assistant.errors import ToolError
from assistant.settings import ClusterSettings

Action = Literal["train", "tune", "features"]

_PIECEWISE_SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".pq"}
"""What :func:`tools.dask_train.can_read` reads as a Dask DataFrame."""


def refuse_beyond_one_worker(cluster: ClusterSettings, path: Path, action: Action) -> None:
    """Raise a ``ToolError`` when ``action`` on ``path`` would load a file above the Dask
    threshold whole into one worker; do nothing without a scheduler or below the threshold."""
    limit_mb = cluster.dask_above_mb
    if not cluster.scheduler or not path.is_file():
        return
    size = path.stat().st_size
    if size <= limit_mb << 20:
        return
    above = f"at {size / 2**20:,.0f} MB the file is above MLCHAT_DASK_ABOVE_MB ({limit_mb:,} MB)"
    extract = f"attach an extract of the file below {limit_mb:,} MB (for example its first rows)"
    if action == "train":
        if path.suffix.lower() in _PIECEWISE_SUFFIXES:
            return
        raise ToolError(
            f"This {path.suffix or 'file'} file cannot be trained on the cluster: {above}, so "
            "it must train through Dask, which reads only CSV, TSV and Parquet files in "
            "pieces; read whole, it could exhaust one worker's memory. Save it as CSV or "
            "Parquet and attach it again, or raise MLCHAT_DASK_ABOVE_MB if the workers have "
            "the memory."
        )
    what = "Tuning is" if action == "tune" else "Trying new features is"
    why = (
        "it trains through Dask with XGBoost's and LightGBM's default settings"
        if action == "tune"
        else "it trains through Dask, which does not use derived features yet"
    )
    raise ToolError(
        f"{what} not available for this file: {above}, so {why}, and this step would read "
        f"the whole file into one worker's memory. To do it, {extract} and train on that."
    )
