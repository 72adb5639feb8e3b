"""Reliability summary: runs tests/reliability and tests/security and counts what they prove.

Every number comes from this run: pytest is run in-process with a small
plugin that records each test's outcome and the properties it recorded
(``record_property``), then the outcomes are counted per category:

- bad inputs tried / handled      tests/reliability/test_bad_inputs.py
- faults injected / survived      test_provider_faults.py, test_process_faults.py, test_sigkill.py
- attacks tried / contained       tests/security/
- rows acknowledged / found       after SIGKILL (properties of test_sigkill.py)

"handled", "survived" and "contained" count passing tests; a test marked
``xfail(strict=True, reason="BUG: ...")`` is a known product bug and is
counted as tried but not handled, with its reason listed. Usage::

    .venv/bin/python bench/reliability.py [--json bench/results/reliability.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = {
    "test_bad_inputs.py": "bad inputs",
    "test_provider_faults.py": "faults",
    "test_process_faults.py": "faults",
    "test_sigkill.py": "faults",
}
VERBS = {"bad inputs": "handled", "faults": "survived", "attacks": "contained"}


@dataclass
class Outcome:
    nodeid: str
    category: str
    outcome: str
    """passed, failed, skipped, xfailed or xpassed."""
    seconds: float
    reason: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """A pytest plugin that keeps one :class:`Outcome` per test."""

    def __init__(self) -> None:
        self.outcomes: dict[str, Outcome] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = report.outcome
            reason = ""
            if hasattr(report, "wasxfail"):
                outcome = "xfailed" if report.skipped else "xpassed"
                reason = report.wasxfail
            elif report.skipped and isinstance(report.longrepr, tuple):
                reason = str(report.longrepr[2])
            self.outcomes[report.nodeid] = Outcome(
                report.nodeid,
                _category(report.nodeid),
                outcome,
                round(report.duration, 2),
                reason,
                dict(report.user_properties),
            )


def _category(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    if path.startswith("tests/security/"):
        return "attacks"
    return CATEGORIES.get(Path(path).name, "other")


def summarise(outcomes: list[Outcome]) -> list[str]:
    """The summary lines, each computed from ``outcomes``."""
    lines = []
    for category in ("bad inputs", "faults", "attacks"):
        mine = [o for o in outcomes if o.category == category]
        counts = Counter(o.outcome for o in mine)
        tried = len(mine) - counts["skipped"]
        lines.append(
            f"{category:<11} tried {tried:>3}  {VERBS[category]} {counts['passed']:>3}"
            f"  known bugs (xfail) {counts['xfailed']}  failed {counts['failed']}"
            f"  skipped {counts['skipped']}"
        )
    acknowledged = sum(int(o.properties.get("rows_acknowledged", 0)) for o in outcomes)
    found = sum(int(o.properties.get("rows_found", 0)) for o in outcomes)
    lines.append(f"after SIGKILL: turns acknowledged {acknowledged}, found {found}")
    for o in outcomes:
        if o.outcome in ("xfailed", "failed", "xpassed"):
            lines.append(f"  {o.outcome}: {o.nodeid}  {o.reason}".rstrip())
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", type=Path, help="also write every outcome to this JSON file")
    args = parser.parse_args(argv)
    recorder = Recorder()
    started = time.monotonic()
    code = pytest.main(
        ["-q", "-p", "no:cacheprovider", "tests/reliability", "tests/security"],
        plugins=[recorder],
    )
    elapsed = time.monotonic() - started
    outcomes = list(recorder.outcomes.values())
    print(f"\nReliability summary ({len(outcomes)} tests, {elapsed:.0f} s, pytest exit {code})")
    for line in summarise(outcomes):
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2))
    return 0 if code in (0, 1) and outcomes else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
