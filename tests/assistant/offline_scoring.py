"""Scoring the offline parser on a set of phrasings: right, asked back, or wrong, per intent.

A case is right when the parser's calls are the expected tools in order and
each expected argument is among the real ones. Two readings count as the same
request: a plan change followed by training equals training with those
settings, and a plot's two columns may come in either order; the model
families are compared as a set.

The phrasing sets (``offline_phrasings``, ``offline_dev``, ``offline_heldout``)
build their cases from the helpers here. Run
``python -m tests.assistant.offline_scoring`` to print the held-out and dev tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.offline.facts import FileFacts, Situation
from assistant.offline.intents import read_message

Call = tuple[str, dict[str, Any]]
TOOLS = frozenset(
    {
        "profile_dataset",
        "set_plan",
        "train_models",
        "tune_model",
        "engineer_features",
        "show_leaderboard",
        "explain_model",
        "suggest_improvements",
        "predict_file",
        "list_artifacts",
        "plot_columns",
        "run_code",
        "query_data",
        "ask_user",
        "deploy_model",
        "export_notebook",
    }
)
_FAMILY_LISTS = ("models", "add_models", "remove_models")
FRESH = Situation()


@dataclass(frozen=True)
class Case:
    """One phrasing, the intent it tests, and the calls it should become."""

    intent: str
    text: str
    calls: tuple[Call, ...]
    facts: FileFacts
    situation: Situation = field(default_factory=Situation)


def cases_on(facts: FileFacts, trained: Situation) -> Callable[..., Case]:
    """A builder of cases said about ``facts``, in the ``trained`` situation unless told."""

    def case(
        intent: str, text: str, calls: tuple[Call, ...], situation: Situation = trained
    ) -> Case:
        return Case(intent, text, calls, facts, situation)

    return case


def train(**arguments: Any) -> tuple[Call, ...]:
    return (("train_models", arguments),)


def plan(**arguments: Any) -> tuple[Call, ...]:
    return (("set_plan", arguments),)


def tune(**arguments: Any) -> tuple[Call, ...]:
    return (("tune_model", arguments),)


def query(**arguments: Any) -> tuple[Call, ...]:
    return (("query_data", arguments),)


def why(feature: str) -> tuple[Call, ...]:
    return (("explain_model", {"feature": feature}),)


def plot(x: str, y: str | None = None) -> tuple[Call, ...]:
    return (("plot_columns", {"x": x, **({"y": y} if y else {})}),)


def features(*texts: str) -> tuple[Call, ...]:
    """``engineer_features`` with these exact features; with none, any features count."""
    return (("engineer_features", {"features": list(texts)} if texts else {}),)


EXPLAIN: tuple[Call, ...] = (("explain_model", {}),)
BOARD: tuple[Call, ...] = (("show_leaderboard", {}),)
FILES: tuple[Call, ...] = (("list_artifacts", {}),)
PROFILE: tuple[Call, ...] = (("profile_dataset", {}),)
PREDICT: tuple[Call, ...] = (("predict_file", {"dataset_id": "d2"}),)
IMPROVE: tuple[Call, ...] = (("suggest_improvements", {}),)
ASK: tuple[Call, ...] = (("ask_user", {}),)


def calls_of(case: Case) -> list[Call]:
    """What the parser makes of the case's message."""
    intents = read_message(case.text, facts=case.facts, situation=case.situation, available=TOOLS)
    return [(i.tool, dict(i.arguments)) for i in intents]


def verdict(case: Case, calls: list[Call]) -> str:
    """``"right"``, ``"asked"`` (a question back) or ``"wrong"``."""
    got, expected = _merged(calls), _merged(list(case.calls))
    if [t for t, _ in got] == [t for t, _ in expected] and all(
        _same_arguments(tool, want, have)
        for (tool, want), (_, have) in zip(expected, got, strict=True)
    ):
        return "right"
    return "asked" if [t for t, _ in calls] == ["ask_user"] else "wrong"


def table(cases: tuple[Case, ...]) -> dict[str, dict[str, int]]:
    """``intent -> {"right": n, "asked": n, "wrong": n}``."""
    tally: dict[str, dict[str, int]] = defaultdict(lambda: {"right": 0, "asked": 0, "wrong": 0})
    for case in cases:
        tally[case.intent][verdict(case, calls_of(case))] += 1
    return dict(tally)


def accuracy(cases: tuple[Case, ...]) -> float:
    """Share of cases read right."""
    return sum(verdict(c, calls_of(c)) == "right" for c in cases) / len(cases)


def _merged(calls: list[Call]) -> list[Call]:
    out: list[Call] = []
    for tool, arguments in calls:
        if tool == "train_models" and out and out[-1][0] == "set_plan":
            out[-1] = ("train_models", {**out[-1][1], **arguments})
        else:
            out.append((tool, arguments))
    return out


def _same_arguments(tool: str, want: dict[str, Any], have: dict[str, Any]) -> bool:
    if tool == "plot_columns":
        return {want.get("x"), want.get("y")} == {have.get("x"), have.get("y")}
    for key, value in want.items():
        if key in _FAMILY_LISTS:
            if sorted(have.get(key) or []) != sorted(value):
                return False
        elif have.get(key) != value:
            return False
    return True


def _print(name: str, cases: tuple[Case, ...], *, misses: bool) -> None:
    rows = table(cases)
    print(f"\n{name}: {len(cases)} phrasings, {accuracy(cases):.0%} right")
    print(f"{'intent':<12} {'right':>5} {'asked':>5} {'wrong':>5} {'n':>4}")
    for intent, counts in sorted(rows.items()):
        total = sum(counts.values())
        print(
            f"{intent:<12} {counts['right']:>5} {counts['asked']:>5} {counts['wrong']:>5} {total:>4}"
        )
    if misses:
        for case in cases:
            calls = calls_of(case)
            if verdict(case, calls) != "right":
                print(f"  MISS [{case.intent}] {case.text!r} -> {calls}")


if __name__ == "__main__":
    import sys

    from tests.assistant import offline_heldout

    show = "--misses" in sys.argv
    _print("held-out", offline_heldout.CASES, misses=show and "--heldout-misses" in sys.argv)
    try:
        from tests.assistant import offline_dev
    except ImportError:
        pass
    else:
        _print("dev", offline_dev.CASES, misses=show)
