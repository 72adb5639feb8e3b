"""Numbers as a reply writes them: digits, words, percentages, ratios, signs and units.

:func:`numbers_in` finds every number a sentence states and says what it may
mean: ``84.3%`` is 0.843 give or take 0.0005, ``ninety-seven percent`` is 0.97,
``5x`` is a ratio, ``2 minutes`` is 2 or 120 seconds, ``12k`` is 12,000 give or
take 500, ``-0.12`` and ``minus 0.12`` are negative. The grounding check
(``assistant/grounding.py``) decides which of them are claims and whether a
tool's facts support them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["plain", "percent", "ratio", "points"]

_DIGITS = re.compile(
    r"(?<![\w.,])(?P<sign>[-+−](?=\.?\d))?"
    r"(?P<body>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:e[-+]?\d+)?|\.\d+)",
    re.I,
)
_SUFFIX = re.compile(
    r"(?P<pct>\s?%|\s(?:percent|per cent)\b)"
    r"|(?P<pp>\s(?:percentage points?|pp|points?)\b)"
    r"|(?P<ratio>(?:x|×)(?![\w])|\s?(?:times|fold)\b|-fold\b)"
    r"|(?P<scale>(?:k|K)(?![\w])|\s(?:thousand|million|billion)\b|M(?![\w]))"
    r"|(?P<unit>\s?(?:ms|milliseconds?|s|secs?|seconds?|min|mins|minutes?|h|hrs?|hours?)\b)"
)
_WORD_VALUES = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALE_WORDS = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 10**9}
_WORD = "|".join([*_WORD_VALUES, *_SCALE_WORDS, "point"])
_WORDS = re.compile(
    rf"(?<![\w-])(?P<sign>(?:minus|negative)\s+)?"
    rf"(?P<body>(?:{_WORD})(?:(?:\s+and\s+|[\s-]+)(?:{_WORD}))*)(?![\w-])",
    re.I,
)
_SIGN_WORD = re.compile(r"\b(?:minus|negative)\s+$", re.I)
_TWICE = re.compile(r"\b(?P<body>twice|thrice)\b", re.I)
_SCALES = {"k": 1e3, "thousand": 1e3, "million": 1e6, "m": 1e6, "billion": 1e9}


@dataclass(frozen=True, slots=True)
class Number:
    """One number written in a text."""

    text: str
    """As written, suffix included (``84.3%``, ``ninety-seven percent``, ``5x``)."""
    start: int
    end: int
    value: float
    """Signed as written; a percentage as a fraction (84.3% -> 0.843)."""
    tolerance: float
    """Half a unit of the last digit written, in the units of ``value``."""
    kind: Kind
    is_signed: bool
    """Whether a sign was written (``-0.12``, ``+3``, ``minus 0.12``)."""
    is_integer: bool
    """Written without decimals (``5``, ``1,000``, ``twelve``)."""
    seconds: float | None = None
    """The value in seconds when a time unit follows (``2 minutes`` -> 120)."""


def numbers_in(text: str) -> list[Number]:
    """Every number written in ``text``, in order."""
    found = [n for m in _DIGITS.finditer(text) if (n := _from_digits(text, m)) is not None]
    taken = [(n.start, n.end) for n in found]
    for match in _WORDS.finditer(text):
        number = _from_words(text, match)
        if number is not None and not any(s < number.end and number.start < e for s, e in taken):
            found.append(number)
    for match in _TWICE.finditer(text):
        value = 2.0 if match.group("body").lower() == "twice" else 3.0
        found.append(
            Number(match.group(0), match.start(), match.end(), value, 0.0, "ratio", False, True)
        )
    return sorted(found, key=lambda n: n.start)


def _from_digits(text: str, match: re.Match[str]) -> Number | None:
    body = match.group("body")
    end = match.end()
    if end < len(text) and text[end].isalpha() and not _SUFFIX.match(text, end):
        return None  # "3rd", "2D", "5th": ordinals and labels, not quantities
    if "e" in body.lower():
        value = float(body)
        decimals = 0
    else:
        plain = body.replace(",", "")
        value = float(plain)
        decimals = len(plain.split(".", 1)[1]) if "." in plain else 0
    sign = match.group("sign")
    if sign is None and _SIGN_WORD.search(text, 0, match.start()):
        sign = "-"  # "minus 0.3", "negative 0.12"
    if sign in ("-", "−"):
        value = -value
    return _with_suffix(
        text,
        start=match.start(),
        end=end,
        value=value,
        tolerance=0.5 * 10**-decimals,
        is_signed=sign is not None,
        is_integer=decimals == 0,
    )


def _from_words(text: str, match: re.Match[str]) -> Number | None:
    words = [w for w in re.split(r"[\s-]+", match.group("body").lower()) if w and w != "and"]
    if words == ["one"] or words[0] in ("point", *_SCALE_WORDS) or words[-1] == "point":
        # "one" alone is a pronoun ("the best one"); "hundreds" is no number
        suffix = _SUFFIX.match(text, match.end())
        if words != ["one"] or suffix is None or suffix.group("pct") is None:
            return None
    if "point" in words:
        cut = words.index("point")
        whole, digits = words[:cut], words[cut + 1 :]
        if not digits or any(_WORD_VALUES.get(d, 10) > 9 for d in digits):
            return None
        value = _integer(whole) + float("0." + "".join(str(_WORD_VALUES[d]) for d in digits))
        tolerance = 0.5 * 10 ** -len(digits)
    else:
        value = float(_integer(words))
        tolerance = 0.5
    negative = match.group("sign") is not None
    return _with_suffix(
        text,
        start=match.start(),
        end=match.end(),
        value=-value if negative else value,
        tolerance=tolerance,
        is_signed=negative,
        is_integer="point" not in words,
    )


def _integer(words: list[str]) -> int:
    total, current = 0, 0
    for word in words:
        if word in _WORD_VALUES:
            current += _WORD_VALUES[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in _SCALE_WORDS:
            total += max(current, 1) * _SCALE_WORDS[word]
            current = 0
    return total + current


def _with_suffix(
    text: str,
    *,
    start: int,
    end: int,
    value: float,
    tolerance: float,
    is_signed: bool,
    is_integer: bool,
) -> Number:
    kind: Kind = "plain"
    seconds: float | None = None
    suffix = _SUFFIX.match(text, end)
    if suffix is not None:
        end = suffix.end()
        if suffix.group("pct"):
            kind, value, tolerance = "percent", value / 100, tolerance / 100
        elif suffix.group("pp"):
            kind = "points"
        elif suffix.group("ratio"):
            kind = "ratio"
        elif suffix.group("scale"):
            factor = _SCALES[suffix.group("scale").strip().lower()]
            value, tolerance = value * factor, tolerance * factor
        elif suffix.group("unit"):
            seconds = value * _seconds_per(suffix.group("unit").strip().lower())
    return Number(
        text[start:end], start, end, value, tolerance, kind, is_signed, is_integer, seconds
    )


def _seconds_per(unit: str) -> float:
    if unit.startswith(("ms", "milli")):
        return 1e-3
    if unit.startswith("min"):
        return 60.0
    if unit.startswith("h"):
        return 3600.0
    return 1.0
