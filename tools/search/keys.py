"""The leaderboard's keys: a family name, ``"<family>:tuned"`` for its tuned row, and
``"ensemble"``; and how people read them."""

from __future__ import annotations

from tools.models.families import MODEL_FAMILIES

ENSEMBLE_KEY = "ensemble"
TUNED_SUFFIX = ":tuned"


def base_family(key: str) -> str:
    """The model family of a leaderboard key (``"lightgbm:tuned"`` -> ``"lightgbm"``)."""
    return key.removesuffix(TUNED_SUFFIX)


def candidate_label(key: str) -> str:
    """A leaderboard key as people read it ("lightgbm:tuned" -> "LightGBM (tuned)")."""
    if key == ENSEMBLE_KEY:
        return "Ensemble"
    family = MODEL_FAMILIES.get(base_family(key))
    label = family.label if family is not None else key
    return f"{label} (tuned)" if key.endswith(TUNED_SUFFIX) else label
