"""Cost-prior calibration: measured fold-fit time against each family's prior, on generated data.

    python bench/priors.py [--families lightgbm,xgboost] [--max-prior-s 20]

The search skips a family whose estimated cross-validation time does not fit in what is
left of the budget (:func:`tools.search.train.fit_candidates`); the estimate starts from
``ModelFamily.seconds_per_million_cells`` (:mod:`tools.models.families`). A prior that is
too pessimistic skips good models at short budgets; one that is too optimistic overruns
the search (the deadline still holds: fits stop or are abandoned).

For every family and generated shape (rows x numeric columns, binary / 6-class /
regression) it fits the engine's own pipeline (:class:`TabularModel`, one thread, as a
fold fit on a busy machine gets) twice, and prints the median measured time over the
prior's estimate. The data are drawn here with ``make_classification`` /
``make_regression``: none of the ``bench/quality.py`` datasets is read, so the priors
cannot be tuned on rows a benchmark scores on. Shapes whose prior exceeds
``--max-prior-s`` are left out (they would take minutes on one core).

Prints a table per family and a suggested ``seconds_per_million_cells`` (the current
value times the 75th percentile of the ratios: priors should still err on the slow
side), and writes ``bench/results/priors.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification, make_regression

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.models.estimator import TabularModel  # noqa: E402
from tools.models.families import MODEL_FAMILIES  # noqa: E402
from tools.threads import capped  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = [(1_000, 10), (1_000, 60), (1_000, 250), (4_000, 30), (4_000, 120), (16_000, 20)]
TASKS = [("binary", 2), ("multiclass", 6), ("regression", 0)]


def _data(
    task: str, n_classes: int, rows: int, cols: int, seed: int
) -> tuple[pd.DataFrame, pd.Series]:
    if task == "regression":
        X, y = make_regression(
            rows, cols, n_informative=max(2, cols // 4), noise=10.0, random_state=seed
        )
    else:
        X, y = make_classification(
            rows,
            cols,
            n_informative=max(3, cols // 4),
            n_redundant=0,
            n_classes=n_classes,
            n_clusters_per_class=1,
            random_state=seed,
        )
        y = np.array([f"c{v}" for v in y])
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(cols)]), pd.Series(y, name="y")


def _fit_s(family: str, task: str, X: pd.DataFrame, y: pd.Series) -> float:
    columns = tuple((name, "numeric") for name in X.columns)
    model = TabularModel(family, task, columns, n_jobs=1)  # type: ignore[arg-type]
    start = time.perf_counter()
    with capped(1):
        model.fit(X, y)
    return time.perf_counter() - start


def measure(families: list[str], max_prior_s: float) -> dict[str, list[tuple[str, float, float]]]:
    """Per family: (shape, prior seconds, measured seconds) for every shape it was fitted on."""
    found: dict[str, list[tuple[str, float, float]]] = {name: [] for name in families}
    for task, n_classes in TASKS:
        for rows, cols in SHAPES:
            X, y = _data(task, n_classes, rows, cols, seed=rows + cols)
            for name in families:
                family = MODEL_FAMILIES[name]
                if not family.supports(task) or (family.max_rows and rows > family.max_rows):
                    continue
                prior = family.estimate_fit_s(
                    rows, cols, n_columns=cols, n_classes=max(n_classes, 2)
                )
                if prior > max_prior_s:
                    continue
                measured = statistics.median(_fit_s(name, task, X, y) for _ in range(2))
                shape = f"{task[:5]} {rows}x{cols}"
                found[name].append((shape, prior, measured))
                print(
                    f"{name:20s} {shape:18s} prior {prior:7.2f} s  measured {measured:7.2f} s",
                    flush=True,
                )
    return found


def report(found: dict[str, list[tuple[str, float, float]]]) -> str:
    """A markdown table: per family, the ratios' median and 75th percentile, and the suggestion."""
    lines = [
        "| family | shapes | measured / prior: median | p75 | max | current s/Mcell | suggested |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in found.items():
        if not rows:
            continue
        ratios = np.array([measured / prior for _, prior, measured in rows])
        current = MODEL_FAMILIES[name].seconds_per_million_cells
        p75 = float(np.percentile(ratios, 75))
        lines.append(
            f"| {name} | {len(rows)} | {np.median(ratios):.2f} | {p75:.2f} | {ratios.max():.2f} "
            f"| {current:g} | {current * p75:.2g} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Measure, print and save the calibration table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default=",".join(MODEL_FAMILIES))
    parser.add_argument("--max-prior-s", type=float, default=20.0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    found = measure(args.families.split(","), args.max_prior_s)
    table = report(found)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "priors.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
