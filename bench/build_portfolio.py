"""Learn the built-in warm-start portfolio (``tools/data/portfolio.json``) offline.

For every dataset of ``bench/portfolio_data.py`` (generated tables disjoint from
the quality suite, so the benchmark never scores on data our defaults were learned
on; nothing is downloaded), each tunable family is tuned for a few seconds (3-fold CV, at most ``--max-rows``
rows). Each family's best configuration per dataset becomes a candidate; every
candidate is then cross-validated on every dataset of the same task kind
(classification or regression) and a portfolio of up to ``--size``
configurations is picked greedily: each step adds the configuration that most
raises the mean, over datasets, of the best normalised score the portfolio
reaches (scores normalised per dataset to [0, 1] across candidates).

    python bench/build_portfolio.py                       # whole suite, writes the JSON
    python bench/build_portfolio.py --datasets iris,diabetes --trial-budget 3 --out /tmp/p.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from portfolio_data import PORTFOLIO_SUITE  # noqa: E402
from quality import Dataset  # noqa: E402

from tools.analyze.profile import profile_table  # noqa: E402
from tools.metrics import resolve_metric  # noqa: E402
from tools.plan import build_plan  # noqa: E402
from tools.search.studies import tunable_families  # noqa: E402
from tools.search.tune import TuningError, tune  # noqa: E402
from tools.warmstart import PORTFOLIO_PATH, task_kind  # noqa: E402

SKIP_FAMILIES = {"svm", "mlp", "catboost"}
"""Too slow to tune in a few seconds here; they get no portfolio entry (their defaults apply)."""


def _sample(data: Dataset, max_rows: int) -> pd.DataFrame:
    frame = data.frame
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=0).reset_index(drop=True)


def _best_configs(
    data: Dataset, families: list[str], budget_s: float, max_rows: int, work: Path, seed: int
) -> dict[str, tuple[dict, float]]:
    frame = _sample(data, max_rows)
    profile = profile_table(frame, target=data.target)
    plan = build_plan(profile, target=data.target, budget_s=max(budget_s, 1.0), folds=3)
    found: dict[str, tuple[dict, float]] = {}
    for family in families:
        try:
            result = tune(
                frame,
                plan,
                storage=work / f"{data.name}.log",
                study_key=data.name,
                families=[family],
                budget_s=budget_s,
                profile=profile,
                refit=False,
                worker=seed,  # a different sampler seed per dataset
            )
        except TuningError as exc:
            print(f"  {family}: {exc}")
            continue
        found[family] = (result.best_trial_params, result.best_score)
        print(
            f"  {family}: {result.n_trials} trials, best {result.best_score:.4g} "
            f"({result.elapsed_s:.1f} s)"
        )
    return found


def _cross_scores(
    data: Dataset, family: str, configs: list[dict], budget_s: float, max_rows: int, work: Path
) -> list[float]:
    """Score every config on one dataset (3-fold CV); NaN for any that did not finish."""
    frame = _sample(data, max_rows)
    profile = profile_table(frame, target=data.target)
    plan = build_plan(profile, target=data.target, budget_s=60, folds=3)
    scores: list[float] = []
    for number, config in enumerate(configs):
        try:
            result = tune(
                frame,
                plan,
                storage=work / f"cross-{data.name}-{family}-{number}.log",
                study_key="cross",
                families=[family],
                n_trials=1,
                warm_start={family: [config]},
                budget_s=budget_s,
                profile=profile,
                refit=False,
            )
            scores.append(resolve_metric(plan.metric, plan.task).to_score(result.best_score))
        except TuningError:
            scores.append(float("nan"))
    return scores


def _greedy(matrix: np.ndarray, size: int) -> list[int]:
    """Column indices (configs) chosen greedily; matrix rows are datasets, higher is better."""
    lo = np.nanmin(matrix, axis=1, keepdims=True)
    hi = np.nanmax(matrix, axis=1, keepdims=True)
    norm = np.nan_to_num((matrix - lo) / np.where(hi - lo > 0, hi - lo, 1.0), nan=0.0)
    chosen: list[int] = []
    reached = np.zeros(norm.shape[0])
    for _ in range(min(size, norm.shape[1])):
        gains = [
            -1.0 if j in chosen else float(np.maximum(reached, norm[:, j]).mean())
            for j in range(norm.shape[1])
        ]
        pick = int(np.argmax(gains))
        if chosen and gains[pick] <= reached.mean() + 1e-9:
            break
        chosen.append(pick)
        reached = np.maximum(reached, norm[:, pick])
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(PORTFOLIO_SUITE))
    parser.add_argument("--trial-budget", type=float, default=6.0, help="tuning seconds per family")
    parser.add_argument("--max-rows", type=int, default=1500)
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--out", type=Path, default=PORTFOLIO_PATH)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.simplefilter("ignore")
    started = time.monotonic()
    suite = [PORTFOLIO_SUITE[name]() for name in args.datasets.split(",")]
    work = Path(tempfile.mkdtemp(prefix="mlchat-portfolio-"))

    best: dict[str, dict[str, dict[str, tuple[dict, float]]]] = {}
    for number, data in enumerate(suite):
        families = [f for f in tunable_families(data.task) if f not in SKIP_FAMILIES]
        print(f"{data.name} ({data.task}): tuning {', '.join(families)}")
        best.setdefault(task_kind(data.task), {})[data.name] = _best_configs(
            data, families, args.trial_budget, args.max_rows, work, number
        )

    configs: dict[str, dict[str, list[dict]]] = {}
    by_name = {data.name: data for data in suite}
    for kind, per_dataset in best.items():
        families = sorted({f for found in per_dataset.values() for f in found})
        for family in families:
            candidates = [found[family][0] for found in per_dataset.values() if family in found]
            unique = list({json.dumps(c, sort_keys=True): c for c in candidates}.values())
            names = [n for n, found in per_dataset.items() if family in found]
            matrix = np.array(
                [
                    _cross_scores(
                        by_name[n], family, unique, args.trial_budget, args.max_rows, work
                    )
                    for n in names
                ]
            )
            picked = _greedy(matrix, args.size)
            configs.setdefault(kind, {})[family] = [unique[j] for j in picked]
            print(f"{kind}/{family}: {len(unique)} candidates -> {len(picked)} kept")

    payload = {
        "about": (
            "Warm-start configurations per task kind and model family, best first, learned "
            "by bench/build_portfolio.py on the generated datasets of bench/portfolio_data.py, "
            "disjoint from the quality suite. Parameters are Optuna trial parameters of each "
            "family's search space in tools/models.py."
        ),
        "datasets": [data.name for data in suite],
        "trial_budget_s": args.trial_budget,
        "max_rows": args.max_rows,
        "configs": configs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
