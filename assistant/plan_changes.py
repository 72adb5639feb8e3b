"""The plan changes a conversation has asked for: typed, and checked when they are set.

``set_plan``, ``train_models`` (the target it trained for),
``engineer_features`` (the kept features), the settings panel (the budget)
and "Run again" (an interrupted run's plan) write these changes; the next
training run applies them to the plan it builds (``tools/plan.py``). Every
writer goes through :func:`save_changes` or :func:`update_changes`, so a wrong
value is refused where it is set rather than failing later inside the worker.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.errors import ToolError
from assistant.store import Database, thread_metadata, update_thread_metadata
from tools.plan import (
    MAX_BUDGET_S,
    MIN_BUDGET_S,
    ClassWeightChoice,
    TargetTransformChoice,
    Validation,
)

log = logging.getLogger(__name__)

PLAN_KEY = "plan_changes"
"""Thread metadata key of the plan changes."""


class DerivedFeatureSpec(BaseModel):
    """A kept derived feature: its name and expression (``tools/feature_grammar.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    expression: str = Field(min_length=1)


class PlanChanges(BaseModel):
    """What the next training run changes in its plan; ``None`` leaves a field to the plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str | None = Field(default=None, min_length=1)
    metric: str | None = Field(default=None, min_length=1)
    models: list[str] | None = Field(default=None, min_length=1)
    add_models: list[str] | None = None
    remove_models: list[str] | None = None
    budget_s: float | None = Field(default=None, ge=MIN_BUDGET_S, le=MAX_BUDGET_S)
    validation: Validation | None = None
    time_column: str | None = None
    target_transform: TargetTransformChoice | None = None
    class_weight: ClassWeightChoice | None = None
    task: Literal["classification", "regression"] | None = None
    positive_class: str | None = None
    derived_features: list[DerivedFeatureSpec] | None = None
    derived_dataset: str | None = None
    """The dataset the derived features were computed on (another file drops them)."""

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set, as plain JSON values."""
        return self.model_dump(exclude_none=True, mode="json")


def checked(changes: dict[str, Any]) -> PlanChanges:
    """``changes`` as :class:`PlanChanges`; a :class:`ToolError` naming what is wrong."""
    try:
        return PlanChanges.model_validate(changes)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'plan'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ToolError(
            f"The plan change is not valid ({problems}). Fix it and call again."
        ) from None


def load_changes(db: Database, thread_id: str) -> PlanChanges:
    """The thread's stored plan changes (an unreadable store counts as none)."""
    stored = thread_metadata(db, thread_id).get(PLAN_KEY, {})
    try:
        return PlanChanges.model_validate(stored)
    except ValidationError:
        log.warning("plan_changes_unreadable thread=%s", thread_id)
        return PlanChanges()


def save_changes(
    db: Database, thread_id: str, changes: PlanChanges | dict[str, Any]
) -> PlanChanges:
    """Check ``changes`` and store them as the thread's plan changes (replacing the old ones)."""
    plan = checked(changes.as_dict() if isinstance(changes, PlanChanges) else changes)
    update_thread_metadata(db, thread_id, {PLAN_KEY: plan.as_dict()})
    return plan


def update_changes(db: Database, thread_id: str, **fields: Any) -> PlanChanges:
    """Set ``fields`` in the thread's plan changes, keeping the others; checked as a whole."""
    return save_changes(db, thread_id, {**load_changes(db, thread_id).as_dict(), **fields})


RERUN_FIELDS = tuple(name for name in PlanChanges.model_fields if name != "task")
"""The fields of a finished or interrupted run's plan that a rerun takes over. Not the
task: a run stores the inferred one ("binary"), the changes only what the user said."""


def changes_of_run(plan: dict[str, Any]) -> PlanChanges:
    """The plan changes that make the next run train like a run with ``plan`` did."""
    return checked({k: v for k, v in plan.items() if k in RERUN_FIELDS and v is not None})
