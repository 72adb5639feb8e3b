"""Durations as people write them: "90 seconds", "2 min", "an hour", "half an hour", "1h30"."""

from __future__ import annotations

import re

_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
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
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "forty-five": 45,
    "sixty": 60,
    "ninety": 90,
    "a couple of": 2,
    "a couple": 2,
    "a few": 3,
    "few": 3,
}
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0}
_WORDS = "|".join(re.escape(w) for w in sorted(_NUMBER_WORDS, key=len, reverse=True))
_UNIT = r"hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s"
_LONG_UNIT = r"hours?|hrs?|minutes?|mins?|seconds?|secs?"
_ONE = rf"(?:\d+(?:[.,]\d+)?\s*-?\s*(?:{_UNIT})|(?:half an?|{_WORDS})\s+-?\s*(?:{_LONG_UNIT}))\b"
_PART = re.compile(rf"(?<![\w.])(\d+(?:[.,]\d+)?|half an?|{_WORDS})\s*-?\s*({_UNIT})\b", re.I)
_DURATION = re.compile(rf"(?<![\w.]){_ONE}(?:\s*(?:and\s+)?{_ONE})*", re.I)
_CLOCK = re.compile(r"(?<![\w.])(\d+)\s*h\s*(\d{1,2})\b(?!\s*(?:s|sec|seconds?)\b)", re.I)
""""1h30": hours and minutes."""
_HALF = re.compile(r"\band a half\b", re.I)


def find_duration(text: str) -> tuple[int, tuple[int, int]] | None:
    """The first duration in ``text`` in whole seconds, with where it was written."""
    clock = _CLOCK.search(text)
    if clock is not None:
        seconds = int(clock.group(1)) * 3600 + int(clock.group(2)) * 60
        return seconds, clock.span()
    match = _DURATION.search(text)
    if match is None:
        return None
    total = 0.0
    for amount, unit in _PART.findall(match.group(0)):
        total += _amount(amount) * _UNIT_S[unit.lower()[0]]
    end = match.end()
    rest = text[end : end + 12]
    if _HALF.match(rest.strip()):  # "an hour and a half"
        unit = _PART.findall(match.group(0))[-1][1]
        total += 0.5 * _UNIT_S[unit.lower()[0]]
        end += rest.find("half") + 4
    return (round(total), (match.start(), end)) if total > 0 else None


def duration_s(text: str) -> int | None:
    """The first duration in ``text`` in whole seconds, or ``None``."""
    found = find_duration(text)
    return found[0] if found else None


def _amount(word: str) -> float:
    lowered = word.lower()
    if lowered.startswith("half"):
        return 0.5
    if lowered in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[lowered])
    return float(lowered.replace(",", "."))
