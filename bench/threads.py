"""Thread benchmark: one thread on small data against every core, per fit and per run.

    python bench/threads.py

1. Median wall time of one logistic-regression fold fit on 455 rows x 30 columns
   (20 repeats) with the native pools capped at one thread and at every core.
2. A 5 s breadth search on the same table with small fits capped to one thread (the
   default, :func:`tools.threads.threads_for`) and with every fit given every core:
   how many model families finish.

Prints a table and writes it to ``bench/results/threads.md``. Run it on a busy machine
too: oversubscription is where threads cost most.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tools.search.train as train_module  # noqa: E402
from tools.analyze.profile import profile_table  # noqa: E402
from tools.models.estimator import TabularModel  # noqa: E402
from tools.models.preprocessing import column_kinds  # noqa: E402
from tools.plan import build_plan  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _table(n: int = 455, width: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, width)), columns=[f"x{i}" for i in range(width)])
    frame["y"] = np.where(frame["x0"] - frame["x1"] + rng.normal(size=n) > 0, "yes", "no")
    return frame


def _fold_fit_s(frame: pd.DataFrame, threads: int) -> float:
    profile = profile_table(frame, target="y")
    columns = column_kinds(profile, [c for c in frame.columns if c != "y"])
    times = []
    for _ in range(20):
        model = TabularModel("logistic_regression", "binary", columns, n_jobs=threads)
        started = time.perf_counter()
        model.fit(frame.drop(columns="y"), frame["y"])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _families_finished(frame: pd.DataFrame, threads: int | None) -> tuple[int, int]:
    original = train_module.threads_for
    if threads is not None:
        train_module.threads_for = lambda n_rows: threads
    try:
        profile = profile_table(frame, target="y")
        plan = build_plan(profile, budget_s=5)
        result = train_module.train(frame, plan, profile=profile)
    finally:
        train_module.threads_for = original
    ok = sum(r.status == "ok" for r in result.leaderboard)
    return ok, len(result.leaderboard)


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    cores = os.cpu_count() or 1
    frame = _table()
    one, every = _fold_fit_s(frame, 1), _fold_fit_s(frame, cores)
    capped_ok, total = _families_finished(frame, None)
    uncapped_ok, _ = _families_finished(frame, cores)
    load = os.getloadavg()[0]
    lines = [
        f"## Threads ({cores} cores, load average {load:.1f} at the start)",
        "",
        "| measure | 1 thread | every core |",
        "|---|---:|---:|",
        f"| logistic regression fold fit, 455 x 30 (median of 20) | {one * 1000:.1f} ms "
        f"| {every * 1000:.1f} ms |",
        f"| families finished in a 5 s search (of {total}) | {capped_ok} | {uncapped_ok} |",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "threads.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
