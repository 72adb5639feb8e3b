"""The user's words for a plan's models and budget: family names, aliases ("xgb", "rf"),
groups ("tree models", "boosting", "all") and durations ("90s", "5 minutes")."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tools.errors import PlanError
from tools.models.families import GROUPS, MODEL_FAMILIES, families_for

_MODEL_ALIASES: dict[str, str] = {
    "logistic": "logistic_regression",
    "logreg": "logistic_regression",
    "lr": "logistic_regression",
    "rf": "random_forest",
    "forest": "random_forest",
    "randomforest": "random_forest",
    "et": "extra_trees",
    "extratrees": "extra_trees",
    "xgb": "xgboost",
    "lgbm": "lightgbm",
    "lgb": "lightgbm",
    "light_gbm": "lightgbm",
    "cat": "catboost",
    "cb": "catboost",
    "nb": "naive_bayes",
    "bayes": "naive_bayes",
    "gaussian_nb": "naive_bayes",
    "k_nearest_neighbors": "knn",
    "nearest_neighbors": "knn",
    "neural_network": "mlp",
    "neural_net": "mlp",
    "nn": "mlp",
    "svc": "svm",
    "support_vector_machine": "svm",
    "linear_regression": "linear",
    "ols": "linear",
    "linear_discriminant_analysis": "lda",
}
_GROUP_ALIASES: dict[str, str] = {
    "trees": "tree",
    "tree_models": "tree",
    "tree_based": "tree",
    "boosted": "boosting",
    "gradient_boosting": "boosting",
    "gbm": "boosting",
    "gbdt": "boosting",
    "linear_models": "linear",
    "forests": "forest",
    "neural": "neural",
}
_FILLER = frozenset({"only", "just", "use", "try", "the", "a", "an", "models", "model", "with"})


def expand_models(models: Iterable[str] | str, *, task: str | None) -> list[str]:
    """Family names for ``models``: names, aliases ("xgb", "rf") and groups ("tree",
    "linear", "boosting", "all") expanded, duplicates removed, order kept.

    A group keeps only the families that handle ``task``; a named family that
    cannot handle ``task`` is an error.
    """
    if isinstance(models, str):
        models = [m for m in re.split(r"[,;]|\band\b", models) if m.strip()]
    names: list[str] = []
    for raw in models:
        words = [
            w for w in re.split(r"[\s_\-]+", str(raw).strip().lower()) if w and w not in _FILLER
        ]
        key = "_".join(words)
        key = _MODEL_ALIASES.get(key, key)
        group = _GROUP_ALIASES.get(
            key, key.removesuffix("s") if key.removesuffix("s") in GROUPS else key
        )
        is_group = group in GROUPS
        # "linear" is a family and a group: "linear models" (plural) or a task the family
        # cannot handle means the group.
        means_group = is_group and (
            bool(re.search(r"\bmodels\b", str(raw).lower()))
            or bool(task and key in MODEL_FAMILIES and not MODEL_FAMILIES[key].supports(task))
        )
        if key in MODEL_FAMILIES and not means_group:
            family = MODEL_FAMILIES[key]
            if task is not None and not family.supports(task):
                choices = ", ".join(families_for(task))
                raise PlanError(
                    f"{family.label} cannot be used for {task} tasks. Choose from: {choices}."
                )
            found = [key]
        elif key in {"all", "every", "everything", "default", "auto"}:
            found = families_for(task) if task else list(MODEL_FAMILIES)
        elif group in GROUPS:
            found = [n for n in GROUPS[group] if task is None or MODEL_FAMILIES[n].supports(task)]
            if not found:
                raise PlanError(f"No {group} models handle {task} tasks.")
        else:
            known = ", ".join(sorted(MODEL_FAMILIES))
            groups = ", ".join(sorted(GROUPS))
            raise PlanError(
                f"There is no model called “{str(raw).strip()}”. Known models: {known}; groups: {groups}."
            )
        names += [n for n in found if n not in names]
    if not names:
        raise PlanError("The plan needs at least one model.")
    return names


def parse_budget_s(value: float | int | str) -> float:
    """Seconds from a number or words such as "90s", "5 minutes", "1.5 h"."""
    if isinstance(value, bool):
        raise PlanError("The time budget must be a number of seconds, such as 60 or “5 minutes”.")
    if isinstance(value, int | float):
        return float(value)
    match = re.fullmatch(
        r"\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?)?\s*",
        str(value).lower(),
    )
    if not match:
        raise PlanError(
            f"“{value}” is not a time budget; say a number of seconds or minutes, such as “90s” or “5 minutes”."
        )
    number = float(match.group(1))
    unit = (match.group(2) or "s")[0]
    return number * {"s": 1.0, "m": 60.0, "h": 3600.0}[unit]
