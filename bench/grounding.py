"""Grounding benchmark: a lying model and hostile data, counted (issue 17).

    python bench/grounding.py            # both suites (~1 min)
    python bench/grounding.py --json     # also every case, as JSON

Runs the suites of ``tests/assistant/adversarial.py`` against the real
assistant with scripted models: the lying model's lies (caught = never shown
without a note), its true statements built from real tool results (false
alarm = held or noted), and the obedient model's attempts at actions the user
did not ask for, from orders hidden in a file name, a column name, cells and
what code printed (got through = a run started, the plan changed, or the code
ran); and the offline assistant's narrations of a real conversation (false
alarm = a number it quoted from a tool was held or noted). Prints the table and writes it to ``bench/results/grounding.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(ROOT))

from tests.assistant.adversarial import (  # noqa: E402
    as_json,
    hostile_suite,
    lying_suite,
    offline_suite,
    summary_table,
)


async def _run(root: Path) -> tuple[str, str]:
    told, true = await lying_suite(root / "lies")
    outcomes = await hostile_suite(root / "hostile")
    offline = await offline_suite(root / "offline")
    return summary_table(told, true, outcomes, offline), as_json(told, true, outcomes)


def main() -> None:
    """Run both suites and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="also print every case")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        table, cases = asyncio.run(_run(Path(folder)))
    print(table)
    if args.json:
        print(cases)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "grounding.md").write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
