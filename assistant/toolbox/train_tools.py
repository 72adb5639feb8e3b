"""The tools that run the worker: train_models and tune_model."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from pathlib import Path
from typing import Any

from assistant.context import ToolContext
from assistant.errors import ToolError
from assistant.events import File
from assistant.jobs import TrainRequest, TuneReport, train_job
from assistant.plan_changes import checked, load_changes, save_changes
from assistant.processes import run_owner
from assistant.toolbox._cluster_size import refuse_beyond_one_worker
from assistant.toolbox._format import (
    family_label,
    for_model,
    leaderboard_table,
    metrics_table,
    quoted,
    round_sig,
)
from assistant.toolbox._meaning import score_meaning
from assistant.toolbox._runs import (
    FILE_TITLES,
    finish_run,
    history_path,
    latest_run,
    run_figures,
    run_job,
    study_prefix,
    tuning_store,
)
from assistant.toolbox.plan_tools import TaskChoice, Validation, other_target
from assistant.toolkit import ToolResult, changes_state
from assistant.untrusted import cap
from tools.metrics import resolve_metric
from tools.pipeline import RunReport, study_key
from tools.plan_words import expand_models
from tools.search.automl import base_family

_PHASES = {
    "profile": "reading and profiling the data",
    "plan": "planning",
    "started": "cross-validating candidates",
    "candidate_started": "cross-validating candidates",
    "candidate_finished": "cross-validating candidates",
    "trial": "tuning the best candidates",
    "refit_started": "refitting the best model on all rows",
    "finished": "finishing",
    "explaining": "explaining the model and writing its files",
}
"""The phase the chat's live element names, by the worker's progress event."""


@changes_state
async def train_models(
    ctx: ToolContext,
    target: str | None = None,
    dataset_id: str | None = None,
    metric: str | None = None,
    models: list[str] | None = None,
    add_models: list[str] | None = None,
    budget_s: int | None = None,
    validation: Validation | None = None,
    task: TaskChoice | None = None,
    positive_class: str | None = None,
) -> ToolResult:
    """Profile the dataset, build the plan, and cross-validate candidate models within the time
    budget, streaming a leaderboard; the best model is refit on all rows and saved with a report,
    model card, reproducible script and figures. Arguments override the stored plan.

    Args:
        target: Column to predict; the plan's target when omitted.
        dataset_id: Dataset id such as "d1"; the last training dataset or the newest file when omitted.
        metric: Metric to rank models by, e.g. "roc_auc", "f1", "accuracy", "rmse", "mae", "r2".
        models: Only these model families or groups, e.g. ["tree"] or ["lightgbm", "ridge"].
        add_models: Families to try in addition to the defaults, e.g. ["svm"].
        budget_s: Wall-clock seconds for training all candidates.
        validation: Validation scheme.
        task: Treat the target as "classification" or "regression" instead of inferring it.
        positive_class: For a two-class target, the class F1 and the curves are about.
    """
    called_at_s = time.time()  # the budget counts from the tool call
    record = ctx.training_dataset(dataset_id)
    refuse_beyond_one_worker(ctx.settings.cluster, record.path, "train")
    stored = load_changes(ctx.services.conversations.db, ctx.thread_id).as_dict()
    given = {
        "metric": metric,
        "models": models,
        "add_models": add_models,
        "budget_s": budget_s,
        "validation": validation,
        "task": task,
        "positive_class": positive_class,
    }
    if other_target(target, stored, ctx.services.runs.latest(ctx.thread_id)):
        stored.pop("positive_class", None)  # both were said of another target
        stored.pop("task", None)
    changes = {**stored, **{k: v for k, v in given.items() if v is not None}}
    if models is not None and add_models is None:
        changes.pop("add_models", None)
    if changes.pop("derived_dataset", record.id) != record.id:
        changes.pop("derived_features", None)  # engineered on another file's columns
    last = ctx.services.runs.latest(ctx.thread_id)
    chosen_target = (
        target or changes.pop("target", None) or (last.plan.get("target") if last else None)
    )
    changes.pop("target", None)
    if not chosen_target:
        raise ToolError(
            "Which column should I predict? Ask the user, or call profile_dataset to see the columns."
        )
    changes.setdefault("budget_s", ctx.settings.budget_s)
    changes = checked(changes).as_dict()  # the tool's own arguments too, before any worker starts
    run_id = uuid.uuid4().hex[:10]
    out_dir = ctx.files.run_dir(run_id)
    request = TrainRequest(
        data_path=record.path,
        data_name=record.name,
        data_sha256=record.sha256,
        target=chosen_target,
        out_dir=out_dir,
        changes=changes,
        max_bytes=ctx.settings.max_upload_mb << 20,
        storage=str(tuning_store(ctx)),
        study_prefix=study_prefix(ctx, record.sha256),
        history_path=history_path(ctx),
        started_at_s=called_at_s,
        dask_above_bytes=(
            ctx.settings.cluster.dask_above_mb << 20 if ctx.settings.cluster.scheduler else None
        ),
    )
    runs = ctx.services.runs
    runs.start(
        run_id,
        thread_id=ctx.thread_id,
        dataset_id=record.id,
        plan={"target": chosen_target, **changes},
        owner=run_owner(),
    )
    board: list[dict[str, Any]] = []
    state: dict[str, Any] = {}

    def live(phase_of: str | None) -> dict[str, Any]:
        """What the chat's live element shows: phase, budget, models done and planned."""
        plan = state.get("plan") or {}
        return {
            "phase": _PHASES.get(phase_of or "", "training"),
            "budget_s": plan.get("budget_s") or changes.get("budget_s"),
            "models_done": sum(1 for row in board if row.get("status") == "ok"),
            "models_planned": len(plan.get("models") or ()),
        }

    def on_message(message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "profile":
            board.clear()  # a job retried on another Dask worker starts again from here
            state["profile"] = message["profile"]
            ctx.progress("Profiled the data", summary=message["summary"], **live("plan"))
        elif kind == "plan":
            state["plan"] = message["plan"]
            state["metric_label"] = resolve_metric(
                message["plan"]["metric"], message["plan"]["task"]
            ).label
            ctx.progress(
                "Plan: " + message["description"].replace("\n", " "), **live("candidate_started")
            )
        elif kind == "progress":
            fraction = None
            if message.get("budget_s"):
                fraction = min(
                    1.0, float(message.get("elapsed_s") or 0) / float(message["budget_s"])
                )
            if message.get("event") == "candidate_finished" and "candidate" in message:
                board.append(message["candidate"])
                ordered = _ordered(board, state)
                runs.update_leaderboard(run_id, ordered)
                ctx.show(leaderboard_table(ordered, state.get("metric_label", "score")))
            ctx.progress(
                message.get("message", ""), fraction=fraction, **live(message.get("event"))
            )

    ctx.progress("Reading the file", **live("profile"))

    def stopped(partial: RunReport | None) -> None:
        if partial is not None:
            finish_run(ctx, run_id, partial, status="stopped")
        else:
            board_now = _ordered(board, state)
            runs.finish(
                run_id, status="stopped", leaderboard=board_now, error="Stopped by the user"
            )

    def failed(error: str) -> None:
        runs.finish(run_id, status="failed", leaderboard=_ordered(board, state), error=error)

    def hint() -> str:
        finished = sum(1 for row in board if row.get("status") == "ok")
        return (
            f"The run was marked failed; {finished} candidate(s) had finished and are kept "
            "in its leaderboard. Try a smaller budget or fewer models."
        )

    outcome = await run_job(
        ctx,
        train_job,
        request,
        on_message=on_message,
        on_stopped=stopped,
        on_failed=failed,
        failure_hint=hint,
        keep_partial=True,
    )
    status = "stopped" if outcome.stopped else "finished"

    def finish() -> ToolResult:  # database writes and figure files: off the event loop
        finish_run(ctx, run_id, outcome, status=status)
        save_changes(
            ctx.services.conversations.db, ctx.thread_id, {**stored, "target": outcome.target}
        )
        return _train_result(ctx, run_id, outcome)

    return await asyncio.to_thread(finish)


@changes_state
async def tune_model(
    ctx: ToolContext, budget_s: int = 60, models: list[str] | None = None
) -> ToolResult:
    """Tune the hyperparameters of the latest run's best model families with Optuna for a time
    budget. Studies persist, so asking again continues the same search; the tuned model replaces
    the current one only when its cross-validated score is better.

    Args:
        budget_s: Wall-clock seconds to spend tuning (e.g. 120 for "2 minutes").
        models: Families to tune; the run's best two tunable families when omitted.
    """
    called_at_s = time.time()  # the budget counts from the tool call
    from assistant.jobs import TuneRequest, tune_job
    from tools.search.studies import tunable_families

    run = latest_run(ctx, with_model=True)
    plan = run.plan
    tunable = set(tunable_families(plan["task"]))
    if models:
        families = [f for f in expand_models(models, task=plan["task"]) if f in tunable]
    else:
        ranked = [base_family(r["family"]) for r in run.leaderboard if r.get("status") == "ok"]
        # the best tunable families that finished; else the plan's cheapest tunable ones
        ranked += [f for f in tunable_families(plan["task"]) if f in plan.get("models", ())]
        families = [f for f in dict.fromkeys(ranked) if f in tunable][:2]
    if not families:
        raise ToolError(
            f"None of those model families can be tuned; tunable ones: {', '.join(sorted(tunable))}."
        )
    record = ctx.dataset(run.dataset_id)
    refuse_beyond_one_worker(ctx.settings.cluster, record.path, "tune")
    run_id = uuid.uuid4().hex[:10]
    key = study_key(study_prefix(ctx, record.sha256), plan["target"], plan["metric"])
    storage = tuning_store(ctx)
    request = TuneRequest(
        data_path=record.path,
        data_sha256=record.sha256,
        plan=plan,
        families=tuple(families),
        previous_leaderboard=tuple(run.leaderboard),
        storage=str(storage),
        study_key=key,
        budget_s=float(budget_s),
        out_dir=ctx.files.run_dir(run_id),
        max_bytes=ctx.settings.max_upload_mb << 20,
        history_path=history_path(ctx),
        started_at_s=called_at_s,
    )
    runs = ctx.services.runs
    runs.start(run_id, thread_id=ctx.thread_id, dataset_id=record.id, plan=plan, owner=run_owner())
    ctx.progress(f"Tuning {', '.join(family_label(f) for f in families)} for {budget_s} s")

    def on_message(message: dict[str, Any]) -> None:
        fraction = min(1.0, float(message.get("elapsed_s") or 0) / max(1.0, float(budget_s)))
        event = message.get("event")
        ctx.progress(
            message.get("message", ""),
            fraction=fraction,
            phase=_PHASES.get(event or "", "tuning"),
            budget_s=budget_s,
        )

    def stopped(partial: TuneReport | None) -> None:
        if partial is not None and partial.run is not None:
            finish_run(ctx, run_id, partial.run, status="stopped")
        else:
            runs.finish(run_id, status="stopped", error="Stopped by the user")

    def failed(error: str) -> None:
        runs.finish(run_id, status="failed", error=error)

    outcome = await run_job(
        ctx,
        tune_job,
        request,
        on_message=on_message,
        on_stopped=stopped,
        on_failed=failed,
        failure_hint=lambda: "The current model is unchanged.",
        keep_partial=True,
    )
    label = outcome.metric_label
    best = family_label(outcome.best_family)
    trials = f"{outcome.n_trials} trials this time, {outcome.n_trials_total} in the study"
    if outcome.run is not None:
        finish_run(ctx, run_id, outcome.run, status="stopped" if outcome.stopped else "finished")
        before = outcome.previous_best_score
        summary = (
            f"Tuning improved the model: tuned {best} reaches cross-validated {label} "
            f"{round_sig(outcome.best_score)}"
            + (
                f" (was {round_sig(before)} with {family_label(outcome.previous_best_family)})"
                if before is not None
                else ""
            )
            + f"; {trials}. The tuned model is now the current one."
        )
        result = _train_result(ctx, run_id, outcome.run)
        payload = {
            **result.facts,
            "summary": summary,
            "best_score": outcome.best_score,
            "previous_best_score": before,
            "previous_best_model": family_label(outcome.previous_best_family)
            if before is not None
            else None,
            "n_trials": outcome.n_trials,
            "n_trials_total": outcome.n_trials_total,
            "best_params": outcome.best_params,
        }
        return ToolResult(for_model=for_model(payload), for_user=result.for_user, facts=payload)
    runs.finish(run_id, status="finished", error="tuning did not beat the current model")
    summary = (
        f"Tuning did not beat the current model: the best tuned configuration ({best}) reaches "
        f"{label} {round_sig(outcome.best_score)}, against {round_sig(outcome.previous_best_score)} "
        f"now; {trials}. The current model is kept; tuning longer continues the same search."
    )
    payload = {
        "summary": summary,
        "metric": label,
        "tuned_model": best,
        "best_score": outcome.best_score,
        "previous_best_score": outcome.previous_best_score,
        "best_params": outcome.best_params,
        "n_trials": outcome.n_trials,
        "n_trials_total": outcome.n_trials_total,
    }
    return ToolResult(for_model=for_model(payload), facts=payload)


def _train_result(ctx: ToolContext, run_id: str, outcome: RunReport) -> ToolResult:
    label = outcome.metric_label
    best = family_label(outcome.best_family)
    best_row = next(r for r in outcome.leaderboard if r["family"] == outcome.best_family)
    score = round_sig(best_row["score"])
    spread = "" if best_row["std"] is None else f" ± {round_sig(best_row['std'], 2)}"
    stopped = (
        " Training was stopped early; this is the best model so far." if outcome.stopped else ""
    )
    summary = (
        f"Trained {sum(1 for r in outcome.leaderboard if r['status'] == 'ok')} models on "
        f"{outcome.n_rows:,} rows to predict {quoted(outcome.target)} ({outcome.task}). "
        f"Best: {best} with cross-validated {label} {score}{spread}.{stopped}"
    )
    expected = outcome.expected_metrics.get(outcome.metric)
    if expected is not None:
        summary += (
            f" Expected {label} on new data: {round_sig(expected)} (measured on rows that took "
            "no part in choosing the model; the cross-validated score ranks the models)."
        )
    positive = outcome.plan.get("positive_class")
    meaning = score_meaning(
        outcome.plan["metric"],
        float(best_row["score"]),
        target=outcome.target,
        positive_class=positive,
    )
    if meaning:
        summary += f" {meaning}"
    if positive is not None:
        summary += f" Positive class (F1, threshold, ROC and PR curves): {quoted(positive)}."
    if outcome.rows_dropped:
        summary += f" {outcome.rows_dropped:,} rows with a missing target were dropped."
    top = [
        {"column": cap(i.column), "importance": round_sig(i.importance, 3)}
        for i in outcome.importance[:5]
    ]
    payload = {
        "summary": summary,
        "run_id": run_id,
        "best_model": best,
        "metric": label,
        "models_trained": sum(1 for r in outcome.leaderboard if r["status"] == "ok"),
        "rows": outcome.n_rows,
        "rows_dropped": outcome.rows_dropped,
        "leaderboard": [
            {
                "model": family_label(r["family"]),
                "score": round_sig(r["score"]),
                "std": round_sig(r["std"], 2),
                "status": r["status"],
            }
            for r in outcome.leaderboard[:10]
        ],
        "cv_metrics": {k: round_sig(v) for k, v in outcome.cv_metrics.items()},
        "expected_metrics": {k: round_sig(v) for k, v in outcome.expected_metrics.items()},
        "top_features": top,
        "warnings": list(outcome.warnings),
        "notes": list(outcome.notes),
        "files": [Path(p).name for p in outcome.files.values()],
    }
    cv_table = metrics_table(
        f"{best}: metrics",
        outcome.cv_metrics,
        outcome.expected_metrics,
        name=f"metrics-{run_id}",
    )
    figures = run_figures(ctx, [dataclasses.asdict(f) for f in outcome.figures])
    files = tuple(
        File(Path(outcome.files[key]), *FILE_TITLES[key])
        for key in ("model", "card", "script")
        if key in outcome.files
    )
    board = leaderboard_table(list(outcome.leaderboard), label)
    return ToolResult(
        for_model=for_model(payload), for_user=(board, cv_table, *figures, *files), facts=payload
    )


def _ordered(board: list[dict[str, Any]], state: dict[str, Any]) -> list[dict[str, Any]]:
    plan = state.get("plan")
    higher = True
    if plan is not None:
        higher = resolve_metric(plan["metric"], plan["task"]).greater_is_better
    ok = [r for r in board if r.get("status") == "ok" and r.get("score") is not None]
    rest = [r for r in board if r not in ok]
    ok.sort(key=lambda r: float(r["score"]), reverse=higher)
    return ok + rest
