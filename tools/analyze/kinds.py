"""What a profile is made of: tasks, column kinds, one column's profile, a warning."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

# One definition of each; analyze's modules import them from here.
from tools.models.kinds import ColumnKind as ColumnKind
from tools.models.kinds import Task as Task

TaskChoice = Literal["classification", "regression"]
"""What a user may force the task to be ("treat it as regression")."""


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """What one column holds."""

    name: str
    kind: ColumnKind
    dtype: str
    missing_share: float
    n_unique: int
    stats: dict[str, float | str | int]
    """numeric: mean, std, min, p50, max, skew; categorical/text/constant: top_1..top_5 with
    top_N_count; boolean: true_share; datetime: min, max (ISO); id: unique_share."""


@dataclass(frozen=True, slots=True)
class DataWarning:
    """Something an expert would point out about the data."""

    code: str
    """One of: id_like, constant, near_duplicate, leakage, high_cardinality, imbalance,
    heavy_tail, missing_target, few_rows, duplicate_rows."""
    column: str | None
    message: str


def _short(value: Any, max_chars: int = 60) -> str:
    text = str(value)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
