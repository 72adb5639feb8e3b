"""The grounding guard: numbers the assistant states must come from tool results.

A number in the reply counts as a claim when it has decimals, is a percentage,
or is an integer of at least 10 that is not a year. It is grounded when some
number in the sources (tool results and the user's own messages) rounds to it
at the precision the reply used; percentages also match fractions (84.3 %
matches 0.8431).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_NUMBER = re.compile(
    r"(?<![\w.])[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?",
    re.I,
)


def _parse(token: str) -> tuple[float, int, bool]:
    """(value, decimals shown, is_percent) of a number token."""
    is_percent = token.endswith("%")
    body = token.rstrip("%").replace(",", "")
    decimals = len(body.split(".", 1)[1]) if "." in body and "e" not in body.lower() else 0
    return float(body), decimals, is_percent


def _is_claim(value: float, decimals: int, is_percent: bool) -> bool:
    if decimals > 0 or is_percent:
        return True
    if 1900 <= value <= 2100:
        return False  # a year
    return abs(value) >= 10


def numbers_in(text: str) -> list[float]:
    """Every number written in ``text`` (commas and percent signs removed)."""
    return [_parse(m.group(0))[0] for m in _NUMBER.finditer(text)]


def find_ungrounded(reply: str, sources: Iterable[str]) -> list[str]:
    """The number tokens of ``reply`` that claim something no source supports."""
    known = {abs(v) for source in sources for v in numbers_in(source)}
    missing: list[str] = []
    for match in _NUMBER.finditer(reply):
        token = match.group(0)
        value, decimals, is_percent = _parse(token)
        if not _is_claim(value, decimals, is_percent):
            continue
        if not _supported(abs(value), decimals, is_percent, known):
            missing.append(token)
    return missing


def _supported(value: float, decimals: int, is_percent: bool, known: set[float]) -> bool:
    tolerance = 0.5 * 10**-decimals + 1e-9
    candidates = [value]
    if is_percent:
        candidates.append(value / 100)
    for candidate in candidates:
        step = tolerance if candidate == value else tolerance / 100
        if any(abs(k - candidate) <= step for k in known):
            return True
    return False
