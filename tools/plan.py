"""The ML plan: a validated schema, its default builder, and changes to it.

A :class:`Plan` says what to learn (task, target), how to judge it (metric,
validation scheme), what to try (model families) and how long (budget, seed).
:func:`build_plan` fills one from a profile; :func:`update_plan` applies a
user's request ("use F1", "only tree models", "5 minutes") to an existing
plan. Every invalid plan raises :class:`~tools.errors.PlanError` whose message
says, in plain words, what is wrong and what is allowed. The user's words for
models and budgets ("xgb", "tree models", "5 minutes") are read in
:mod:`tools.plan_words`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tools.errors import PlanError
from tools.feature_grammar import DerivedFeature, check_features, check_name, parse_expression
from tools.models.families import MODEL_FAMILIES, families_for
from tools.models.kinds import CLASSIFICATION, TASK_WORDS, USED_KINDS, Task
from tools.plan_words import expand_models, parse_budget_s

log = logging.getLogger(__name__)

Validation = Literal["stratified_kfold", "kfold", "holdout", "time_split"]
TargetTransformChoice = Literal["auto", "none", "log", "quantile"]
ClassWeightChoice = Literal["auto", "none", "balanced"]

HOLDOUT_ABOVE_ROWS = 100_000
"""Tables with more rows than this are validated on one holdout split instead of k folds."""
MAX_BUDGET_S = 24 * 3600.0
MIN_BUDGET_S = 1.0


class Plan(BaseModel):
    """What to learn, how to judge it, what to try, and for how long.

    Construct it with :func:`build_plan`; change it with :func:`update_plan`.
    Invalid values raise :class:`PlanError`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: Task
    target: str = Field(min_length=1)
    metric: str
    """Canonical metric name (as returned by ``resolve_metric``)."""
    validation: Validation
    folds: int = Field(default=5, ge=2, le=20)
    holdout_fraction: float = Field(default=0.2, ge=0.05, le=0.5)
    time_column: str | None = None
    models: list[str] = Field(min_length=1)
    """Model family names (keys of ``MODEL_FAMILIES``), in the order given."""
    drop_columns: list[str] = Field(default_factory=list)
    budget_s: float = Field(default=60.0, ge=MIN_BUDGET_S, le=MAX_BUDGET_S)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    derived_features: list[DerivedFeature] = Field(default_factory=list)
    """Columns computed from others (see :mod:`tools.features`), added in front of every model."""
    target_transform: TargetTransformChoice = "auto"
    """Regression only: "auto" tries a log and a quantile transform of a skewed target and
    keeps one only when cross-validation says it helps (see :mod:`tools.search.target_transform`);
    "none", "log" or "quantile" force the choice."""
    class_weight: ClassWeightChoice = "auto"
    """Classification only: "balanced" weights classes equally where the model can; "auto"
    does so for a rare class (< 10 % of rows) when the metric is balanced accuracy or macro F1."""
    positive_class: str | None = None
    """Binary only: the class F1, the decision threshold and the ROC/PR curves are about
    (:func:`build_plan` sets the minority class); the label as the file writes it."""

    @model_validator(mode="wrap")
    @classmethod
    def _plain_errors(cls, data: Any, handler: Any) -> Plan:
        try:
            return handler(data)
        except ValidationError as exc:
            raise PlanError(_plain_message(exc)) from None

    @field_validator("metric")
    @classmethod
    def _canonical_metric(cls, metric: str, info: ValidationInfo) -> str:
        task = info.data.get("task")
        if task is None:
            return metric
        from tools.metrics import resolve_metric

        return resolve_metric(metric, task).name

    @field_validator("models")
    @classmethod
    def _known_models(cls, models: list[str], info: ValidationInfo) -> list[str]:
        task = info.data.get("task")
        names = expand_models(models, task=task)
        return names

    @field_validator("derived_features")
    @classmethod
    def _grammar(cls, features: list[DerivedFeature]) -> list[DerivedFeature]:
        names = [feature.name for feature in features]
        for feature in features:
            check_name(feature.name)
            parse_expression(feature.expression)
        if len(set(names)) != len(names):
            raise PlanError("Two derived features have the same name; give each its own.")
        return features

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        if self.validation == "stratified_kfold" and self.task not in CLASSIFICATION:
            raise PlanError(
                "Stratified k-fold needs classes to stratify on; for a regression use “kfold”."
            )
        if self.validation == "time_split" and not self.time_column:
            raise PlanError(
                "A time-ordered split needs a time column; name the date column that orders the rows."
            )
        if self.time_column is not None and self.time_column == self.target:
            raise PlanError(f"“{self.target}” is the target, so it cannot also order the rows.")
        if self.target in self.drop_columns:
            raise PlanError(f"“{self.target}” is the target, so it cannot be dropped.")
        if self.time_column is not None and self.time_column in self.drop_columns:
            raise PlanError(f"“{self.time_column}” orders the rows, so it cannot be dropped.")
        if self.task in CLASSIFICATION and self.target_transform in {"log", "quantile"}:
            raise PlanError(
                "A target transform applies only to a regression; use “none” or “auto”."
            )
        if self.task not in CLASSIFICATION and self.class_weight == "balanced":
            raise PlanError("Class weights apply only to a classification; use “none” or “auto”.")
        if self.task != "binary" and self.positive_class is not None:
            raise PlanError(
                "A positive class applies only to a classification with two classes; "
                f"this is {'a regression' if self.task == 'regression' else 'a multiclass task'}."
            )
        return self

    def describe(self) -> str:
        """A few lines a person can read: task, metric, validation, models, budget."""
        from tools.metrics import resolve_metric

        spec = resolve_metric(self.metric, self.task)
        direction = "higher" if spec.greater_is_better else "lower"
        task_words = TASK_WORDS[self.task]
        if self.validation in {"stratified_kfold", "kfold"}:
            scheme = f"{self.folds}-fold {'stratified ' if self.validation == 'stratified_kfold' else ''}cross-validation"
        elif self.validation == "holdout":
            scheme = f"a holdout of {self.holdout_fraction:.0%} of the rows"
        else:
            scheme = f"a time-ordered split on “{self.time_column}” (the latest {self.holdout_fraction:.0%} of rows validate)"
        labels = ", ".join(MODEL_FAMILIES[name].label for name in self.models)
        lines = [
            f"Task: {task_words} of “{self.target}”.",
            f"Metric: {spec.label} ({direction} is better).",
            f"Validation: {scheme}.",
            f"Models: {labels}.",
            f"Budget: {_seconds_words(self.budget_s)}, seed {self.seed}.",
        ]
        if self.drop_columns:
            lines.append("Dropped columns: " + ", ".join(f"“{c}”" for c in self.drop_columns) + ".")
        if self.derived_features:
            listed = "; ".join(f"{f.name} = {f.expression}" for f in self.derived_features)
            lines.append(f"Derived features: {listed}.")
        if self.target_transform != "auto":
            lines.append(f"Target transform: {self.target_transform} (not chosen by CV).")
        if self.class_weight != "auto":
            lines.append(f"Class weights: {self.class_weight}.")
        if self.positive_class is not None:
            lines.append(f"Positive class: “{self.positive_class}” (F1, threshold and curves).")
        return "\n".join(lines)


def _plain_message(exc: ValidationError) -> str:
    parts: list[str] = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error.get("loc", ())) or "plan"
        kind = error.get("type", "")
        given = error.get("input")
        ctx = error.get("ctx") or {}
        if kind == "missing":
            parts.append(f"“{field}” is required")
        elif kind == "extra_forbidden":
            allowed = ", ".join(Plan.model_fields)
            parts.append(f"“{field}” is not a plan setting (settings: {allowed})")
        elif kind == "literal_error":
            parts.append(f"“{field}” cannot be {given!r}; choose {ctx.get('expected', '')}")
        elif kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
            bound = next(iter(ctx.values()), "")
            words = {
                "greater_than_equal": "at least",
                "greater_than": "more than",
                "less_than_equal": "at most",
                "less_than": "less than",
            }[kind]
            parts.append(f"“{field}” must be {words} {bound} (got {given!r})")
        elif kind == "too_short":
            parts.append(f"“{field}” must not be empty")
        else:
            parts.append(f"“{field}”: {error.get('msg', 'invalid')} (got {given!r})")
    return "The plan is not valid: " + "; ".join(parts) + "."


def _seconds_words(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{int(seconds // 60)} minutes"
    return f"{seconds:g} s"


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _default_validation(task: str, n_rows: int, time_column: str | None) -> Validation:
    if time_column:
        return "time_split"
    if n_rows > HOLDOUT_ABOVE_ROWS:
        return "holdout"
    return "stratified_kfold" if task in CLASSIFICATION else "kfold"


def _check_columns(profile: Any, plan: Plan) -> None:
    known = {column.name for column in profile.columns}
    for name in [
        plan.target,
        *plan.drop_columns,
        *([plan.time_column] if plan.time_column else []),
    ]:
        if name not in known:
            raise PlanError(_unknown_column(name, known))
    if plan.time_column is not None:
        kind = profile.column(plan.time_column).kind
        if kind not in {"datetime", "numeric"}:
            raise PlanError(
                f"“{plan.time_column}” is a {kind} column, so it cannot order the rows; name a date column."
            )
    if plan.derived_features:
        excluded = {plan.target, *plan.drop_columns}
        kinds = {
            c.name: str(c.kind)
            for c in profile.columns
            if c.kind in USED_KINDS and c.name not in excluded
        }
        check_features(plan.derived_features, kinds, target=plan.target)


def _unknown_column(name: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    hint = f" Closest matches: {', '.join(close)}." if close else ""
    return f"There is no column named “{name}”.{hint}"


def _only_date_column(profile: Any) -> str:
    dates = [c.name for c in profile.columns if c.kind == "datetime" and c.name != profile.target]
    if len(dates) == 1:
        return dates[0]
    if not dates:
        raise PlanError("A time-ordered split needs a date column, and this table has none.")
    shown = ", ".join(f"“{d}”" for d in dates)
    raise PlanError(f"Which column orders the rows in time? The date columns are {shown}.")


def _default_models(task: str, n_rows: int) -> list[str]:
    return [
        name
        for name in families_for(task)
        if MODEL_FAMILIES[name].max_rows is None or n_rows <= (MODEL_FAMILIES[name].max_rows or 0)
    ]


def build_plan(
    profile: Any,
    *,
    target: str | None = None,
    metric: str | None = None,
    models: list[str] | None = None,
    budget_s: float | None = None,
    validation: str | None = None,
    folds: int | None = None,
    time_column: str | None = None,
    seed: int = 0,
    positive_class: str | None = None,
) -> Plan:
    """The default plan for a profiled table, with any field overridden.

    ``profile`` must have been made with the target (``profile.target`` and
    ``profile.task`` set). Defaults: the task's default metric, stratified
    k-fold for classification, k-fold for regression, one holdout above
    100,000 rows, every family that suits the task and size, 60 s; for a
    binary task the minority class is the positive class.
    """
    from tools.metrics import default_metric

    chosen_target = target or profile.target
    if not chosen_target:
        raise PlanError("Say which column to predict, for example “the target is price”.")
    if profile.target != chosen_target or profile.task is None:
        raise PlanError(
            f"The table was profiled for “{profile.target}”, not “{chosen_target}”; profile it again with the new target."
        )
    task = profile.task
    fields: dict[str, Any] = {
        "task": task,
        "target": chosen_target,
        "metric": metric or default_metric(task),
        "validation": validation or _default_validation(task, profile.n_rows, time_column),
        "time_column": time_column,
        "models": models if models is not None else _default_models(task, profile.n_rows),
        "seed": seed,
        "positive_class": _positive_class(profile, positive_class) if task == "binary" else None,
    }
    if positive_class is not None and task != "binary":
        fields["positive_class"] = positive_class  # the plan says why it cannot be used
    if budget_s is not None:
        fields["budget_s"] = parse_budget_s(budget_s)
    if folds is not None:
        fields["folds"] = folds
    plan = Plan(**fields)
    _check_columns(profile, plan)
    log.info(
        "plan_built task=%s metric=%s validation=%s models=%d budget_s=%g",
        plan.task,
        plan.metric,
        plan.validation,
        len(plan.models),
        plan.budget_s,
    )
    return plan


def task_choice(plan: Plan) -> Literal["classification", "regression"]:
    """What to tell :func:`tools.analyze.profile_table` so a profile matches ``plan.task``
    (the user may have overridden the inferred task)."""
    return "regression" if plan.task == "regression" else "classification"


def _positive_class(profile: Any, wanted: str | None) -> str:
    """The positive class's label: ``wanted`` matched to a class, or the minority class."""
    from tools.classes import match_class, minority_class

    counts = dict(profile.target_summary.get("classes") or {})
    if wanted is None:
        return str(minority_class(counts))
    return str(match_class(counts, wanted, target=profile.target))


_CHANGEABLE = (
    "metric",
    "models",
    "add_models",
    "remove_models",
    "budget_s",
    "validation",
    "folds",
    "holdout_fraction",
    "time_column",
    "drop_columns",
    "seed",
    "target",
    "derived_features",
    "target_transform",
    "class_weight",
    "positive_class",
)


def update_plan(plan: Plan, profile: Any, **changes: Any) -> Plan:
    """A new plan with ``changes`` applied; the old one is unchanged.

    Keys: ``metric`` ("f1", "auc", ...), ``models`` (names, aliases or groups
    such as "tree", "linear", "boosting"; a string or a list),
    ``add_models`` / ``remove_models``, ``budget_s`` (seconds or words such as
    "5 minutes"), ``validation``, ``folds``, ``holdout_fraction``,
    ``time_column`` (setting one switches to a time-ordered split),
    ``drop_columns``, ``seed``, ``derived_features`` (``DerivedFeature`` values
    or ``{"name": ..., "expression": ...}`` dicts; they replace the current ones),
    ``target_transform`` ("auto", "none", "log", "quantile"), ``class_weight``
    ("auto", "none", "balanced"), ``positive_class`` (a class label of a binary
    target). Changing ``target`` needs a profile made with the new target.
    """
    unknown = sorted(set(changes) - set(_CHANGEABLE))
    if unknown:
        raise PlanError(
            f"Cannot change {', '.join(unknown)}; changeable settings are: {', '.join(_CHANGEABLE)}."
        )
    fields = plan.model_dump()
    if "target" in changes and changes["target"] != plan.target:
        if profile.target != changes["target"]:
            raise PlanError(
                f"The table was profiled for “{profile.target}”; profile it again with “{changes['target']}” as the target."
            )
        return build_plan(profile, budget_s=plan.budget_s, seed=plan.seed)
    task = plan.task
    if "models" in changes:
        fields["models"] = expand_models(changes["models"], task=task)
    if "add_models" in changes:
        fields["models"] = expand_models(
            [*fields["models"], *_as_list(changes["add_models"])], task=task
        )
    if "remove_models" in changes:
        removed = set(expand_models(changes["remove_models"], task=task))
        fields["models"] = [m for m in fields["models"] if m not in removed]
        if not fields["models"]:
            raise PlanError("That would remove every model; keep at least one.")
    if "budget_s" in changes:
        fields["budget_s"] = parse_budget_s(changes["budget_s"])
    if "time_column" in changes:
        fields["time_column"] = changes["time_column"]
        if changes["time_column"] and "validation" not in changes:
            fields["validation"] = "time_split"
        if not changes["time_column"] and fields["validation"] == "time_split":
            fields["validation"] = _default_validation(task, profile.n_rows, None)
    if "drop_columns" in changes:
        fields["drop_columns"] = _as_list(changes["drop_columns"])
    if "derived_features" in changes:
        fields["derived_features"] = list(changes["derived_features"])
    if "positive_class" in changes:
        wanted = changes["positive_class"]
        fields["positive_class"] = (
            _positive_class(profile, wanted) if task == "binary" and wanted else wanted
        )
    for key in (
        "metric",
        "validation",
        "folds",
        "holdout_fraction",
        "seed",
        "target_transform",
        "class_weight",
    ):
        if key in changes:
            fields[key] = changes[key]
    if isinstance(fields.get("validation"), str):
        fields["validation"] = _key(fields["validation"]).replace("k_fold", "kfold")
    if fields.get("validation") == "time_split" and not fields.get("time_column"):
        fields["time_column"] = _only_date_column(profile)
    new_plan = Plan(**fields)
    _check_columns(profile, new_plan)
    return new_plan


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]
