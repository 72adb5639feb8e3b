"""The engineer_features tool: derived columns proposed as expressions, kept only when CV agrees."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from assistant.context import ToolContext
from assistant.errors import ToolError
from assistant.events import Table
from assistant.feature_jobs import FeatureRequest, feature_job
from assistant.plan_changes import load_changes, save_changes
from assistant.store import RunRecord
from assistant.toolbox._cluster_size import refuse_beyond_one_worker
from assistant.toolbox._format import family_label, for_model, round_sig
from assistant.toolbox._runs import latest_run, run_job
from assistant.toolbox.train_tools import train_models
from assistant.toolkit import ToolResult, changes_state
from assistant.verified_models import run_workspace
from tools.errors import FeatureError, UserFacingError
from tools.feature_grammar import ALLOWED, DerivedFeature, check_features, parse_feature
from tools.metrics import resolve_metric
from tools.models.families import MODEL_FAMILIES
from tools.predict import SCHEMA_FILE
from tools.search.automl import base_family
from tools.search.feature_selection import FeatureSelection

MAX_PROPOSALS = 10
MIN_SCORING_BUDGET_S = 60


@changes_state
async def engineer_features(
    ctx: ToolContext, features: list[str], budget_s: int | None = None
) -> ToolResult:
    """Try new columns computed from existing ones; each is kept only if cross-validating the
    current best model on the run's folds improves clearly with it. Kept features join the plan
    and every model is retrained with them (pipeline, model card and train.py include them).
    Needs a trained model.

    Write each as "name = expression". Allowed: column names (`name with spaces` in
    backticks), numbers, + - * /, ** with a whole power -3..4, < <= > >= == != (a category
    column may be compared with text), log, log1p, sqrt, abs, exp, clip(x, low, high),
    min(a, b, ...), max(a, b, ...), is_missing(x), year/month/day/dayofweek/hour/quarter(date),
    days_between(date1, date2), bin(x, n) (n quantile bins, 2-20). Nothing else.
    Examples: "income_per_age = income / age", "signup_month = month(signup_date)",
    "tenure_bin = bin(tenure, 5)", 'young_monthly = (age < 30) * (contract == "monthly")'.

    Args:
        features: One to ten features, each "name = expression", e.g. ["income_per_age = income / age"].
        budget_s: Seconds for scoring the features; the retrain afterwards uses the plan's budget.
    """
    if not features:
        raise ToolError('Give at least one feature as "name = expression".')
    if len(features) > MAX_PROPOSALS:
        raise ToolError(f"Propose at most {MAX_PROPOSALS} features per call.")
    run = latest_run(ctx, with_model=True)
    plan = run.plan
    existing = [DerivedFeature(**f) for f in plan.get("derived_features") or []]
    proposals = _checked(features, existing, _column_kinds(run), target=plan["target"])
    record = ctx.dataset(run.dataset_id)
    refuse_beyond_one_worker(ctx.settings.cluster, record.path, "features")
    family, params = _scoring_family(run)
    request = FeatureRequest(
        data_path=record.path,
        plan=plan,
        proposals=tuple((p.name, p.expression) for p in proposals),
        family=family,
        params=params,
        budget_s=float(budget_s or max(MIN_SCORING_BUDGET_S, ctx.settings.budget_s)),
        max_bytes=ctx.settings.max_upload_mb << 20,
    )
    ctx.progress(f"Scoring {len(proposals)} feature(s) with {family_label(family)}")

    def on_message(message: dict[str, Any]) -> None:
        ctx.progress(str(message.get("message", "")))

    outcome = await run_job(
        ctx,
        feature_job,
        request,
        on_message=on_message,
        failure_hint=lambda: "No feature was added; the current model is unchanged.",
    )

    label = resolve_metric(outcome.metric, plan["task"]).label
    table = _verdict_table(outcome, label, run.id)
    rows = [
        {
            "feature": t.name,
            "expression": t.expression,
            "score_without": _score(t.score_without),
            "score_with": _score(t.score_with),
            "kept": t.kept,
            "why": t.reason,
        }
        for t in outcome.trials
    ]
    known = {f.name for f in existing}
    added = [f.name for f in outcome.kept if f.name not in known]
    scored = (
        f"Scored {len(rows)} feature(s) with {family_label(outcome.family)} on the run's "
        f"cross-validation folds ({label} {_score(outcome.baseline)} with the current features)."
    )
    if not added:
        summary = (
            f"{scored} None improved it clearly, so none was kept; the current model is unchanged."
        )
        payload = {"summary": summary, "features": rows}
        return ToolResult(for_model=for_model(payload), for_user=(table,), facts=payload)

    stored = load_changes(ctx.services.conversations.db, ctx.thread_id).as_dict()
    kept_changes = {
        "derived_features": [dataclasses.asdict(f) for f in outcome.kept],
        "derived_dataset": record.id,
    }
    save_changes(ctx.services.conversations.db, ctx.thread_id, {**stored, **kept_changes})
    ctx.show(table)
    ctx.progress(f"Kept {', '.join(added)}; retraining the models with the kept features")
    trained = await train_models(ctx)
    retrained = trained.facts
    summary = (
        f"{scored} Kept {', '.join(added)} ({label} {_score(outcome.final)} with "
        f"{family_label(outcome.family)}); every model was retrained with the kept features. "
        + str(retrained.get("summary", ""))
    )
    payload = {**retrained, "summary": summary, "features": rows, "kept": added}
    return ToolResult(
        for_model=for_model(payload),
        for_user=trained.for_user,  # the verdict table was shown before the retrain
        facts={**trained.facts, **payload},
    )


def _checked(
    texts: list[str], existing: list[DerivedFeature], kinds: dict[str, str] | None, *, target: str
) -> list[DerivedFeature]:
    """Parse and check every proposal; one ToolError lists every problem."""
    accepted: list[DerivedFeature] = []
    problems: list[str] = []
    for text in texts:
        try:
            feature = parse_feature(text)
            if kinds is not None:
                check_features([*existing, *accepted, feature], kinds, target=target)
            elif feature.name in {f.name for f in [*existing, *accepted]}:
                raise FeatureError(f"“{feature.name}” is already a feature; choose another name.")
        except FeatureError as exc:
            problems.append(f"- {text[:120]!r}: {str(exc).replace(ALLOWED, '').strip()}")
            continue
        accepted.append(feature)
    if problems:
        raise ToolError(
            f"{len(problems)} of {len(texts)} feature(s) were refused and nothing was scored. "
            "Fix them and call again:\n" + "\n".join(problems) + f"\n{ALLOWED}"
        )
    return accepted


def _column_kinds(run: RunRecord) -> dict[str, str] | None:
    """Kinds of the columns the current model reads (None when the run has no schema)."""
    try:
        workspace, run_dir = run_workspace(run)
        schema = json.loads(workspace.read_text(run_dir / SCHEMA_FILE, max_bytes=16 << 20))
    except (OSError, ValueError, KeyError, UserFacingError):
        return None
    return {str(k): str(v) for k, v in schema.get("kinds", {}).items()}


def _scoring_family(run: RunRecord) -> tuple[str, dict[str, Any]]:
    """The best single model family of the run and its parameters."""
    for row in run.leaderboard:
        family = base_family(str(row.get("family", "")))  # "lightgbm:tuned" -> "lightgbm"
        if row.get("status") == "ok" and family in MODEL_FAMILIES:
            return family, dict(row.get("params") or {})
    best = str(run.metrics.get("best_family", ""))
    if best in MODEL_FAMILIES:
        return best, {}
    raise ToolError("The latest run has no single model to score features with; train first.")


def _verdict_table(outcome: FeatureSelection, label: str, run_id: str) -> Table:
    return Table(
        f"Derived features: {label} by cross-validation",
        ("feature", "expression", f"{label} without", f"{label} with", "kept", "why"),
        tuple(
            (
                t.name,
                t.expression,
                _score(t.score_without),
                _score(t.score_with),
                "yes" if t.kept else "no",
                t.reason,
            )
            for t in outcome.trials
        ),
        name=f"features-{run_id}",
    )


def _score(value: float) -> float | None:
    """A score rounded for display; None when it was not evaluated (NaN is not JSON)."""
    return None if math.isnan(value) else round_sig(value)
