"""The grounding check: a number the assistant states must be a fact a tool produced.

Claims, not bare numbers. Each sentence of a reply is read for the numbers it
states (``assistant/numbers.py``: digits, words, percentages, ratios, signs,
units) and for what they are said about: the model, column and metric named
nearest to the number. A number is grounded when

- a fact of a tool result (:class:`~assistant.toolkit.ToolResult.facts`, kept
  with the tool's message) has that value at the precision written, and is not
  about another model or column than the sentence names; a value stated as a
  metric (decimals or a percentage next to "ROC AUC", "F1", "score"...) must
  come from a fact about that metric;
- or a ratio ("5x") or difference ("0.02 better") of two facts about the same
  metric gives it;
- or the user wrote it.

A sentence that names no model ("It scored 0.91", "That's 12% better") is
about the subject before it (:class:`ClaimChecker`): the models the reply's
last naming sentence named, else the conversation's (the models the user's
latest message named, or the model of the newest tool result about one). A
pronoun may be ambiguous, so the subject is every model that sentence named;
a sentence pointing elsewhere ("the runner-up", "each model") is held to none.
A comparison binds both sides: the models it names, or one named against the
subject. Columns carry the same way ("Its importance is...").

Word lists here are for closed classes of English (pronouns, words of
direction, approximation and comparison); metric and model names come from
the registries (``tools.models.MODEL_FAMILIES``) plus their common spellings.

Never a source: tool errors (they echo the model's own arguments), what
``run_code`` printed, cells and column names of the user's file (tool facts
keep them as strings, and strings are never numbers here), and the model's
own tool arguments. Numbers in the sentences a trusted tool wrote (its
``summary``, ``warnings``, ``insights``...) count, outside quoted names, but
bind to no metric.

Not claims: list markers, "top 3", numbers inside names the reply quotes
(`` `x2` ``, a column “2019 sales”), wording suggested to the user (say
“tune it for 2 minutes”), dates, file names, and a code block that repeats
what ``run_code`` printed.

:class:`HeldText` applies the check while a reply streams: a sentence is
shown once it is checked; the first that fails is held with everything after
it (see ``assistant/agent.py`` for the one rewrite that follows).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from assistant.numbers import Number, numbers_in
from tools.metrics import metric_spellings
from tools.models.families import MODEL_FAMILIES

GROUNDING_CHECK = "grounding_check"
"""``name`` of the user-role message that asks the model to correct its numbers."""
UNTRUSTED_TOOLS = frozenset({"run_code"})
"""Tools whose text is not ours: nothing they return grounds a number."""
_TEXT_KEYS = frozenset({"summary", "warnings", "insights", "suggestions", "notes", "task_reason"})
_MODEL_KEYS = ("model", "best_model")
_COLUMN_KEYS = ("column", "feature")
_COLUMN_MAPS = frozenset({"missing_share"})
_SCORE_KEYS = frozenset(
    {"score", "std", "best_score", "previous_best_score", "baseline", "final"}
    | {"score_with", "score_without"}
)
_SPREAD_KEYS = frozenset({"std"})
"""Scores' spreads: compared with each other they say nothing about which model is better."""
_SAME_METRIC = {"roc_auc_ovr": "roc_auc", "f1_macro": "f1"}
"""A metric's multiclass form reads as the metric ("F1" for F1 (macro)): one name for both."""
_PROSE_METRICS: dict[str, tuple[str, ...]] = {
    "precision": ("precision",),
    "recall": ("recall",),
    "importance": ("importance", "permutation importance"),
    "correlation": (
        "correlation",
        "correlated",
        "correlates",
        "spearman",
        "spearman_correlation",
        "correlation_with_target",
    ),
    "*": ("score", "scores", "scored", "scoring"),
}
"""Words for numbers that are not the engine's metrics; "*" is any score."""


def _metric_spellings() -> dict[str, str]:
    """The engine's own metric names, labels and aliases (``tools.metrics``), each also
    with spaces and hyphens for underscores, plus the prose words above."""
    spelled: dict[str, str] = {}
    for spelling, name in metric_spellings().items():
        if len(spelling) <= 2 and spelling != name and spelling != "r²":
            continue  # "ap", "l1": too short to mean a metric in a sentence
        for form in {spelling, spelling.replace("_", " "), spelling.replace("_", "-")}:
            spelled[form] = _SAME_METRIC.get(name, name)
    for name, words in _PROSE_METRICS.items():
        spelled.update(dict.fromkeys(words, name))
    return spelled


_METRIC_OF = _metric_spellings()
_MODEL_ALIASES: dict[str, set[str]] = {
    key: {family.label.lower(), key.replace("_", " ")} for key, family in MODEL_FAMILIES.items()
}
for _key, _extra in {
    "logistic_regression": {"logistic"},
    "mlp": {"neural network", "mlp"},
    "svm": {"svm", "svc"},
    "knn": {"knn", "k-nn", "nearest neighbours", "nearest neighbors"},
    "linear": {"linear model"},
}.items():
    _MODEL_ALIASES.setdefault(_key, set()).update(_extra)
_MODEL_ALIASES["ensemble"] = {"ensemble"}
_MODEL_OF = {alias: key for key, aliases in _MODEL_ALIASES.items() for alias in aliases}
_SKIP_BEFORE = re.compile(
    r"\b(?:top|step|steps|option|options|first|last|next|version|figure|chart|table|section|"
    r"python)\s*#?$|#$",
    re.I,
)
_LIST_MARKER = re.compile(r"(?:^|\n)[ \t]*(?:[-*][ \t]+)?$")
_APPROX = re.compile(
    r"\b(?:about|around|roughly|nearly|almost|approximately|approx\.?|over|under|some|"
    r"more than|less than|fewer than)\s*$|~\s*$",
    re.I,
)
_DIRECTION = re.compile(
    r"\b(?:negative\w*|decreas\w*|drop\w*|fell|fall\w*|lower\w*|down|below|worse|reduc\w*|"
    r"declin\w*|inverse\w*|less|minus)\b",
    re.I,
)
_DIFFERENCE = re.compile(
    r"\b(?:by|improv\w*|gain\w*|higher|lower|better|worse|increas\w*|decreas\w*|drop\w*|"
    r"differ\w*|gap|margin|ahead|behind|more|less|up|down|beat\w*|edge)\b",
    re.I,
)
_MASKS = (
    re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?\b"),  # dates
    re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b"),  # times
    re.compile(r"https?://\S+"),
    re.compile(r"[\w.-]+\.(?:csv|tsv|txt|parquet|pq|xlsx|json|jsonl|joblib|py|md|png|html)\b"),
)
_QUOTED = re.compile(r"`[^`\n]+`|“[^”\n]*”|\"[^\"\n]*\"|\*\*[^*\n]+\*\*")
_REQUEST = re.compile(
    r"(?:use|tune|train|add|try|show|set|predict|plot|explain|treat|only|also|drop|remove|"
    r"run|make|give|download|retrain|keep)\b",
    re.I,
)
_SUGGESTED = re.compile(r"\b(?:say|ask|type|try|write|e\.g\.|like|example)[\s:,]*$", re.I)
_COUNTED = re.compile(r"\s+(?:[a-z-]+\s+){0,2}?(models?|rows?|columns?|trials?|features?)\b", re.I)
_COUNT_KEYS = {
    "model": frozenset({"models_trained"}),
    "row": frozenset({"rows", "n_rows", "rows_dropped"}),
    "column": frozenset({"columns", "n_columns"}),
    "trial": frozenset({"n_trials", "n_trials_total"}),
    "feature": frozenset({"n_features"}),
}
_OTHER_SUBJECT = re.compile(
    r"\b(?:runner-up|runners-up|second|third|fourth|weakest|worst|last|other|others|rest|each|"
    r"every|all|both|baseline|candidates|models|families)\b",
    re.I,
)
"""Words that point at another model than the one just named: such a sentence is not
held to the carried subject (what it is about is then open, as before subjects carried)."""
_PRONOUN = re.compile(r"\b(?:it|its|it's|that|that's|this|they|their|which)\b", re.I)
"""The pronouns (a closed class of words, so a list) by which a sentence speaks of its subject."""
_CLAUSE_BREAK = re.compile(r"[,;]\s|[()]|\s(?:and|but|while|whereas|though|although)\s", re.I)
_ABBREVIATIONS = ("e.g.", "i.e.", "vs.", "etc.", "approx.", "cf.", "no.")


@dataclass(frozen=True, slots=True)
class Fact:
    """One number a tool produced, with what it is about."""

    value: float
    key: str
    tool: str
    model: str | None = None
    """Canonical model family (``lightgbm``) when the number is about one model."""
    column: str | None = None
    """Column name (casefolded) when the number is about one column."""
    metric: str | None = None
    """Canonical metric (``roc_auc``, ``f1``...) when the number is a score."""
    is_text: bool = False
    """Read from a sentence the tool wrote: it grounds only a claim that names no
    model and no metric (the sentence may have been about anything)."""

    def describe(self) -> str:
        """One line for the correction message: what, about which model or column, value."""
        about = " ".join(p for p in (self.model, self.column, self.metric) if p)
        return f"{self.tool}: {about + ' ' if about else ''}{self.key} = {self.value:g}"


@dataclass(slots=True)
class Sources:
    """What a reply may state: tool facts, the user's numbers, names, what code printed."""

    facts: list[Fact] = field(default_factory=list)
    user_numbers: list[Number] = field(default_factory=list)
    columns: set[str] = field(default_factory=set)
    code_output: list[str] = field(default_factory=list)
    """What run_code printed: a code block that only repeats it states nothing new."""
    tool_text: list[str] = field(default_factory=list)
    """Sentences trusted tools wrote (summaries, insights...): quoting one verbatim is grounded."""
    subject: frozenset[str] = frozenset()
    """The conversation's most recent subject: the models the user's latest message
    naming any named, or the model of the newest tool result about one, whichever
    came later. A reply's sentence that names no model ("It scored 0.91") is about it."""

    def add_tool_result(self, tool: str, facts: Mapping[str, Any]) -> None:
        """Take in the facts of one tool result."""
        if tool in UNTRUSTED_TOOLS:
            for key in ("stdout", "output"):
                if isinstance(facts.get(key), str) and facts[key].strip():
                    self.code_output.append(_squash(facts[key]))
            return
        _walk(facts, key="", tool=tool, at=_Subject(), sources=self)
        model = _subject_of(facts, _Subject()).model
        if model is not None:
            self.subject = frozenset({model})

    def add_user_text(self, text: str) -> None:
        """Take in a message the user wrote (without the app's list of attached files)."""
        body = re.sub(r"\n\n\[Attached: .*\]\s*$", "", text, flags=re.S)
        self.user_numbers.extend(numbers_in(body))
        named = _models_named(body)
        if named:
            self.subject = named


class _Message(Protocol):
    role: str
    name: str | None
    content: str
    facts: dict[str, Any]


def sources_of(messages: Iterable[_Message]) -> Sources:
    """The sources of a conversation: every tool result's facts and the user's own messages.

    Tool messages carry ``name`` (the tool) and ``facts``; an error has no facts.
    """
    sources = Sources()
    for message in messages:
        if message.role == "tool" and message.name:
            sources.add_tool_result(message.name, message.facts or {})
        elif message.role == "user" and message.name is None:
            sources.add_user_text(message.content)
    return sources


def unchecked_numbers(text: str, sources: Sources) -> list[str]:
    """The numbers ``text`` states that no source supports, as written."""
    checker = ClaimChecker(sources)
    missing: list[str] = []
    for sentence in split_sentences(text):
        missing.extend(checker.check(sentence))
    return missing


class ClaimChecker:
    """Checks one reply sentence by sentence, carrying its subject from one to the next.

    A sentence that names a model makes those models the subject; one that
    names none ("It scored 0.91", "That's 12% better") is held to the current
    subject: the last models the reply named, else the conversation's
    (:attr:`Sources.subject`). A pronoun may be ambiguous, so the subject is
    every model the last naming sentence named, never a guess among them.
    Columns carry the same way ("`tenure` matters most. Its importance is
    0.12."), starting from none.
    """

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.models: frozenset[str] = sources.subject
        self.columns: frozenset[str] = frozenset()

    def check(self, sentence: str) -> list[str]:
        """The unchecked numbers of ``sentence`` (the next one of the reply)."""
        missing = _unchecked_in_sentence(sentence, self.sources, self)
        self.observe(sentence)
        return missing

    def observe(self, text: str) -> None:
        """Take the subject of ``text`` (already shown) without checking it."""
        for sentence in split_sentences(text):
            mentions = _mentions(sentence, self.sources)
            models = frozenset(m.name for m in mentions if m.kind == "model")
            columns = frozenset(m.name for m in mentions if m.kind == "column")
            self.models = models or self.models
            self.columns = columns or self.columns


def split_sentences(text: str) -> list[str]:
    """``text`` cut into sentences and lines (fenced code blocks kept whole), losslessly."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = _sentence_end(text, start, final=True)
        pieces.append(text[start:end])
        start = end
    return pieces


def describe_facts(sources: Sources, *, limit: int = 60) -> str:
    """The newest facts as lines for the correction message."""
    lines = [f.describe() for f in reversed(sources.facts)]
    unique = list(dict.fromkeys(lines))[:limit]
    return "\n".join(f"- {line}" for line in unique) or "- (no tool has produced a number yet)"


@dataclass(frozen=True, slots=True)
class Held:
    """How a checked reply ended."""

    shown: str
    """Text already shown (and whatever :meth:`HeldText.finish` returns to show now)."""
    held: str
    """Text not shown: the first failing sentence and everything after it."""
    unchecked: tuple[str, ...]
    """The numbers that failed, as written."""


class HeldText:
    """Shows a streamed reply sentence by sentence, each once it is checked.

    Args:
        check: Returns the unchecked numbers of one sentence.
        annotate: Show a failing sentence with a note naming its numbers
            (after the one rewrite) instead of holding it.
        seen: What the user was already shown of this answer; a rewrite that
            starts by repeating it has that repetition dropped.
    """

    def __init__(
        self, check: Callable[[str], list[str]], *, annotate: bool = False, seen: str = ""
    ) -> None:
        self._check = check
        self.annotate = annotate
        self._seen = seen
        self._pending = ""
        self._buffer = ""
        self._shown: list[str] = []
        self._held: list[str] = []
        self._unchecked: list[str] = []

    def feed(self, piece: str) -> str:
        """Take a streamed piece; return the text that may be shown now."""
        if self._seen:
            self._pending += piece
            if self._seen.startswith(self._pending):
                return ""  # so far a repetition of what was shown
            piece = self._pending.removeprefix(self._seen)
            self._seen = self._pending = ""
        self._buffer += piece
        return self._drain(final=False)

    def finish(self) -> tuple[str, Held]:
        """End of the reply: the text to show now, and how the reply ended."""
        if self._pending != self._seen:
            self._buffer += self._pending  # it stopped short of repeating everything
        self._seen = self._pending = ""
        out = self._drain(final=True)
        return out, Held("".join(self._shown), "".join(self._held), tuple(self._unchecked))

    def release(self) -> str:
        """Show what was held, each failing sentence with its note (the reply called tools)."""
        held, self._held = "".join(self._held), []
        self.annotate = True
        out = "".join(self._pass(sentence) for sentence in split_sentences(held))
        return out

    def _drain(self, *, final: bool) -> str:
        out: list[str] = []
        while self._buffer:
            end = _sentence_end(self._buffer, 0, final=final)
            if end < 0:
                break
            sentence, self._buffer = self._buffer[:end], self._buffer[end:]
            out.append(self._pass(sentence))
        return "".join(out)

    def _pass(self, sentence: str) -> str:
        if self._held:
            self._held.append(sentence)
            return ""
        missing = self._check(sentence)
        if missing:
            self._unchecked.extend(missing)
            if not self.annotate:
                self._held.append(sentence)
                return ""
            sentence = with_note(sentence, missing)
        self._shown.append(sentence)
        return sentence


def with_note(sentence: str, missing: Sequence[str]) -> str:
    """``sentence`` followed by a visible note naming the numbers that could not be checked."""
    body = sentence.rstrip()
    tail = sentence[len(body) :]
    listed = ", ".join(dict.fromkeys(missing))
    return f"{body} (not checked against the tool results: {listed}){tail}"


# --- facts -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Subject:
    model: str | None = None
    """The model the enclosing dict is about (applies to its scores only)."""
    column: str | None = None
    metric: str | None = None


def _walk(value: Any, *, key: str, tool: str, at: _Subject, sources: Sources) -> None:
    if isinstance(value, Mapping):
        here = _subject_of(value, at)
        for child_key, child in value.items():
            name = str(child_key)
            if name in _TEXT_KEYS:
                _text_facts(child, tool=tool, sources=sources)
            elif name in _MODEL_KEYS:
                continue  # model names are known without the file
            elif name in _COLUMN_KEYS or name == "target":
                if isinstance(child, str):
                    sources.columns.add(child)
            elif key in _COLUMN_MAPS:
                sources.columns.add(name)
                _walk(child, key=key, tool=tool, at=_replace(here, column=name), sources=sources)
            elif key == "column_kinds":
                if isinstance(child, list):
                    sources.columns.update(str(c) for c in child)
            else:
                _walk(child, key=name, tool=tool, at=here, sources=sources)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item, key=key, tool=tool, at=at, sources=sources)
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        metric = _metric_name(key) or (at.metric if key in _SCORE_KEYS else None)
        model = at.model if metric is not None else None  # a count is about no one model
        sources.facts.append(
            Fact(float(value), key, tool, model=model, column=at.column, metric=metric)
        )


def _subject_of(value: Mapping[str, Any], at: _Subject) -> _Subject:
    model, column, metric = at.model, at.column, at.metric
    for key in _MODEL_KEYS:
        if isinstance(value.get(key), str):
            model = _model_name(value[key]) or model
            break
    for key in _COLUMN_KEYS:
        if isinstance(value.get(key), str):
            column = value[key].casefold()
            break
    if isinstance(value.get("metric"), str):
        metric = _metric_name(value["metric"]) or metric
    return _Subject(model, column, metric)


def _replace(at: _Subject, *, column: str) -> _Subject:
    return _Subject(at.model, column.casefold(), at.metric)


def _text_facts(value: Any, *, tool: str, sources: Sources) -> None:
    texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    for text in texts:
        if isinstance(text, str):
            sources.tool_text.append(_squash(text))
            bare = _QUOTED.sub(lambda m: " " * len(m.group(0)), text)  # names the tool quoted
            for number in numbers_in(bare):
                is_count = number.is_integer and number.kind == "plain"
                counted = _COUNTED.match(bare, number.end) if is_count else None
                key = f"text:{counted.group(1).lower().rstrip('s')}" if counted else "text"
                sources.facts.append(Fact(number.value, key, tool, is_text=True))
                if number.seconds is not None:
                    sources.facts.append(Fact(number.seconds, "text", tool, is_text=True))


def _metric_name(text: str) -> str | None:
    name = _METRIC_OF.get(text.strip().lower())
    return None if name == "*" else name


def _model_name(text: str) -> str | None:
    base = re.sub(r"\s*\(tuned\)\s*$", "", text.strip().lower())
    base = base.removesuffix(":tuned")
    return _MODEL_OF.get(base) or (base if base in MODEL_FAMILIES else None)


# --- claims ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Mention:
    kind: str
    name: str
    start: int
    end: int


def _unchecked_in_sentence(
    sentence: str, sources: Sources, carried: ClaimChecker | None = None
) -> list[str]:
    body = _squash(_fence_body(sentence)) if sentence.lstrip().startswith("```") else ""
    if body and any(body in output for output in sources.code_output):
        return []  # repeats what the code printed, as a quote
    quoted = _squash(re.sub(r"^\s*(?:[-*]|\d+[.)])\s+", "", sentence))
    if len(quoted) >= 12 and any(quoted in text for text in sources.tool_text):
        return []  # a trusted tool's own sentence, word for word
    masked = _masked(sentence, sources)
    mentions = _mentions(sentence, sources)  # a quoted name still says what a number is about
    missing = []
    for number in numbers_in(masked):
        if _is_claim(masked, number) and not _supported(masked, number, mentions, sources, carried):
            missing.append(number.text.strip())
    return missing


def _masked(sentence: str, sources: Sources) -> str:
    """``sentence`` with the spans that state nothing blanked out (same length)."""

    def blank(match: re.Match[str]) -> str:
        return " " * len(match.group(0))

    for pattern in _MASKS:
        sentence = pattern.sub(blank, sentence)
    columns = {c.casefold() for c in sources.columns}

    def quoted(match: re.Match[str]) -> str:
        inner = match.group(0).strip('*`“”"').strip()
        suggested = _SUGGESTED.search(sentence, 0, match.start()) is not None
        suggested = suggested or _REQUEST.match(inner) is not None  # wording for the user
        is_name = inner.casefold() in columns or _model_name(inner) is not None
        is_number = bool(re.fullmatch(r"[-+]?[\d.,]+%?", inner))
        if not is_number and (suggested or is_name or match.group(0).startswith("`")):
            return blank(match)
        return match.group(0)

    return _QUOTED.sub(quoted, sentence)


def _is_claim(sentence: str, number: Number) -> bool:
    before = sentence[: number.start]
    if _SKIP_BEFORE.search(before.rstrip()) and number.is_integer:
        return False
    after = sentence[number.end : number.end + 2]
    is_marker = _LIST_MARKER.search(before) is not None and after[:1] in (".", ")")
    return not (number.is_integer and is_marker)


def _mentions(sentence: str, sources: Sources) -> list[_Mention]:
    found: list[_Mention] = []
    lowered = sentence.lower()
    for kind, names in (
        ("metric", _METRIC_OF),
        ("model", _MODEL_OF),
        ("column", {c.casefold(): c.casefold() for c in sources.columns if len(c) > 1}),
    ):
        for alias in sorted(names, key=len, reverse=True):
            for match in re.finditer(rf"(?<![\w]){re.escape(alias)}(?![\w])", lowered):
                span = (match.start(), match.end())
                if any(m.start < span[1] and span[0] < m.end for m in found):
                    continue
                found.append(_Mention(kind, names[alias], *span))
    return found


def _nearest(sentence: str, number: Number, mentions: list[_Mention]) -> dict[str, str]:
    """Per kind, the mention the number is said of: in its clause first, else the sentence."""
    clause_start, clause_end = 0, len(sentence)
    for cut in _CLAUSE_BREAK.finditer(sentence):
        if cut.end() <= number.start and not sentence[cut.start() - 1 : cut.start()].isdigit():
            clause_start = cut.end()
        elif cut.start() >= number.end:
            clause_end = cut.start()
            break
    chosen: dict[str, str] = {}
    for kind in ("metric", "model", "column"):
        of_kind = [m for m in mentions if m.kind == kind]
        inside = [m for m in of_kind if clause_start <= m.start and m.end <= clause_end]
        pool = inside or of_kind
        if not pool:
            continue

        chosen[kind] = min(pool, key=lambda m: _distance(m, number, in_clause=bool(inside))).name
    return chosen


def _distance(mention: _Mention, number: Number, *, in_clause: bool) -> tuple[int, int]:
    """Within the clause the nearest mention; across the sentence, what came before first."""
    before = mention.end <= number.start
    gap = number.start - mention.end if before else max(0, mention.start - number.end)
    return (0 if before or in_clause else 1), gap


def _supported(
    sentence: str,
    number: Number,
    mentions: list[_Mention],
    sources: Sources,
    carried: ClaimChecker | None = None,
) -> bool:
    if any(abs(abs(u.value) - abs(number.value)) <= number.tolerance for u in sources.user_numbers):
        return True
    if any(u.seconds is not None and number.seconds == u.seconds for u in sources.user_numbers):
        return True
    about = _nearest(sentence, number, mentions)
    models, columns = _subject_for(sentence, mentions, sources, carried)
    names_column = any(m.kind == "column" for m in mentions)
    of_model = bool(models) and not names_column and _PRONOUN.search(sentence) is not None
    subject = _Held(models, columns, of_model)
    is_score = not number.is_integer or number.kind == "percent"
    facts = [f for f in sources.facts if _fits(f, about, is_score=is_score, held=subject)]
    is_count = number.is_integer and number.kind == "plain"
    counted = _COUNTED.match(sentence, number.end) if is_count else None
    if counted is not None:  # "6 models" is a count of models, not any 6
        noun = counted.group(1).lower().rstrip("s")
        facts = [f for f in facts if f.key in _COUNT_KEYS[noun] or f.key == f"text:{noun}"]
    before = sentence[max(0, number.start - 40) : number.start]
    tolerance = _widened(number, before)
    lets_negative = not number.is_signed and _DIRECTION.search(before) is not None
    if number.kind in ("plain", "percent"):
        for fact in facts:
            if _matches(fact.value, number.value, tolerance, lets_negative=lets_negative):
                return True
            seconds = number.seconds
            if seconds is not None and _matches(
                fact.value, seconds, tolerance * seconds / (number.value or 1), lets_negative=False
            ):
                return True
    around = sentence[max(0, number.start - 30) : number.end + 25]
    if number.kind in ("ratio", "points") or _DIFFERENCE.search(around):
        # a comparison is about two models: bind it to the metric, and to the models named
        # (or, naming one or none, to the subject on one side)
        compared = [
            f for f in sources.facts if _fits(f, {"metric": about.get("metric", "")}, is_score=True)
        ]
        named = [m.name for m in mentions if m.kind == "model"]
        before_it = frozenset() if _OTHER_SUBJECT.search(sentence) else _carried(sources, carried)
        for derived in _derived(compared, number, _sides(named, before_it)):
            if _matches(derived, number.value, tolerance, lets_negative=True):
                return True
    return False


@dataclass(frozen=True, slots=True)
class _Held:
    """The subject a sentence naming no model (or column) is held to; empty: any."""

    models: frozenset[str] = frozenset()
    columns: frozenset[str] = frozenset()
    of_model: bool = False
    """The sentence speaks of the held model by a pronoun ("It scored", "That's 12% better")."""


def _subject_for(
    sentence: str, mentions: list[_Mention], sources: Sources, carried: ClaimChecker | None
) -> tuple[frozenset[str], frozenset[str]]:
    """The carried subject that applies to ``sentence``: none for what it names itself, and
    none when it points at another model than the subject ("the runner-up", "each model")."""
    if _OTHER_SUBJECT.search(sentence):
        return frozenset(), frozenset()
    names_model = any(m.kind == "model" for m in mentions)
    names_column = any(m.kind == "column" for m in mentions)
    models = _carried(sources, carried)
    columns = carried.columns if carried is not None else frozenset()
    return (frozenset() if names_model else models), (frozenset() if names_column else columns)


def _carried(sources: Sources, carried: ClaimChecker | None) -> frozenset[str]:
    return carried.models if carried is not None else sources.subject


def _sides(named: list[str], subject: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Which models the two scores of a comparison may be about (empty: any).

    Two models named: those two. One named ("That's 0.04 ahead of logistic
    regression"): it, against the subject carried from before. None: the subject
    against any model.
    """
    distinct = list(dict.fromkeys(named))
    if len(distinct) >= 2:
        return frozenset(distinct), frozenset(distinct)
    if len(distinct) == 1:
        return frozenset(distinct), subject - frozenset(distinct)
    return subject, frozenset()


def _fits(fact: Fact, about: dict[str, str], *, is_score: bool, held: _Held | None = None) -> bool:
    model, column, metric = about.get("model"), about.get("column"), about.get("metric")
    if fact.is_text and is_score and (model or metric):
        return False
    if model and fact.model and fact.model != model:
        return False
    held_models = held.models if held is not None and not model else frozenset()
    if held_models and fact.model and fact.model not in held_models:
        return False
    said_of_model = bool(model) or (held is not None and held.of_model)
    if is_score and said_of_model and fact.model is None and fact.metric is None:
        return False  # a score said of a model is not a share of rows or a column's statistic
    if column and fact.column and fact.column != column:
        return False
    held_columns = held.columns if held is not None and not column else frozenset()
    if held_columns and fact.column and fact.column not in held_columns:
        return False
    if is_score and metric == "*":
        return fact.metric is not None
    if is_score and metric:
        return fact.metric == metric
    return True


def _derived(
    facts: list[Fact], number: Number, sides: tuple[frozenset[str], frozenset[str]]
) -> Iterable[float]:
    """Ratios and differences of two scores of the same metric and kind, one about a model
    of ``sides[0]`` and the other about another model of ``sides[1]`` (either way round)."""
    groups: dict[tuple[str, str], list[Fact]] = {}
    for fact in facts:
        if fact.metric is not None and not fact.is_text and fact.key not in _SPREAD_KEYS:
            groups.setdefault((fact.metric, fact.key), []).append(fact)
    first, second = sides

    def about(fact: Fact, models: frozenset[str]) -> bool:
        # a fact about no model (a column's importance) is no side of a models' comparison
        return not models or fact.model in models

    for group in groups.values():
        unique = list({(f.value, f.model): f for f in group}.values())[:60]
        for a in unique:
            for b in unique:
                if a.value == b.value:
                    continue
                if not (
                    (about(a, first) and about(b, second)) or (about(b, first) and about(a, second))
                ):
                    continue
                if (first or second) and a.model == b.model:
                    continue  # two figures of one model compare nothing between models
                if number.kind == "ratio":
                    if b.value != 0:
                        yield a.value / b.value
                    continue
                yield a.value - b.value
                if number.kind == "points":
                    yield (a.value - b.value) * 100
                if number.kind == "percent" and b.value != 0:
                    yield (a.value - b.value) / abs(b.value)


def _models_named(text: str) -> frozenset[str]:
    """The model families ``text`` names."""
    return frozenset(m.name for m in _mentions(text, Sources()) if m.kind == "model")


def _widened(number: Number, before: str) -> float:
    """Half a unit of the last digit; for "about 7,000" half a unit of the last non-zero one."""
    if not (number.is_integer and number.kind == "plain" and _APPROX.search(before)):
        return number.tolerance
    magnitude = abs(number.value)
    step = 1.0
    while magnitude and magnitude % (step * 10) == 0:
        step *= 10
    return max(number.tolerance, 0.5 * step)


def _matches(fact: float, claimed: float, tolerance: float, *, lets_negative: bool) -> bool:
    slack = tolerance + 1e-9 + abs(claimed) * 1e-12
    if abs(fact - claimed) <= slack:
        return True
    return lets_negative and fact < 0 <= claimed and abs(-fact - claimed) <= slack


def _sentence_end(text: str, start: int, *, final: bool) -> int:
    """Where the sentence starting at ``start`` ends (after its trailing space); -1 if not yet."""
    if text.startswith("```", start):
        close = text.find("\n```", start + 3)
        if close < 0:
            return len(text) if final else -1
        end = text.find("\n", close + 4)
        return len(text) if end < 0 else end + 1
    position = start
    while position < len(text):
        char = text[position]
        if char == "\n":
            return position + 1
        if char in ".!?":
            after = position + 1
            if after >= len(text):
                return len(text) if final else -1
            if text[after].isspace() and not _no_break(text, start, position):
                while after < len(text) and text[after] in " \t":
                    after += 1
                if after >= len(text) and not final:
                    return -1
                return after + 1 if text[after : after + 1] == "\n" else after
        position += 1
    return len(text) if final else -1


def _no_break(text: str, start: int, dot: int) -> bool:
    """Whether the full stop at ``dot`` ends no sentence: an abbreviation or a list marker."""
    word = (
        text[start : dot + 1].rsplit(None, 1)[-1].lower() if text[start : dot + 1].strip() else ""
    )
    if word.endswith(_ABBREVIATIONS):
        return True
    line = text[start : dot + 1].rsplit("\n", 1)[-1]
    return re.fullmatch(r"\s*\d+\.", line) is not None


def _fence_body(block: str) -> str:
    lines = block.strip().splitlines()
    return "\n".join(lines[1:-1] if len(lines) >= 2 and lines[-1].startswith("```") else lines[1:])


def _squash(text: str) -> str:
    return " ".join(text.split())
