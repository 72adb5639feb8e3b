"""Derived-feature requests: "add a feature r = a / b; d = a - b" -> ``["r = a / b", "d = a - b"]``.

The expressions are passed on as written; ``engineer_features`` parses them
with its restricted grammar (no eval) and keeps a feature only when
cross-validation improves.
"""

from __future__ import annotations

import re

_REQUEST = re.compile(
    r"^\s*(?:(?:please|pls|ok|so|now)[, ]+)?(?:(?:could|can|would) you\s+(?:please\s+)?)?"
    r"(?:add|try|create|engineer|make|derive|build|compute|include)\s+"
    r"(?:(?:an?|the|these|this|some|me|us)\s+)?(?:new\s+)?(?:derived\s+)?"
    r"(?:(?:features?|columns?|variables?|vars?)\b\s*(?:called|named)?\s*:?\s*)?(.+)$",
    re.I | re.S,
)
_AS_FEATURE = re.compile(
    r"^\s*(?:please\s+)?(?:try\s+)?(?:add|adding|use|using|include|including)\s+(.+?)\s+as\s+"
    r"(?:an?\s+)?(?:new\s+|extra\s+)?(?:feature|column|variable)\b",
    re.I | re.S,
)
_NEW_FEATURE = re.compile(
    r"^\s*(?:(?:new|another|extra)\s+(?:features?|columns?|variables?)\s*:?"
    r"|(?:features?|columns?|variables?)\s*:)\s*(.+)$",
    re.I | re.S,
)
""""new feature x = a / b", and a labelled "feature: x = a / b" (its name wins over words)."""
_OPERATOR = re.compile(r"=|[+*/()<>]|\s-\s")
_POLITE_END = re.compile(r"[\s,]*(?:please|pls|thanks|thank you)?[\s.!?]*$", re.I)


def feature_request(text: str) -> list[str]:
    """The ``name = expression`` features a message asks to add (empty if it asks for none).

    A feature without a name is named after its expression.
    """
    match = _AS_FEATURE.match(text) or _REQUEST.match(text) or _NEW_FEATURE.match(text)
    if match is None:
        return []
    features = []
    for part in re.split(r";|\n", match.group(1)):
        part = _POLITE_END.sub("", part.strip())
        if not _OPERATOR.search(part) or not re.search(r"[A-Za-z_]", part):
            continue  # "try feature selection" is not an expression
        if not re.search(r"(?<![=<>!])=(?!=)", part):
            slug = re.sub(r"[^0-9a-z]+", "_", part.lower()).strip("_")[:40] or "feature"
            part = f"{'f_' + slug if not slug[0].isalpha() else slug} = {part}"
        elif re.match(r"\s*[a-zA-Z]+\s+[a-zA-Z]+\s*=", part):
            continue  # "make the budget = ..." reads as words, not a feature name
        features.append(part)
    return features


_SPOKEN_TRIGGER = re.compile(
    r"\b(features?|engineer\w*|derive\w*|new (?:column|variable)|as an? (?:new )?column)\b"
)
_C = r"«(\d+)»"
_SPOKEN: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(rf"{_C}\s+squared\b|\bsquare of (?:the\s+)?{_C}"), "{a}_squared", "{a} * {a}"),
    (
        re.compile(
            rf"\bratio (?:of|between) (?:the\s+)?{_C}\s+(?:to|and)\s+(?:the\s+)?{_C}|"
            rf"{_C}\s+(?:per|divided by|over|/)\s+(?:the\s+)?{_C}"
        ),
        "{a}_per_{b}",
        "{a} / {b}",
    ),
    (
        re.compile(
            rf"{_C}\s+(?:times|multiplied by|x|×)\s+(?:the\s+)?{_C}|"
            rf"\bproduct of (?:the\s+)?{_C}\s+and\s+(?:the\s+)?{_C}"
        ),
        "{a}_x_{b}",
        "{a} * {b}",
    ),
    (
        re.compile(
            rf"{_C}\s+(?:plus|added to)\s+(?:the\s+)?{_C}|"
            rf"\bsum of (?:the\s+)?{_C}\s+and\s+(?:the\s+)?{_C}"
        ),
        "{a}_plus_{b}",
        "{a} + {b}",
    ),
    (
        re.compile(
            rf"{_C}\s+minus\s+(?:the\s+)?{_C}|"
            rf"\bdifference (?:of|between) (?:the\s+)?{_C}\s+and\s+(?:the\s+)?{_C}"
        ),
        "{a}_minus_{b}",
        "{a} - {b}",
    ),
)


def spoken_feature(marked: str, names: tuple[str, ...]) -> list[str]:
    """A feature said in words over the file's columns ("the ratio of income to age as a
    feature", "engineer age squared"), on text whose columns are ``«i»`` placeholders."""
    if not _SPOKEN_TRIGGER.search(marked):
        return []
    for pattern, name, expression in _SPOKEN:
        match = pattern.search(marked)
        if match is None:
            continue
        indexes = [int(g) for g in match.groups() if g is not None]
        a, b = names[indexes[0]], names[indexes[-1]]
        return [f"{name.format(a=a, b=b)} = {expression.format(a=a, b=b)}"]
    return []
