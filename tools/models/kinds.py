"""The closed sets every model module shares: tasks, column kinds, preprocessing styles."""

from __future__ import annotations

from typing import Any, Literal

Task = Literal["binary", "multiclass", "regression"]

TASK_WORDS: dict[str, str] = {
    "binary": "binary classification",
    "multiclass": "multiclass classification",
    "regression": "regression",
}
"""Each task as a sentence names it."""

ColumnKind = Literal["numeric", "categorical", "boolean", "datetime", "text", "id", "constant"]

Preprocessing = Literal["scaled", "tree"]

Params = dict[str, Any]

CLASSIFICATION: frozenset[str] = frozenset({"binary", "multiclass"})

REGRESSION: frozenset[str] = frozenset({"regression"})

ALL_TASKS: frozenset[str] = CLASSIFICATION | REGRESSION

USED_KINDS: frozenset[str] = frozenset({"numeric", "categorical", "boolean", "datetime", "text"})
"""Column kinds a pipeline uses; ``id`` and ``constant`` columns are dropped."""
