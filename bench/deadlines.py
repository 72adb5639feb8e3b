"""Deadline benchmark: does ``mlchat train`` end within 1.1 x budget + 2 s, counted from process start?

    python bench/deadlines.py                    # the standard cases (~3 min)
    python bench/deadlines.py --repeats 3        # each case three times
    python bench/deadlines.py --big              # also 1,000,000 x 30 at 60 s

Each case generates a CSV in a temporary folder, then times ``mlchat train``
as a subprocess from just before it starts to its exit: loading, profiling,
the search, the refit, explaining and exporting all count, as they do for a
user. Prints a table (shape x families x budget -> wall time, seconds over
the budget, seconds over the limit) and writes it to
``bench/results/deadlines.md``. A case over the limit is a bug (issue 15).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, slots=True)
class Case:
    rows: int
    columns: int
    classes: int
    """0 for a regression target."""
    models: str
    """``--models`` (empty: the plan's default families)."""
    budget_s: float

    @property
    def shape(self) -> str:
        kind = f"{self.classes} classes" if self.classes else "regression"
        return f"{self.rows:,} x {self.columns} ({kind})"


CASES = [
    *(Case(300, 8, 2, "", b) for b in (3, 10)),
    *(Case(8_000, 30, 10, "catboost", b) for b in (3, 10)),
    *(Case(8_000, 30, 10, "mlp", b) for b in (3, 10)),
    Case(200_000, 50, 2, "", 10),
]
BIG = [Case(1_000_000, 30, 2, "", 60)]


def write_csv(path: Path, case: Case, seed: int = 0) -> None:
    """Numeric columns and a target that depends on all of them (classes or values)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(case.rows, case.columns)).astype(np.float32)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(case.columns)])
    if case.classes:
        weights = rng.normal(size=(case.columns, case.classes))
        logits = X @ weights + rng.gumbel(size=(case.rows, case.classes))
        frame["target"] = [f"c{k}" for k in np.argmax(logits, axis=1)]
    else:
        frame["target"] = X @ rng.normal(size=case.columns) + rng.normal(size=case.rows)
    frame.to_csv(path, index=False, float_format="%.4g")


def run_case(case: Case, folder: Path) -> tuple[float, int]:
    """Wall seconds of one ``mlchat train`` run from process start to exit, and its exit code."""
    csv = folder / "data.csv"
    if not csv.exists():
        write_csv(csv, case)
    command = [sys.executable, "-m", "assistant.cli", "train", str(csv), "--target", "target"]
    command += ["--budget", f"{case.budget_s:g}", "--out", str(folder / f"run-{time.time_ns()}")]
    if case.models:
        command += ["--models", case.models]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    wall_s = time.monotonic() - started
    if done.returncode != 0:
        print(done.stderr[-2_000:], file=sys.stderr)
    return wall_s, done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--big", action="store_true", help="also 1,000,000 x 30 at 60 s")
    args = parser.parse_args(argv)
    cases = CASES + (BIG if args.big else [])
    lines = [
        "| data | families | budget | wall | over budget | limit (1.1 x B + 2) | held |",
        "|---|---|---|---|---|---|---|",
    ]
    missed = 0
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="mlchat-deadlines-") as folder:
            for _ in range(args.repeats):
                wall_s, code = run_case(case, Path(folder))
                limit_s = 1.1 * case.budget_s + 2
                held = code == 0 and wall_s <= limit_s
                missed += not held
                line = (
                    f"| {case.shape} | {case.models or 'default'} | {case.budget_s:g} s "
                    f"| {wall_s:.1f} s | {wall_s - case.budget_s:+.1f} s | {limit_s:.1f} s "
                    f"| {'yes' if held else 'NO' if code == 0 else f'exit {code}'} |"
                )
                print(line, flush=True)
                lines.append(line)
    table = "\n".join(lines)
    print("\n" + table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "deadlines.md").write_text(table + "\n", encoding="utf-8")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
