"""What the offline assistant knows when it reads a message: the file's columns and the chat so far.

:class:`FileFacts` is read from the newest attached table (names, which
columns hold numbers, the values of the few-valued ones) so that "predict
churn" or "customers on a month-to-month contract" can be matched against
real columns and values. :class:`Situation` is read from the history: is
there a model yet, what is its target, was a question just asked.
Column names and values are file text: they are only compared with what the
user wrote, never followed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from assistant.providers.base import Message

MAX_VALUES = 30
"""Columns with at most this many distinct values have them listed (for filters like "= fiber")."""


@dataclass(frozen=True, slots=True)
class ColumnFacts:
    """One column of the attached table."""

    name: str
    is_numeric: bool
    values: tuple[str, ...] = ()
    """Its distinct values (as text, most frequent first) when there are few of them."""
    is_unique: bool = False
    """Every row has its own value (an ID-like column: never a target)."""
    is_date: bool = False
    """It holds dates (parsed by the loader as datetimes)."""


@dataclass(frozen=True, slots=True)
class FileFacts:
    """The attached table as the parser sees it."""

    dataset_id: str
    columns: tuple[ColumnFacts, ...]
    planned_target: str | None = None
    """The target the thread's stored plan names (e.g. an interrupted run's, set for
    "train again"), which the history's messages may not show."""

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in file order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnFacts | None:
        """The facts of the column called exactly ``name``."""
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True, slots=True)
class Situation:
    """Where the conversation stands, read from its history."""

    has_model: bool = False
    target: str | None = None
    """The target of the latest training request or plan."""
    new_file: str | None = None
    """Dataset id of a file attached with this very message."""
    options: tuple[str, ...] = ()
    """The choices the last question offered (a reply "2" means the second)."""


def facts_of_frame(
    dataset_id: str,
    frame: pd.DataFrame,
    *,
    words: Callable[[str], tuple[str, str] | None] = lambda name: None,
) -> FileFacts:
    """The :class:`FileFacts` of a loaded table.

    ``words`` gives the file's own (false, true) words of a yes/no column the
    loader turned into booleans, so "churn is yes" still matches.
    """
    columns = []
    for name in frame.columns:
        series = frame[name]
        said = words(str(name)) if pd.api.types.is_bool_dtype(series) else None
        if said is not None:
            series = series.map({False: said[0], True: said[1]})
        is_numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(
            series
        )
        counts = series.dropna().astype(str).value_counts()
        values = (
            tuple(str(v) for v in counts.index[:MAX_VALUES]) if len(counts) <= MAX_VALUES else ()
        )
        is_unique = len(series) > 20 and counts.size == len(series) and not is_numeric
        is_date = pd.api.types.is_datetime64_any_dtype(series)
        columns.append(ColumnFacts(str(name), is_numeric, values, is_unique, is_date))
    return FileFacts(dataset_id, tuple(columns))


def situation_of(messages: Sequence[Message], *, user_index: int) -> Situation:
    """What the history before ``messages[user_index]`` (the user's message) tells."""
    has_model = False
    target: str | None = None
    options: tuple[str, ...] = ()
    calls: dict[str, tuple[str, dict[str, object]]] = {}
    for message in messages[:user_index]:
        if message.role == "assistant":
            for call in message.tool_calls:
                calls[call.id] = (call.name, _arguments(call.arguments))
        elif message.role == "tool":
            name, arguments = calls.get(message.tool_call_id or "", (message.name or "", {}))
            # older results reach us summarised, so read the summary text, not the JSON
            result = _json(message.content)
            said = str(result.get("summary", "")) if result is not None else message.content
            succeeded = result is not None or message.content.startswith("(older result")
            if name in ("train_models", "tune_model") and re.search(
                r"\b(Trained \d+ models?|Tuning improved|Tuning did not beat)", said
            ):
                has_model = True
                named = re.search(r"to predict [“\"](.+?)[”\"]", said)
                target = named.group(1) if named else target
            elif name == "set_plan" and succeeded and arguments.get("target"):
                target = str(arguments["target"])
            if name == "ask_user" and succeeded:
                offered = arguments.get("options", [])
                options = tuple(str(o) for o in offered) if isinstance(offered, list) else ()
        elif message.role == "user" and not message.name:
            options = ()  # a question is answered by the very next message only
    content = messages[user_index].content if user_index < len(messages) else ""
    attached = re.findall(r"\(dataset (d\d+)\)", content.rsplit("[Attached:", 1)[-1])
    new_file = attached[-1] if "[Attached:" in content and attached else None
    return Situation(has_model, target, new_file, options)


def _arguments(text: str) -> dict[str, object]:
    value = _json(text)
    return value if value is not None else {}


def _json(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


_NAMED_PHRASES = (
    r"\bto predict\s+(?:the\s+|whether\s+|if\s+)?([\w .%/-]+?)(?:\s+(?:column|using|with|from|on|in|for|and)\b|[.,;!?]|$)",
    r"\btarget(?: column)?\s+(?:is|=|:|should be)\s+([\w .%/-]+?)(?:\s+(?:column|and)\b|[.,;!?]|$)",
    r"\bpredict(?:ing|s)?\s+(?:the\s+)?([\w .%/-]+?)(?:\s+(?:column|using|with|from|on|in|for|and)\b|[.,;!?]|$)",
    r"\b(?:classify|forecast)\s+(?:the\s+)?([\w .%/-]+?)(?:\s+(?:column|using|with|from|on|in|for|and)\b|[.,;!?]|$)",
    r"\bwhy (?:is|does|are|do)\s+(?:the\s+)?(.+?)\s+(?:so\s+)?(?:important|matter|useful|relevant)",
    r"\bplot\s+(?:of\s+)?([\w .%/-]+?)\s+(?:vs\.?|versus|against|by)\s+([\w .%/-]+?)\s*[.?!]?$",
    r"\b(?:distribution|histogram|plot)\s+(?:of\s+)?(?:the\s+)?([\w .%/-]+?)\s*[.?!]?$",
)
_NOT_NAMES = frozenset({"this file", "it", "this", "the file", "new file", "on this file", "on"})


def facts_from_words(text: str) -> FileFacts | None:
    """Stand-in facts when no file is known: the phrases in a column's usual places.

    Without a file ("predict churn" typed before attaching), the words after
    "predict", "the target is", "why is", "plot" are taken as column names as
    written, and the tools check them against the file later.
    """
    body = re.sub(r"\n\n\[Attached: .*\]\s*$", "", text, flags=re.S).strip().strip("`'\"“”")
    body = re.sub(r"[`'\"“”]", "", body)
    names: list[str] = []
    for pattern in _NAMED_PHRASES:
        for match in re.finditer(pattern, body, re.I):
            for phrase in match.groups():
                phrase = (phrase or "").strip()
                inside = any(re.search(rf"\b{re.escape(n)}\b", phrase) for n in names)
                if phrase and phrase.lower() not in _NOT_NAMES and not inside:
                    names.append(phrase)
    if not names:
        return None
    return FileFacts("", tuple(ColumnFacts(name, False) for name in names))
