"""Fewer boosting rounds or trees, so a candidate fits in a short budget instead of being skipped.

At a 10 s budget on 1,500 x 300, five LightGBM folds need about 6 s where 5 are left; the
search used to skip every booster and ship naive Bayes. With rounds cut to what the time
allows (and the learning rate raised in step, so the ensemble learns about as much) the
booster is tried. FLAML starts its boosters from cheap configurations for the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tools.models.families import ModelFamily

MIN_ROUNDS_SHARE = 0.3
"""Below this share of its rounds a family is skipped: too few to be worth the time."""
MARGIN = 0.9
"""Aim at this share of the time left: estimates are rough."""
MAX_LEARNING_RATE = 0.3


@dataclass(frozen=True, slots=True)
class FewerRounds:
    """Overrides that cut a family's rounds, and by how much its time estimate shrinks."""

    overrides: dict[str, Any]
    share: float
    note: str


def fewer_rounds(
    family: ModelFamily,
    params: Mapping[str, Any],
    *,
    needed_s: float,
    left_s: float,
    held_s: float = 0.0,
) -> FewerRounds | None:
    """Fewer rounds (and a higher learning rate) so ``needed_s`` fits in ``left_s``.

    ``needed_s`` is the candidate's own estimate (its folds and its refit), which shrinks
    with its rounds; ``held_s`` is time held back that does not (the current best's
    refit). ``params`` are the candidate's overrides; a rounds value set there (by the
    user or a portfolio) is kept. None when the family has no rounds to cut, when it
    already fits, or when fewer than :data:`MIN_ROUNDS_SHARE` of its rounds would fit.
    """
    if family.rounds_param is None or family.rounds_param in params:
        return None
    if needed_s + held_s <= left_s or needed_s <= 0:
        return None
    merged = {**family.default_params, **params}
    rounds = merged.get(family.rounds_param)
    if not isinstance(rounds, int):
        return None
    share = (MARGIN * left_s - held_s) / needed_s
    if share < MIN_ROUNDS_SHARE:
        return None
    fewer = max(1, int(rounds * share))
    overrides: dict[str, Any] = {family.rounds_param: fewer}
    note = f"{fewer} of its {rounds} rounds to fit the time left"
    rate = merged.get(family.rate_param) if family.rate_param else None
    if isinstance(rate, float):
        raised = min(rate * rounds / fewer, MAX_LEARNING_RATE)
        overrides[family.rate_param] = round(raised, 4)  # type: ignore[index]
        note += f" (learning rate {rate:g} -> {raised:.3g})"
    return FewerRounds(overrides, fewer / rounds, note)
