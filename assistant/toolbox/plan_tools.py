"""The set_plan tool: the changes the next training run applies, checked when they are set."""

from __future__ import annotations

from typing import Any, Literal

from assistant.context import ToolContext
from assistant.errors import ToolError
from assistant.plan_changes import load_changes, save_changes
from assistant.store import RunRecord
from assistant.toolbox._format import family_label, for_model
from assistant.toolkit import ToolResult, changes_state
from tools.metrics import resolve_metric
from tools.models.kinds import CLASSIFICATION
from tools.plan_words import expand_models

Validation = Literal["stratified_kfold", "kfold", "holdout", "time_split"]
TargetTransform = Literal["auto", "none", "log", "quantile"]
ClassWeight = Literal["auto", "none", "balanced"]
TaskChoice = Literal["classification", "regression"]


@changes_state
def set_plan(
    ctx: ToolContext,
    target: str | None = None,
    metric: str | None = None,
    models: list[str] | None = None,
    add_models: list[str] | None = None,
    remove_models: list[str] | None = None,
    budget_s: int | None = None,
    validation: Validation | None = None,
    time_column: str | None = None,
    target_transform: TargetTransform | None = None,
    class_weight: ClassWeight | None = None,
    task: TaskChoice | None = None,
    positive_class: str | None = None,
) -> ToolResult:
    """Change the training plan used by the next train_models call (only the fields given).

    Args:
        target: Column to predict.
        metric: Metric to rank models by, e.g. "roc_auc", "f1", "accuracy", "log_loss", "rmse", "mae", "r2".
        models: Only these model families or groups, e.g. ["tree"], ["linear"], ["lightgbm", "xgboost"].
        add_models: Families to try in addition to the current ones, e.g. ["svm"].
        remove_models: Families to leave out.
        budget_s: Training time budget in seconds.
        validation: Validation scheme.
        time_column: Date column that orders the rows, for a time-ordered split.
        target_transform: Regression target transform; "auto" lets cross-validation decide.
        class_weight: Weight rare classes ("balanced"); "auto" decides from the data and metric.
        task: Treat the target as "classification" (e.g. a numeric 0/1/2 code) or as
            "regression" (numbers only); inferred from the column when not set.
        positive_class: For a two-class target, the class that F1, the decision threshold
            and the ROC/PR curves are about, e.g. "fraud" (default: the rarer class).
    """
    given = {
        "target": target,
        "metric": metric,
        "models": models,
        "add_models": add_models,
        "remove_models": remove_models,
        "budget_s": budget_s,
        "validation": validation,
        "time_column": time_column,
        "target_transform": target_transform,
        "class_weight": class_weight,
        "task": task,
        "positive_class": positive_class,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        raise ToolError("Give at least one plan field to change.")
    last = ctx.services.runs.latest(ctx.thread_id)
    known_task = last.plan.get("task") if last is not None else None
    if known_task not in ("binary", "multiclass", "regression"):
        known_task = None  # a run still going stores the words the user gave
    if task is not None and not (task == "classification" and known_task in CLASSIFICATION):
        known_task = "regression" if task == "regression" else None  # classes: 2 or more?
    if "metric" in changes and known_task is not None:
        changes["metric"] = resolve_metric(changes["metric"], known_task).name
    for key in ("models", "add_models", "remove_models"):
        if key in changes:
            changes[key] = expand_models(changes[key], task=known_task)
    ctx.services.conversations.ensure_thread(ctx.thread_id)
    stored = load_changes(ctx.services.conversations.db, ctx.thread_id).as_dict()
    if "models" in changes:
        stored.pop("add_models", None)
        stored.pop("remove_models", None)
    if other_target(target, stored, last):
        stored.pop("positive_class", None)  # both were said of another target
        stored.pop("task", None)
    if task == "regression":
        stored.pop("positive_class", None)  # no classes at all
    merged = {**stored, **changes}
    merged = save_changes(ctx.services.conversations.db, ctx.thread_id, merged).as_dict()
    described = ", ".join(f"{k.replace('_', ' ')}: {_describe(v)}" for k, v in changes.items())
    summary = (
        f"Plan updated ({described}). It applies to the next training run; say “train” to run it."
    )
    return ToolResult(
        for_model=for_model({"summary": summary, "plan_changes": merged}), facts=merged
    )


def other_target(target: str | None, stored: dict[str, Any], last: RunRecord | None) -> bool:
    """Whether ``target`` names another column than the plan's (a positive class is per target)."""
    previous = stored.get("target") or (last.plan.get("target") if last is not None else None)
    if target is None or previous is None:
        return False
    return str(target).casefold() != str(previous).casefold()


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(family_label(str(v)) for v in value)
    return str(value)
