"""Thread benchmark: one thread on small data against every core, per fit and per run.

    python bench/threads.py

1. Median wall time of one logistic-regression fold fit on 455 rows x 30 columns
   (20 repeats) with the native pools capped at one thread and at every core.
2. A 5 s breadth search on the same table with small fits capped to one thread (the
   default, :func:`tools.threads.threads_for`) and with every fit given every core:
   how many model families finish.
3. Folds one after another against side by side (:mod:`tools.search.fold_pool`): per
   data shape and family, the median cross-validation wall time of the candidate, and
   the median time of a search over the four families (no refit). Where a fit gets every
   core (over ``PARALLEL_ABOVE_ROWS`` rows), "side by side" gives each fit one thread.
   ``--folds-only`` runs only this part; ``--repeats N`` sets the repeats (default 3),
   ``--shapes 300x8,5000x20`` the data shapes, ``--families lightgbm,xgboost`` the
   families (the search row only with more than one).

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

import tools.search.fold_pool as fold_pool  # noqa: E402
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


SHAPES = ((300, 8), (5_000, 20), (50_000, 30))
FAMILIES = ("logistic_regression", "random_forest", "lightgbm", "xgboost")


def _search_s(
    frame: pd.DataFrame, models: list[str], side_by_side: bool
) -> tuple[float, float, float]:
    """Wall time of a search over ``models`` (no refit), of its first candidate's folds, and
    the CPU time of the search (all threads)."""
    saved_families, saved_threads = fold_pool.PARALLEL_FOLD_FAMILIES, train_module.threads_for
    saved_busy = fold_pool.machine_busy
    fold_pool.PARALLEL_FOLD_FAMILIES = frozenset(models) if side_by_side else frozenset()
    fold_pool.machine_busy = lambda: False  # measure side by side whatever the load
    if side_by_side:
        train_module.threads_for = lambda n_rows: 1
    try:
        profile = profile_table(frame, target="y")
        plan = build_plan(profile, budget_s=600).model_copy(update={"models": models})
        started, cpu = time.perf_counter(), time.process_time()
        result = train_module.train(frame, plan, profile=profile, refit=False)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        fold_pool.PARALLEL_FOLD_FAMILIES, train_module.threads_for = saved_families, saved_threads
        fold_pool.machine_busy = saved_busy
    return total, result.leaderboard[0].fit_time_s, cpu


def _idle_ticks() -> tuple[int, int]:
    """Idle and total CPU ticks of the whole machine so far (``/proc/stat``)."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)


def _fold_rows(repeats: int, shapes: list[tuple[int, int]]) -> list[str]:
    rows = []
    for n, width in shapes:
        frame = _table(n, width)
        families = _families()
        for models in [[family] for family in families] + [list(families)] * (len(families) > 1):
            times: dict[bool, list[float]] = {False: [], True: []}
            cores: list[float] = []
            loads, idle = [], []
            for _ in range(repeats):
                for side_by_side in (False, True):  # interleaved: both see the same load
                    loads.append(os.getloadavg()[0])
                    idle0, all0 = _idle_ticks()
                    total, first, cpu = _search_s(frame, models, side_by_side)
                    idle1, all1 = _idle_ticks()
                    times[side_by_side].append(total if len(models) > 1 else first)
                    if side_by_side:
                        cores.append(cpu / total)
                        idle.append(100 * (idle1 - idle0) / max(all1 - all0, 1))
            one, two = statistics.median(times[False]), statistics.median(times[True])
            label = f"search, {len(models)} families" if len(models) > 1 else models[0]
            rows.append(
                f"| {n:,} x {width} | {label} | {one:.2f} s | {two:.2f} s | {one / two:.2f}x "
                f"| {statistics.median(cores):.2f} | {statistics.median(idle):.0f}% "
                f"| {statistics.median(loads):.1f} |"
            )
            print(rows[-1], flush=True)
    return rows


def _fold_table(repeats: int, shapes: list[tuple[int, int]]) -> list[str]:
    return [
        "",
        f"## Folds side by side (5-fold CV, median of {repeats}, interleaved runs)",
        "",
        "Cores used: CPU time over wall time of the side-by-side search; idle: the whole",
        "machine's idle CPU share meanwhile (0% means other work took the free core).",
        "",
        "| rows x columns | candidate | one after another | side by side | speed-up "
        "| cores used | idle | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *_fold_rows(repeats, shapes),
    ]


def _families() -> list[str]:
    """``--families lightgbm,xgboost`` or every family of :data:`FAMILIES`."""
    if "--families" not in sys.argv:
        return list(FAMILIES)
    return sys.argv[sys.argv.index("--families") + 1].split(",")


def _shapes() -> list[tuple[int, int]]:
    """``--shapes 300x8,5000x20`` or every shape of :data:`SHAPES`."""
    if "--shapes" not in sys.argv:
        return list(SHAPES)
    raw = sys.argv[sys.argv.index("--shapes") + 1]
    return [(int(n), int(w)) for n, w in (item.split("x") for item in raw.split(","))]


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3
    if "--folds-only" in sys.argv:
        text = "\n".join(_fold_table(repeats, _shapes()))
        print(text)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "threads_folds.md").write_text(text + "\n", encoding="utf-8")
        return 0
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
        *_fold_table(repeats, _shapes()),
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "threads.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
