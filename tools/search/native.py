"""A candidate's native-categories variant: LightGBM or CatBoost handling the categorical
columns itself, scored on the same folds after its encoded run and kept only when
cross-validation prefers it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tools.search.results import CandidateResult
from tools.search.winner import rank_value

NATIVE_SHARE = 0.3
"""The native-categories variant runs only if it needs at most this share of the time left."""


def native_or_encoded(
    encoded: Any,
    run_native: Callable[[], Any],
    *,
    time_left_s: float,
    needed_s: float,
    finish: Callable[[Any], CandidateResult],
    spec: Any,
    label: str,
    notes: list[str],
) -> Any:
    """The family's outcome with its native categorical handling when that scores better on
    the same folds than the encoders did (``encoded``), else ``encoded``."""
    if needed_s > NATIVE_SHARE * time_left_s:
        return encoded
    native = run_native()
    if native.result.status != "ok" or native.result.n_folds != encoded.result.n_folds:
        return encoded
    native.result = finish(native)
    with_codes, with_categories = encoded.result.score, native.result.score
    if rank_value(spec, with_categories) > rank_value(spec, with_codes):
        notes.append(
            f"{label} handled the categorical columns itself: cross-validated "
            f"{spec.label} {with_categories:.4g} vs {with_codes:.4g} with ordinal codes."
        )
        return native
    notes.append(
        f"{label} kept ordinal codes for the categorical columns: cross-validated "
        f"{spec.label} {with_codes:.4g} vs {with_categories:.4g} with its own categorical "
        "handling."
    )
    return encoded
