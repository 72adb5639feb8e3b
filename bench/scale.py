"""Scale benchmark: a 1,000,000-row x 30-column mixed CSV through load, profile and train.

    python bench/scale.py                 # 1,000,000 rows, 60 s training budget
    python bench/scale.py --rows 200000 --budget 20

The CSV is generated in a child process (so its memory does not count), in a
temporary folder that is removed afterwards. This process then measures:

- load + profile wall time            (target < 15 s)
- peak resident memory (RSS)          (target < 4 GiB), sampled every 50 ms by a
  thread with psutil and cross-checked with ``getrusage`` ``ru_maxrss``
- the whole run as ``mlchat train`` does it, from the start of loading: load, profile,
  search, refit, explain and export to a temporary run folder
                                      (target <= 1.1 x budget + 2 s)
- what was shipped                    (target: fit on all rows, or the bagged fold models)

Prints a small table and writes it to ``bench/results/scale.md``.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import resource
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.analyze.profile import profile_table  # noqa: E402
from tools.deadline import Deadline  # noqa: E402
from tools.explain.model import explain_result  # noqa: E402
from tools.export.folder import export_run  # noqa: E402
from tools.io.load import load_table  # noqa: E402
from tools.plan import build_plan  # noqa: E402
from tools.search.automl import finish_reserve_s, fit_automl  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
GIB = 1024**3


def generate_csv(path: Path, n_rows: int, seed: int = 0) -> None:
    """30 columns: an ID, 15 numeric, 8 categorical, 2 dates, 2 yes/no, 1 text, the target."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {"row_id": np.arange(n_rows)}
    numeric = rng.normal(size=(n_rows, 15)).astype(np.float32)
    numeric[:, 3] = rng.lognormal(3, 1, n_rows)
    numeric[rng.random((n_rows, 15)) < 0.02] = np.nan
    for i in range(15):
        columns[f"num_{i:02d}"] = numeric[:, i]
    cardinalities = [2, 3, 5, 8, 12, 30, 100, 1000]
    codes = np.column_stack([rng.integers(0, k, n_rows) for k in cardinalities])
    for i, k in enumerate(cardinalities):
        labels = np.array([f"c{i}_{j}" for j in range(k)])
        columns[f"cat_{i}"] = labels[codes[:, i]]
    base = np.datetime64("2018-01-01")
    columns["date_a"] = (base + rng.integers(0, 2000, n_rows).astype("timedelta64[D]")).astype(str)
    columns["date_b"] = (base + rng.integers(0, 3000, n_rows).astype("timedelta64[D]")).astype(str)
    columns["flag_a"] = np.where(rng.random(n_rows) < 0.3, "yes", "no")
    columns["flag_b"] = np.where(rng.random(n_rows) < 0.6, "yes", "no")
    words = np.array(["late", "paid", "called", "moved", "upgraded", "complained", "new"])
    columns["comment"] = [" ".join(row) for row in words[rng.integers(0, 7, (n_rows, 3))]]
    logit = (
        0.8 * np.nan_to_num(numeric[:, 0])
        - 0.5 * np.nan_to_num(numeric[:, 1])
        + 0.3 * (codes[:, 2] == 1)
        + 0.6 * (columns["flag_a"] == "yes")
        - 1.0
    )
    columns["target"] = np.where(rng.random(n_rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    pd.DataFrame(columns).to_csv(path, index=False, float_format="%.5g")


class PeakRss:
    """Samples this process's RSS in a thread; ``peak`` is the maximum seen (bytes)."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.peak = 0
        self._interval_s = interval_s
        self._process = psutil.Process()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._done.wait(self._interval_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--budget", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")

    with tempfile.TemporaryDirectory(prefix="mlchat-scale-") as folder:
        path = Path(folder) / "scale.csv"
        started = time.monotonic()
        child = multiprocessing.get_context("spawn").Process(
            target=generate_csv, args=(path, args.rows)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            print("generating the CSV failed", file=sys.stderr)
            return 1
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows x 30 columns ({size_mb:,.0f} MB) in {time.monotonic() - started:.1f} s",
            flush=True,
        )

        with PeakRss() as rss:
            t0 = time.monotonic()
            run_deadline = Deadline(t0 + args.budget)
            table = load_table(path)
            t1 = time.monotonic()
            profile = profile_table(table.frame, target="target")
            t2 = time.monotonic()
            print(
                f"load {t1 - t0:.1f} s, profile {t2 - t1:.1f} s; peak RSS so far {rss.peak / GIB:.2f} GiB",
                flush=True,
            )
            plan = build_plan(profile, budget_s=args.budget, seed=0)
            t3 = time.monotonic()
            result = fit_automl(
                table.frame,
                plan,
                profile=profile,
                deadline=run_deadline.sooner(finish_reserve_s(args.budget)),
            )
            t4 = time.monotonic()
            out = Path(folder) / "run"
            explanation = explain_result(
                result, table.frame, out_dir=out / "figures", deadline=run_deadline
            )
            export_run(
                result,
                out_dir=out,
                frame=table.frame,
                explanation=explanation,
                parser=table.parser,
            )
            t5 = time.monotonic()
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    load_profile_s = t2 - t0
    run_s = t5 - t0
    limit_s = 1.1 * args.budget + 2
    peak = max(rss.peak, maxrss)
    best = result.leaderboard[0]
    rows = [
        (
            "load + profile",
            f"{load_profile_s:.1f} s (load {t1 - t0:.1f}, profile {t2 - t1:.1f})",
            "< 15 s",
            load_profile_s < 15,
        ),
        (
            "peak RSS",
            f"{peak / GIB:.2f} GiB (sampled {rss.peak / GIB:.2f}, maxrss {maxrss / GIB:.2f})",
            "< 4 GiB",
            peak < 4 * GIB,
        ),
        (
            f"whole run, budget {args.budget:g} s",
            f"{run_s:.1f} s (search + refit {t4 - t3:.1f}, explain + export {t5 - t4:.1f})",
            f"<= {limit_s:.0f} s",
            run_s <= limit_s,
        ),
        (
            "shipped model",
            f"{result.model_source} ({result.refit_rows:,} of {len(result.y):,} rows"
            + (
                f", {len(result.fold_models)} fold models"
                if result.model_source == "bagged"
                else ""
            )
            + ")",
            "all rows or bagged folds",
            result.model_source == "bagged"
            or (result.model_source == "refit" and result.refit_rows == len(result.y)),
        ),
    ]
    lines = [
        f"## Scale: {args.rows:,} rows x 30 columns ({size_mb:,.0f} MB CSV)",
        "",
        "| measure | value | target | met |",
        "|---|---|---|---|",
        *[
            f"| {name} | {value} | {target} | {'yes' if ok else 'NO'} |"
            for name, value, target, ok in rows
        ],
        "",
        f"Validation: {plan.validation}; best {best.family} {plan.metric} {best.score:.4f}; "
        f"{sum(c.status == 'ok' for c in result.leaderboard)} of {len(result.leaderboard)} candidates finished; "
        f"shipped: {result.model_source}; importance on {explanation.importance_source}; "
        f"expected {plan.metric} on new data "
        f"{result.expected_metrics.get(plan.metric, float('nan')):.4f}.",
        *[f"- {note}" for note in result.notes],
    ]
    table = "\n".join(lines)
    print("\n" + table, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.md").write_text(table + "\n", encoding="utf-8")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
