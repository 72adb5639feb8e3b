"""Questions back to the user: which column to predict, and examples that fit this file.

Both become an ``ask_user`` call, so the browser shows the choices as buttons
and the terminal as numbered lines; a choice is sent back as the user's next
message ("predict churn"), which the rules understand.
"""

from __future__ import annotations

import re

from assistant.offline.columns import PLACEHOLDER, ColumnIndex
from assistant.offline.durations import find_duration
from assistant.offline.facts import ColumnFacts, FileFacts, Situation
from assistant.offline.intent import Intent
from assistant.offline.vocabulary import FAMILY, METRIC

MAX_OPTIONS = 4
_TARGET_WORDS = frozenset(
    [
        "churn",
        "churned",
        "target",
        "label",
        "outcome",
        "class",
        "y",
        "default",
        "fraud",
        "survived",
        "price",
        "sales",
        "revenue",
        "returned",
        "status",
        "result",
        "diagnosis",
        "converted",
        "approved",
        "response",
        "clicked",
        "purchased",
        "attrition",
        "left",
        "exited",
        "cancelled",
        "canceled",
        "quality",
        "score",
        "rating",
        "amount",
        "income",
        "salary",
        "cost",
        "value",
        "species",
        "category",
        "type",
        "grade",
        "risk",
    ]
)
_NOT_TARGET = re.compile(
    r"(^|_|\b)(id|uuid|key|date|time|timestamp|name|email|phone)($|_|\b)", re.I
)


def likely_targets(facts: FileFacts | None) -> list[str]:
    """The columns most likely meant as the target, likeliest first."""
    if facts is None:
        return []
    scored = []
    last = len(facts.columns) - 1
    for position, column in enumerate(facts.columns):
        if column.is_unique or _NOT_TARGET.search(column.name):
            continue
        words = set(re.split(r"[^a-z0-9]+", column.name.lower()))
        score = 3.0 if words & _TARGET_WORDS else 0.0
        if len(column.values) == 2:
            score += 2
        elif column.values and not column.is_numeric:
            score += 1
        elif column.is_numeric:
            score += 0.5
        if position == last:
            score += 1
        scored.append((-score, position, column.name))
    return [name for _, _, name in sorted(scored)[:MAX_OPTIONS]]


def target_question(facts: FileFacts | None, unknown: str | None) -> Intent:
    """Ask which column to predict, offering the likeliest ones."""
    options = [f"predict {name}" for name in likely_targets(facts)]
    question = "Which column should I predict?"
    if unknown:
        question = f"This file has no column called “{unknown}”. {question}"
    if not options:
        question += " Attach a CSV, TSV, Parquet, Excel or JSON file first."
    return Intent("ask_user", {"question": question, "options": options})


def examples(facts: FileFacts | None, situation: Situation) -> list[str]:
    """Two requests that work offline on this file."""
    if facts is None:
        return ["train a model to predict <column> (after attaching a file)", "show the data"]
    first: str
    if situation.has_model:
        first = "why is the most important column important? (say its name)"
        features = [
            c.name
            for c in sorted(facts.columns, key=lambda c: not c.is_numeric)
            if c.name != situation.target and not c.is_unique
        ]
        if features:
            first = f"why is {features[0]} important?"
    else:
        targets = likely_targets(facts)
        first = f"train a model to predict {targets[0]}" if targets else "show the data"
    numeric = [c for c in facts.columns if c.is_numeric and not c.is_unique]
    grouping = [c for c in facts.columns if c.values and not c.is_numeric and not c.is_unique]
    if numeric and grouping:
        second = f"average {numeric[0].name} by {grouping[0].name}"
    elif grouping:
        second = f"how many rows per {grouping[0].name}"
    else:
        second = "how many rows are there"
    return [first, second]


def unclear_question(
    marked: str, index: ColumnIndex, facts: FileFacts | None, situation: Situation
) -> Intent | None:
    """Say what was understood of a message that fits no request, with two examples to pick."""
    if facts is None:
        return None
    understood = _understood(marked, index)
    if understood:
        several = "”, “" in understood or " and " in understood
        head = f"I understood {understood}, but not what to do with {'them' if several else 'it'}."
    else:
        head = "I couldn't match that to something I can do without a language model."
    question = f"{head} Here is what works offline on this file, for example:"
    named = [index.names[int(m.group(1))] for m in PLACEHOLDER.finditer(marked)]
    options = _about(named[0], facts, situation) if named else examples(facts, situation)
    return Intent("ask_user", {"question": question, "options": options})


def _about(column: str, facts: FileFacts, situation: Situation) -> list[str]:
    """Two requests about the column the user named."""
    if situation.has_model and column != situation.target:
        first = f"why is {column} important?"
    elif situation.has_model:
        first = "explain the model"
    else:
        first = f"train a model to predict {column}"
    about = facts.column(column)
    grouping = [c for c in facts.columns if c.values and not c.is_numeric and not c.is_unique]
    if about is not None and about.is_numeric and grouping and grouping[0].name != column:
        second = f"average {column} by {grouping[0].name}"
    elif about is not None and about.values:
        second = f"how many rows per {column}"
    else:
        second = f"distribution of {column}"
    return [first, second]


def _understood(marked: str, index: ColumnIndex) -> str:
    parts = []
    columns = list(
        dict.fromkeys(index.names[int(m.group(1))] for m in PLACEHOLDER.finditer(marked))
    )
    if columns:
        named = ", ".join(f"“{c}”" for c in columns[:3])
        parts.append(f"the column{'s' if len(columns) > 1 else ''} {named}")
    metric = METRIC.search(marked)
    if metric:
        parts.append(f"the metric “{metric.group(1)}”")
    family = FAMILY.search(marked)
    if family:
        parts.append(f"the models “{family.group(1)}”")
    duration = find_duration(marked)
    if duration:
        parts.append(f"a time of {duration[0]} s")
    return " and ".join(parts)


__all__ = ["ColumnFacts", "examples", "likely_targets", "target_question", "unclear_question"]
