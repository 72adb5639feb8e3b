"""Does ``model.joblib`` on raw rows predict what ``mlchat predict`` predicts?

For each dataset of the quality suite (``bench/quality.py``), plus a messy table
of yes/no words, decimal commas, "n/a" cells and dates (``raw_yes_no``), the
script writes the 75/25 split as CSV files, runs ``mlchat train`` on the
training file and ``mlchat predict`` on the test file (in process, the same
functions as the command), then compares those predictions row by row with
``joblib.load("model.joblib").predict(pandas.read_csv(test_file))``. For contrast it
also reports the share for the fitted model without its parse step (what
``model.joblib`` was before: it expected rows already parsed by ``load_table``).

    python bench/raw_rows.py --budget 5                         # the whole suite
    python bench/raw_rows.py --budget 5 --datasets iris,raw_yes_no

Prints one line per dataset (agreement share, the classes the model speaks)
and writes the table to ``bench/results/raw-rows-<budget>.md``. Labels are
compared as text; regression values to 1e-9 relative.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from quality import SUITE, Dataset  # noqa: E402

from assistant.cli import main as mlchat  # noqa: E402
from tests.tools.raw_tables import TARGET as RAW_TARGET  # noqa: E402
from tests.tools.raw_tables import make_raw_table  # noqa: E402
from tools.io.raw_rows import fitted_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, slots=True)
class Agreement:
    dataset: str
    rows: int
    agreeing: int
    bare_agreeing: int | None
    """Rows where the model without its parse step agrees (None: it raised)."""
    classes: str
    wall_s: float

    @property
    def share(self) -> float:
        return self.agreeing / self.rows if self.rows else float("nan")


def raw_yes_no() -> Dataset:
    """A price table as people export it: yes/no words, decimal commas, "n/a", dates."""
    return Dataset("raw_yes_no", make_raw_table(4000, seed=0), RAW_TARGET, "binary")


DATASETS = {**SUITE, "raw_yes_no": raw_yes_no}


def check(data: Dataset, budget_s: float, folder: Path) -> Agreement:
    """Train with ``mlchat train``, predict both ways, count the rows that agree."""
    stratify = data.frame[data.target] if data.task != "regression" else None
    train_rows, test_rows = train_test_split(
        data.frame, test_size=0.25, random_state=0, stratify=stratify
    )
    train_file, test_file = folder / f"{data.name}.csv", folder / f"{data.name}-new.csv"
    train_rows.to_csv(train_file, index=False)
    test_rows.drop(columns=[data.target]).to_csv(test_file, index=False)
    run, predictions = folder / f"{data.name}-run", folder / f"{data.name}-predictions.csv"
    started = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):
        budget = f"{budget_s:g}"
        train = ["train", str(train_file), "--target", data.target, "--budget", budget]
        status = mlchat([*train, "--out", str(run)])
        if status == 0:
            status = mlchat(["predict", str(run), str(test_file), "--out", str(predictions)])
    wall_s = time.monotonic() - started
    if status != 0:
        raise SystemExit(f"{data.name}: mlchat exited with status {status}")
    written = pd.read_csv(predictions, keep_default_na=False)["prediction"]
    saved = joblib.load(run / "model.joblib")
    raw = pd.read_csv(test_file)
    same = _same(saved.predict(raw), written, data.task)
    try:
        bare = int(_same(fitted_model(saved).predict(raw), written, data.task).sum())
    except Exception:  # the bare model may refuse raw text outright; that is the finding
        bare = None
    classes = getattr(saved, "classes_", None)
    shown = "" if classes is None else ", ".join(map(str, list(classes)[:4]))
    if classes is not None and len(classes) > 4:
        shown += ", ..."
    return Agreement(data.name, len(same), int(same.sum()), bare, shown, wall_s)


def _same(predicted: np.ndarray, written: pd.Series, task: str) -> np.ndarray:
    direct = pd.Series(predicted)
    if task == "regression":
        return np.isclose(direct.to_numpy(float), written.to_numpy(float), rtol=1e-9, atol=0)
    return direct.astype(str).to_numpy() == written.astype(str).to_numpy()


def render(agreements: list[Agreement], budget_s: float) -> str:
    lines = [
        f"joblib predict on raw rows vs mlchat predict, budget {budget_s:g} s",
        "",
        "| dataset | rows | agreeing | share | without the parse step | classes_ | wall (s) |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for a in agreements:
        bare = "error" if a.bare_agreeing is None else f"{a.bare_agreeing / a.rows:.2%}"
        lines.append(
            f"| {a.dataset} | {a.rows} | {a.agreeing} | {a.share:.2%} | {bare} | {a.classes} "
            f"| {a.wall_s:.1f} |"
        )
    total = sum(a.rows for a in agreements)
    agreeing = sum(a.agreeing for a in agreements)
    full = sum(a.agreeing == a.rows for a in agreements)
    lines += [
        "",
        f"{full} of {len(agreements)} datasets agree on every row; "
        f"{agreeing} of {total} rows overall.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=5.0, help="seconds per run (default 5)")
    parser.add_argument("--datasets", help=f"comma-separated subset of: {', '.join(DATASETS)}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    names = args.datasets.split(",") if args.datasets else list(DATASETS)
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    agreements = []
    with tempfile.TemporaryDirectory(prefix="mlchat-raw-rows-") as scratch:
        folder = Path(scratch)
        os.environ["MLCHAT_DATA_DIR"] = str(folder / "data")  # no user data folder touched
        for name in names:
            agreement = check(DATASETS[name](), args.budget, folder)
            agreements.append(agreement)
            print(
                f"{name}: {agreement.agreeing}/{agreement.rows} rows agree "
                f"({agreement.share:.2%}); classes_ [{agreement.classes}]; "
                f"{agreement.wall_s:.1f} s",
                flush=True,
            )
    table = render(agreements, args.budget)
    print("\n" + table + "\n", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"raw-rows-{args.budget:g}.md").write_text(table + "\n", encoding="utf-8")
    return 0 if all(a.agreeing == a.rows for a in agreements) else 1


if __name__ == "__main__":
    sys.exit(main())
