"""Warm-start benchmark: best CV score after N trials, with and without warm starts.

For every dataset of the quality suite (bundled and generated; nothing is
downloaded; at most ``--max-rows`` rows, 3-fold CV) one family is tuned for
exactly ``--trials`` trials twice:

* cold: Optuna's TPE sampler from scratch (a different sampler seed per dataset);
* warm: the same, after enqueuing :func:`tools.warmstart.warm_start_configs`
  -- the best configurations of the ``--k`` most similar *other* datasets
  (leave-one-out history built from the cold runs) followed by the built-in
  portfolio. Its sampler seed is the cold run's, so after the enqueued
  configurations it draws the same points the cold run drew.

The portfolio was learned on this same suite (``bench/build_portfolio.py``),
so the "warm" column flatters it; ``--no-portfolio`` measures history alone.

    python bench/warmstart.py                       # lightgbm, 6 trials, whole suite
    python bench/warmstart.py --family random_forest --trials 4 --datasets iris,wine

Prints a table (best score after 1, 3 and N trials; delta = warm - cold on a
higher-is-better scale, relative to cold) and writes it to
``bench/results/warmstart-<family>[-history-only].md``.

Measured on 2026-11-25 (2 busy cores, 8 trials, 10 datasets), mean relative gain
of warm over cold after 1 / 3 / 8 trials, and datasets where warm >= cold at 8:

==========================  ========  ========  ========  =======
run                         @1        @3        @8        >= cold
==========================  ========  ========  ========  =======
lightgbm, history only      +4.87%    +5.26%    -0.62%    9/10
lightgbm, + portfolio       +4.87%    +7.74%    +0.55%    8/10
random_forest, + portfolio  +4.52%    +3.55%    +1.78%    7/10
==========================  ========  ========  ========  =======

Losses at 8 trials: lightgbm iris -16.7% (the cold run's best came at trials
7-8; the warm run spent those on enqueued points) and imbalanced -2.6%;
random_forest mixed_churn -0.8%, diabetes -0.2%, make_classification -0.06%.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from quality import SUITE, Dataset  # noqa: E402

from tools.analyze.profile import profile_table  # noqa: E402
from tools.metrics import resolve_metric  # noqa: E402
from tools.plan import build_plan  # noqa: E402
from tools.search.tune import TrialReport, tune  # noqa: E402
from tools.warmstart import WarmStartStore, warm_start_configs  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, slots=True)
class Curve:
    """Best score (natural units) after each trial."""

    best: tuple[float, ...]
    best_params: dict
    wall_s: float
    metric: str


def _run(
    data: Dataset,
    family: str,
    trials: int,
    max_rows: int,
    storage: Path,
    key: str,
    warm: list[dict] | None,
    seed: int,
) -> Curve:
    frame = data.frame
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=0).reset_index(drop=True)
    profile = profile_table(frame, target=data.target)
    plan = build_plan(profile, target=data.target, folds=3)
    reports: list[TrialReport] = []
    started = time.monotonic()
    result = tune(
        frame,
        plan,
        profile=profile,
        storage=storage,
        study_key=key,
        families=[family],
        n_trials=trials,
        budget_s=600,
        warm_start={family: warm} if warm else None,
        on_trial=reports.append,
        refit=False,
        worker=seed,
    )
    best = tuple(r.best_score for r in reports)
    return Curve(best, result.best_trial_params, time.monotonic() - started, result.metric)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(SUITE))
    parser.add_argument("--family", default="lightgbm")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--max-rows", type=int, default=1000)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--no-portfolio", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.simplefilter("ignore")
    work = Path(tempfile.mkdtemp(prefix="mlchat-warmstart-"))
    suite = [SUITE[name]() for name in args.datasets.split(",")]

    metas: dict[str, dict] = {}
    cold: dict[str, Curve] = {}
    for number, data in enumerate(suite):
        frame = data.frame
        if len(frame) > args.max_rows:
            frame = frame.sample(n=args.max_rows, random_state=0).reset_index(drop=True)
        metas[data.name] = profile_table(frame, target=data.target).meta_features
        cold[data.name] = _run(
            data,
            args.family,
            args.trials,
            args.max_rows,
            work / "cold.log",
            data.name,
            None,
            number,
        )
        print(f"cold {data.name}: {cold[data.name].best[-1]:.4g}")

    rows: list[str] = []
    deltas: dict[int, list[float]] = {1: [], 3: [], args.trials: []}
    wins = 0
    for number, data in enumerate(suite):
        history = WarmStartStore(work / f"history-without-{data.name}.db")
        for other in suite:
            if other.name != data.name:
                history.record_run(
                    other.name,
                    task=other.task,
                    meta_features=metas[other.name],
                    best_configs={args.family: cold[other.name].best_params},
                )
        configs = warm_start_configs(
            metas[data.name],
            args.family,
            task=data.task,
            store=history,
            k=args.k,
            n_portfolio=0 if args.no_portfolio else 3,
        )
        warm = _run(
            data,
            args.family,
            args.trials,
            args.max_rows,
            work / "warm.log",
            data.name,
            configs,
            number,
        )
        plan_metric = resolve_metric(warm.metric, data.task)
        cells = []
        for n in deltas:
            c = cold[data.name].best[min(n, len(cold[data.name].best)) - 1]
            w = warm.best[min(n, len(warm.best)) - 1]
            delta = plan_metric.to_score(w) - plan_metric.to_score(c)
            deltas[n].append(delta / max(abs(c), 1e-12))
            cells += [f"{c:.4g}", f"{w:.4g}"]
        final_delta = deltas[args.trials][-1]
        wins += final_delta >= -0.0005
        rows.append(
            f"| {data.name} | {plan_metric.label} | {len(configs)} | "
            + " | ".join(cells)
            + f" | {100 * final_delta:+.2f}% |"
        )
        print(rows[-1])

    header = (
        f"| dataset | metric | warm configs | cold@1 | warm@1 | cold@3 | warm@3 | "
        f"cold@{args.trials} | warm@{args.trials} | delta@{args.trials} |\n" + "|---" * 10 + "|"
    )
    summary = (
        f"\nFamily {args.family}, {args.trials} trials, 3-fold CV, <= {args.max_rows} rows, "
        f"k={args.k}, portfolio {'off' if args.no_portfolio else 'on'}.\n"
        + "".join(
            f"Mean relative gain after {n} trial(s): {100 * float(np.mean(v)):+.2f}%.\n"
            for n, v in deltas.items()
        )
        + f"Warm >= cold (within 0.05%) after {args.trials} trials on {wins}/{len(suite)} datasets.\n"
    )
    table = header + "\n" + "\n".join(rows) + "\n" + summary
    print(table)
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if not args.no_portfolio else "-history-only"
    out = RESULTS / f"warmstart-{args.family}{suffix}.md"
    out.write_text(f"# Warm starts: {args.family}\n\n{table}", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
