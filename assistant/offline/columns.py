"""Finding the file's columns in what the user wrote: any case, spaces for underscores, typos.

"monthly charges", "Monthly_Charges", "montly charges" and "MonthlyCharges"
all name ``monthly_charges``; "tenure" names ``tenure_months`` when no other
column has that word; "churned" and "cities" name ``churn`` and ``city``.
:func:`mark_columns` replaces each mention with a placeholder ``«i»`` (the
column's index), so the intent rules can be written against "a column".
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from assistant.offline.facts import FileFacts

PLACEHOLDER = re.compile(r"«(\d+)»")
"""A marked column mention; group 1 is the column's index."""

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_MIN_FUZZY_CHARS = 5
_FUZZY_CUTOFF = 0.84
_NEVER_COLUMNS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "for",
        "to",
        "in",
        "on",
        "at",
        "by",
        "with",
        "from",
        "is",
        "are",
        "be",
        "was",
        "were",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "how",
        "why",
        "when",
        "where",
        "my",
        "me",
        "i",
        "you",
        "we",
        "our",
        "your",
        "all",
        "any",
        "each",
        "every",
        "some",
        "model",
        "models",
        "train",
        "training",
        "target",
        "predict",
        "prediction",
        "predictions",
        "data",
        "file",
        "table",
        "row",
        "rows",
        "column",
        "columns",
        "value",
        "values",
        "feature",
        "features",
        "plot",
        "chart",
        "show",
        "use",
        "only",
        "also",
        "try",
        "tune",
        "explain",
        "than",
        "more",
        "less",
        "over",
        "under",
        "above",
        "below",
        "between",
        "top",
        "best",
        "most",
        "number",
        "count",
        "average",
        "mean",
        "median",
        "sum",
        "total",
        "share",
        "percent",
        "percentage",
        "min",
        "max",
        "new",
        "please",
        "want",
        "like",
        "can",
        "could",
        "would",
        "should",
        "will",
        "do",
        "does",
        "did",
        "not",
        "no",
        "yes",
        "score",
        "scores",
        "engineer",
        "scoring",
    ]
)


@dataclass(frozen=True, slots=True)
class Mention:
    """A column named in the text: which one, and the span of the words that named it."""

    column: str
    index: int
    start: int
    end: int
    inflected: bool = False
    """Named by a form of the word ("churned", "cities") rather than the name itself."""
    typed: str = ""
    """What the user wrote, when it was a misspelling of the name."""


def _words_of(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if w]


def _stems(word: str) -> set[str]:
    """Forms a word may take in a sentence: plural, past tense, -ing."""
    forms = {
        word + "s",
        word + "es",
        word + "ed",
        word + "d",
        word + "ing",
        word + "er",
        word + "ers",
    }
    if word.endswith("y"):
        forms.add(word[:-1] + "ies")
    if word.endswith("e"):
        forms.add(word[:-1] + "ing")
    if word.endswith("ed") and len(word) >= 7:  # "defaulted": "defaults", "default"
        bases = {word[:-2], word[:-1]}
        if word[-3] == word[-4]:  # "readmitted": "readmit"
            bases.add(word[:-3])
        for base in bases:
            forms |= {base, base + "s", base + "ing", base + "ion", base + "ation"}
            if base.endswith("t"):  # "readmission", "conversion"
                forms |= {base[:-1] + "ssion", base[:-1] + "sion"}
    return forms


class ColumnIndex:
    """The columns of one file, ready to be found in text."""

    def __init__(self, facts: FileFacts | None) -> None:
        self.names: tuple[str, ...] = facts.names if facts is not None else ()
        self._exact: dict[str, int] = {}
        self._inflected: dict[str, int] = {}
        self._fuzzy: set[str] = set()
        """Forms a typo may be matched against (not those of ID-like columns)."""
        counts: dict[str, int] = {}
        words_by_column = [_words_of(name) for name in self.names]
        for words in words_by_column:
            for word in set(words):
                counts[word] = counts.get(word, 0) + 1
        unique = {c.name for c in facts.columns if c.is_unique} if facts is not None else set()
        for index, (name, words) in enumerate(zip(self.names, words_by_column, strict=True)):
            if not words:
                continue
            for form in {name.lower(), " ".join(words), "_".join(words), "".join(words)}:
                self._exact.setdefault(form, index)
                if name not in unique:
                    self._fuzzy.add(form)
            initials = "".join(w[0] for w in words)
            if len(words) >= 3 and initials not in _NEVER_COLUMNS and name not in unique:
                self._exact.setdefault(initials, index)  # "LOS" for LengthOfStay
            if len(words) == 1:
                for form in _stems(words[0]):
                    self._inflected.setdefault(form, index)
            if name in unique:
                continue  # "customer" must not name customer_id
            for word in words:
                if counts[word] == 1 and len(word) >= 4 and word not in _NEVER_COLUMNS:
                    self._exact.setdefault(word, index)
                    self._fuzzy.add(word)
                    for form in _stems(word):
                        self._inflected.setdefault(form, index)

    def find(self, text: str) -> list[Mention]:
        """The column mentions in ``text`` (lowercase), longest phrases first, not overlapping."""
        if not self.names:
            return []
        words = list(_WORD.finditer(text.lower()))
        taken = [False] * len(words)
        found: list[Mention] = []
        for size in (4, 3, 2, 1):
            for first in range(len(words) - size + 1):
                span = range(first, first + size)
                if any(taken[i] for i in span):
                    continue
                phrase = " ".join(words[i].group(0) for i in span)
                hit = self._match(phrase, size)
                if hit is None:
                    continue
                index, how = hit
                start, end = words[first].start(), words[first + size - 1].end()
                if how != "name" and "_" in (text[start - 1 : start] + text[end : end + 1]):
                    continue  # a piece of another identifier ("kinds" in kinds_of_x)
                for i in span:
                    taken[i] = True
                typed = phrase if how == "typo" else ""
                found.append(Mention(self.names[index], index, start, end, how == "form", typed))
        return sorted(found, key=lambda m: m.start)

    def match(self, phrase: str) -> str | None:
        """The column a short phrase names ("Monthly Charges", "tenur"), or ``None``."""
        mentions = self.find(phrase)
        return mentions[0].column if len(mentions) == 1 else None

    def closest(self, word: str, *, cutoff: float = 0.75) -> str | None:
        """The one column a misspelt word most likely means (looser than in running text)."""
        close = difflib.get_close_matches(word.lower(), sorted(self._fuzzy), n=1, cutoff=cutoff)
        return self.names[self._exact[close[0]]] if close else None

    def _match(self, phrase: str, size: int) -> tuple[int, str] | None:
        """The column ``phrase`` names and how: "name", "form" (inflected) or "typo"."""
        joined = phrase.replace("-", " ")
        for form in (phrase, joined, joined.replace(" ", "_"), joined.replace(" ", "")):
            if form in self._exact:
                return self._exact[form], "name"
        if size == 1 and phrase in self._inflected and phrase not in _NEVER_COLUMNS:
            return self._inflected[phrase], "form"
        if len(phrase.replace(" ", "")) < _MIN_FUZZY_CHARS or (
            size == 1 and phrase in _NEVER_COLUMNS
        ):
            return None
        if any(w in _NEVER_COLUMNS for w in phrase.split()):
            return None
        keys = [k for k in self._fuzzy if k.count(" ") == size - 1 or size == 1]
        close = difflib.get_close_matches(phrase, keys, n=2, cutoff=_FUZZY_CUTOFF)
        # "admitted" is a word of its own, not a typo of "readmitted"
        close = [k for k in close if not (k.endswith(phrase) and len(k) - len(phrase) >= 2)]
        if close and (len(close) == 1 or self._exact[close[0]] == self._exact[close[1]]):
            return self._exact[close[0]], "typo"
        return None


def mark_columns(text: str, mentions: list[Mention]) -> str:
    """``text`` with each mention replaced by ``«index»``."""
    parts = []
    position = 0
    for mention in mentions:
        parts.append(text[position : mention.start])
        parts.append(f"«{mention.index}»")
        position = mention.end
    parts.append(text[position:])
    return "".join(parts)
