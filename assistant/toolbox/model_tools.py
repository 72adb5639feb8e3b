"""Tools that build and use models: plan, train, leaderboard, explain, predict, files."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from assistant.context import ToolContext
from assistant.events import Figure, File, Table
from assistant.jobs import TrainRequest, study_key, train_job
from assistant.processes import current_owner
from assistant.store import RunRecord, thread_metadata, update_thread_metadata
from assistant.toolbox._format import (
    family_label,
    for_model,
    leaderboard_table,
    metrics_table,
    quoted,
    quoted_list,
    round_sig,
)
from assistant.toolbox._meaning import score_meaning
from assistant.toolbox._tables import load_dataset
from assistant.toolkit import ToolCallError, ToolResult, changes_state
from assistant.untrusted import cap
from assistant.verified_models import load_run_model, run_workspace
from assistant.worker import WorkerDied, WorkerHandle, WorkerStopped, run_in_worker
from assistant.workspace import safe_file_name
from tools.analyze import prepare_target
from tools.automl import base_family
from tools.errors import UserFacingError
from tools.explain import FeatureImportance, explain_feature
from tools.metrics import resolve_metric
from tools.models import CLASSIFICATION
from tools.plan import expand_models
from tools.predict import predict_file as predict_table
from tools.raw_parsing import fitted_model, label_target
from tools.tune import tuning_storage

Validation = Literal["stratified_kfold", "kfold", "holdout", "time_split"]
TargetTransform = Literal["auto", "none", "log", "quantile"]
ClassWeight = Literal["auto", "none", "balanced"]
TaskChoice = Literal["classification", "regression"]
_PLAN_KEY = "plan_changes"
_MAX_FIGURE_BYTES = 64 << 20
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
_FILE_TITLES = {
    "model": ("Fitted pipeline (model.joblib)", "application/octet-stream"),
    "card": ("Model card (model_card.md)", "text/markdown"),
    "script": ("Reproducible training script (train.py)", "text/x-python"),
    "report": ("Run report (report.json)", "application/json"),
}


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
        raise ToolCallError("Give at least one plan field to change.")
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
    stored = thread_metadata(ctx.services.conversations.db, ctx.thread_id).get(_PLAN_KEY, {})
    if "models" in changes:
        stored.pop("add_models", None)
        stored.pop("remove_models", None)
    if _other_target(target, stored, last):
        stored.pop("positive_class", None)  # both were said of another target
        stored.pop("task", None)
    if task == "regression":
        stored.pop("positive_class", None)  # no classes at all
    merged = {**stored, **changes}
    update_thread_metadata(ctx.services.conversations.db, ctx.thread_id, {_PLAN_KEY: merged})
    described = ", ".join(f"{k.replace('_', ' ')}: {_describe(v)}" for k, v in changes.items())
    summary = (
        f"Plan updated ({described}). It applies to the next training run; say “train” to run it."
    )
    return ToolResult(
        for_model=for_model({"summary": summary, "plan_changes": merged}), facts=merged
    )


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
    stored = thread_metadata(ctx.services.conversations.db, ctx.thread_id).get(_PLAN_KEY, {})
    given = {
        "metric": metric,
        "models": models,
        "add_models": add_models,
        "budget_s": budget_s,
        "validation": validation,
        "task": task,
        "positive_class": positive_class,
    }
    if _other_target(target, stored, ctx.services.runs.latest(ctx.thread_id)):
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
        raise ToolCallError(
            "Which column should I predict? Ask the user, or call profile_dataset to see the columns."
        )
    changes.setdefault("budget_s", ctx.settings.budget_s)
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
        storage=str(_tuning_storage(ctx)),
        study_prefix=_study_prefix(ctx, record.sha256),
        history_path=_history_path(ctx),
        started_at_s=called_at_s,
    )
    runs = ctx.services.runs
    runs.start(
        run_id,
        thread_id=ctx.thread_id,
        dataset_id=record.id,
        plan={"target": chosen_target, **changes},
        owner=current_owner(),
    )
    board: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    kept: list[dict[str, Any]] = []

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

    def register(handle: WorkerHandle) -> None:
        ctx.services.workers[ctx.thread_id] = handle

    try:
        async with ctx.services.training_slot(ctx.progress):
            outcome = await run_in_worker(
                train_job,
                request,
                on_message=on_message,
                handle_ready=register,
                on_cancelled_result=kept.append,
            )
    except asyncio.CancelledError:
        if kept:
            _finish_run(ctx, run_id, kept[0], status="stopped")
        else:
            runs.finish(
                run_id,
                status="stopped",
                leaderboard=_ordered(board, state),
                error="Stopped by the user",
            )
        raise
    except (WorkerDied, WorkerStopped) as exc:
        runs.finish(run_id, status="failed", leaderboard=_ordered(board, state), error=str(exc))
        finished = sum(1 for row in board if row.get("status") == "ok")
        raise ToolCallError(
            f"{exc} The run was marked failed; {finished} candidate(s) had finished and are kept "
            "in its leaderboard. Try a smaller budget or fewer models."
        ) from None
    except Exception as exc:
        runs.finish(
            run_id, status="failed", leaderboard=_ordered(board, state), error=str(exc)[:500]
        )
        raise
    finally:
        ctx.services.workers.pop(ctx.thread_id, None)
    status = "stopped" if outcome["stopped"] else "finished"

    def finish() -> ToolResult:  # database writes and figure files: off the event loop
        _finish_run(ctx, run_id, outcome, status=status)
        update_thread_metadata(
            ctx.services.conversations.db,
            ctx.thread_id,
            {_PLAN_KEY: {**stored, "target": outcome["target"]}},
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
    from tools.tune import tunable_families

    run = _latest_run(ctx, with_model=True)
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
        raise ToolCallError(
            f"None of those model families can be tuned; tunable ones: {', '.join(sorted(tunable))}."
        )
    record = ctx.dataset(run.dataset_id)
    run_id = uuid.uuid4().hex[:10]
    key = study_key(_study_prefix(ctx, record.sha256), plan["target"], plan["metric"])
    storage = _tuning_storage(ctx)
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
        history_path=_history_path(ctx),
        started_at_s=called_at_s,
    )
    runs = ctx.services.runs
    runs.start(
        run_id, thread_id=ctx.thread_id, dataset_id=record.id, plan=plan, owner=current_owner()
    )
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

    def register(handle: WorkerHandle) -> None:
        ctx.services.workers[ctx.thread_id] = handle

    kept: list[dict[str, Any]] = []
    try:
        async with ctx.services.training_slot(ctx.progress):
            outcome = await run_in_worker(
                tune_job,
                request,
                on_message=on_message,
                handle_ready=register,
                on_cancelled_result=kept.append,
            )
    except asyncio.CancelledError:
        if kept and kept[0].get("exported"):
            _finish_run(ctx, run_id, kept[0], status="stopped")
        else:
            runs.finish(run_id, status="stopped", error="Stopped by the user")
        raise
    except (WorkerDied, WorkerStopped) as exc:
        runs.finish(run_id, status="failed", error=str(exc))
        raise ToolCallError(f"{exc} The current model is unchanged.") from None
    except Exception as exc:
        runs.finish(run_id, status="failed", error=str(exc)[:500])
        raise
    finally:
        ctx.services.workers.pop(ctx.thread_id, None)
    label = outcome["metric_label"]
    best = family_label(outcome["best_family"])
    trials = f"{outcome['n_trials']} trials this time, {outcome['n_trials_total']} in the study"
    if outcome["exported"]:
        _finish_run(ctx, run_id, outcome, status="stopped" if outcome["stopped"] else "finished")
        before = outcome["previous_best_score"]
        summary = (
            f"Tuning improved the model: tuned {best} reaches cross-validated {label} "
            f"{round_sig(outcome['best_score'])}"
            + (
                f" (was {round_sig(before)} with {family_label(outcome['previous_best_family'])})"
                if before is not None
                else ""
            )
            + f"; {trials}. The tuned model is now the current one."
        )
        result = _train_result(ctx, run_id, outcome)
        payload = {
            **result.facts,
            "summary": summary,
            "best_score": outcome["best_score"],
            "previous_best_score": before,
            "previous_best_model": family_label(outcome["previous_best_family"])
            if before is not None
            else None,
            "n_trials": outcome["n_trials"],
            "n_trials_total": outcome["n_trials_total"],
            "best_params": outcome["best_params"],
        }
        return ToolResult(for_model=for_model(payload), for_user=result.for_user, facts=payload)
    runs.finish(run_id, status="finished", error="tuning did not beat the current model")
    summary = (
        f"Tuning did not beat the current model: the best tuned configuration ({best}) reaches "
        f"{label} {round_sig(outcome['best_score'])}, against {round_sig(outcome['previous_best_score'])} "
        f"now; {trials}. The current model is kept; tuning longer continues the same search."
    )
    payload = {
        "summary": summary,
        "metric": label,
        "tuned_model": best,
        "best_score": outcome["best_score"],
        "previous_best_score": outcome["previous_best_score"],
        "best_params": outcome["best_params"],
        "n_trials": outcome["n_trials"],
        "n_trials_total": outcome["n_trials_total"],
    }
    return ToolResult(for_model=for_model(payload), facts=payload)


def show_leaderboard(ctx: ToolContext) -> ToolResult:
    """Show the leaderboard of the latest training run (every candidate, best first)."""
    run = _latest_run(ctx)
    label = run.metrics.get("metric_label", "score")
    rows = [
        {
            "model": family_label(r["family"]),
            "score": round_sig(r["score"]),
            "std": round_sig(r["std"], 2),
            "status": r["status"],
        }
        for r in run.leaderboard
    ]
    summary = f"Leaderboard of run {run.id} ({run.status}), ranked by {label}."
    return ToolResult(
        for_model=for_model({"summary": summary, "metric": label, "leaderboard": rows}),
        for_user=(leaderboard_table(run.leaderboard, label),),
        facts={"metric": label, "leaderboard": rows},
    )


def list_artifacts(ctx: ToolContext) -> ToolResult:
    """Offer the files of the latest trained model for download: the fitted pipeline, model card,
    reproducible script, report and the latest predictions."""
    run = _latest_run(ctx, with_model=True)
    files = []
    for key, path_text in run.artifacts.get("files", {}).items():
        path = Path(path_text)
        if key in _FILE_TITLES and ctx.files.servable(path):
            title, mime = _FILE_TITLES[key]
            files.append(File(path, title, mime))
    predictions = sorted(
        (p for p in ctx.files.folder("predictions").glob("*.csv") if ctx.files.servable(p)),
        key=lambda p: p.lstat().st_mtime,
    )
    if predictions:
        files.append(File(predictions[-1], f"Predictions ({predictions[-1].name})", "text/csv"))
    names = [f.path.name for f in files]
    summary = f"Files of run {run.id}: {', '.join(names)}."
    return ToolResult(
        for_model=for_model({"summary": summary, "files": names}), for_user=tuple(files)
    )


def explain_model(ctx: ToolContext, feature: str | None = None) -> ToolResult:
    """Explain the latest model: its cross-validated metrics, which columns matter most
    (permutation importance) and diagnostic plots; with a feature, why that column matters
    (its importance rank, its relationship with the target, and a partial-dependence plot).

    Args:
        feature: A column to explain, e.g. "tenure"; omit for the whole model.
    """
    run = _latest_run(ctx, with_model=True)
    if feature is not None:
        return _explain_one_feature(ctx, run, feature)
    metrics = run.metrics
    label = metrics.get("metric_label", "score")
    best = family_label(metrics.get("best_family", "?"))
    cv = {k: round_sig(v) for k, v in metrics.get("cv_metrics", {}).items()}
    importance = metrics.get("importance", [])
    top = ", ".join(
        f"{quoted(i['column'])} ({round_sig(i['importance'], 3)})" for i in importance[:5]
    )
    summary = f"{best} is the best model; cross-validated {label} {_fmt(cv.get(metrics.get('metric', '')))}."
    expected = metrics.get("expected_metrics", {}).get(metrics.get("metric", ""))
    if expected is not None:
        summary += f" Expected {label} on new data: {_fmt(round_sig(expected))}."
    if top:
        summary += f" Most important columns: {top}."
    figures = _figures(ctx, metrics.get("figures", []))
    table = metrics_table(
        "Metrics", cv, metrics.get("expected_metrics", {}), name=f"metrics-{run.id}"
    )
    payload = {
        "summary": summary,
        "best_model": best,
        "metric": label,
        "cv_metrics": cv,
        "expected_metrics": {
            k: round_sig(v) for k, v in metrics.get("expected_metrics", {}).items()
        },
        "importance": [{**i, "column": cap(str(i["column"]))} for i in importance[:10]],
        "insights": metrics.get("insights", []),
    }
    return ToolResult(for_model=for_model(payload), for_user=(table, *figures), facts=payload)


def predict_file(ctx: ToolContext, dataset_id: str | None = None) -> ToolResult:
    """Apply the latest trained model to an attached file and offer the predictions as a CSV
    (with class probabilities for classification). Columns are checked against training.

    Args:
        dataset_id: Dataset id of the new file such as "d2"; the newest attached file when omitted.
    """
    run = _latest_run(ctx, with_model=True)
    record = ctx.dataset(dataset_id)
    if record.id == run.dataset_id and dataset_id is None:
        raise ToolCallError(
            f"The newest file ({record.name}) is the one the model was trained on. Ask the user to "
            "attach the file to predict on, or pass its dataset_id explicitly."
        )
    out = ctx.files.folder("predictions") / safe_file_name(
        f"{Path(record.name).stem}-predictions.csv"
    )
    model, schema = load_run_model(run)
    result = predict_table(
        model, record.path, out=out, schema=schema, max_bytes=ctx.settings.max_upload_mb << 20
    )
    preview = result.preview[:5]
    columns = tuple(preview[0].keys()) if preview else ()
    table = Table(
        f"Predictions for {record.name} (first rows)",
        columns,
        tuple(tuple(row.values()) for row in preview),
        name=f"predictions-{record.id}",
    )
    payload = {
        "summary": result.summary(),
        "rows": result.n_rows,
        "file": out.name,
        "extra_columns": list(result.extra_columns),
        "unseen_categories": result.unseen_categories,
    }
    return ToolResult(
        for_model=for_model(payload),
        for_user=(table, File(out, f"Predictions ({out.name})", "text/csv")),
        facts=payload,
    )


def suggest_improvements(ctx: ToolContext) -> ToolResult:
    """Suggest what would most likely improve the latest model, from its data profile and
    leaderboard (more data, class imbalance, leakage, tuning, feature ideas)."""
    run = _latest_run(ctx, with_model=True)
    metrics = run.metrics
    suggestions: list[str] = []
    warnings = " ".join(metrics.get("warnings", []))
    n_rows = int(metrics.get("n_rows") or 0)
    if "leak" in warnings.lower():
        suggestions.append(
            "A column looks like it leaks the answer; drop it (set_plan is not enough: remove it from the file) and retrain, or the score is too good to be true."
        )
    if "imbalance" in warnings.lower() or "imbalanced" in warnings.lower():
        suggestions.append(
            "The classes are imbalanced: rank by F1 or balanced accuracy (say “use F1”) and consider collecting more rows of the rare class."
        )
    if n_rows and n_rows < 1_000:
        suggestions.append(
            f"Only {n_rows:,} rows: more labelled rows usually help more than any model change."
        )
    skipped = [r for r in run.leaderboard if r.get("status") == "skipped"]
    if skipped:
        names = ", ".join(family_label(r["family"]) for r in skipped)
        suggestions.append(
            f"{names} did not fit in the time budget; a larger budget (e.g. “use a 5 minute budget”) lets them run."
        )
    ok = [r for r in run.leaderboard if r.get("status") == "ok" and r.get("score") is not None]
    if len(ok) >= 2:
        gap = abs(float(ok[0]["score"]) - float(ok[1]["score"]))
        spread = float(ok[0].get("std") or 0)
        if gap <= spread:
            suggestions.append(
                f"The top two models ({family_label(ok[0]['family'])}, {family_label(ok[1]['family'])}) are within one standard deviation; tuning the best one (“tune it for 2 minutes”) is the cheapest next gain."
            )
    importance = metrics.get("importance", [])
    if importance:
        top = [i["column"] for i in importance[:3]]
        suggestions.append(
            f"Feature ideas around the strongest columns ({quoted_list(top)}): ratios and differences between them, and date parts if any is a date."
            + _feature_example(run, [i["column"] for i in importance[:5]])
        )
    if not suggestions:
        suggestions.append(
            "Tuning the best model for a few minutes is the next step (“tune it for 2 minutes”)."
        )
    summary = f"{len(suggestions)} suggestion(s) for run {run.id}."
    payload = {"summary": summary, "suggestions": suggestions}
    return ToolResult(for_model=for_model(payload), facts=payload)


def _explain_one_feature(ctx: ToolContext, run: RunRecord, feature: str) -> ToolResult:
    run_dir = Path(run.artifacts["run_dir"])
    saved, _ = load_run_model(run)
    model = fitted_model(saved)
    record = ctx.dataset(run.dataset_id)
    loaded = load_dataset(record, max_bytes=ctx.settings.max_upload_mb << 20)
    target = run.metrics["target"]
    frame = label_target(loaded.frame, target, loaded.parser)
    table, _ = prepare_target(frame, target)
    features = list(model.input_columns_)
    from assistant.context import match_column

    found = match_column(features, feature)
    if found is None:
        raise ToolCallError(
            f"The model does not use a column named {quoted(feature)}. Its columns: {quoted_list(features)}."
        )
    importance = [
        FeatureImportance(
            column=i["column"], mean=float(i["importance"]), std=0.0, rank=int(i["rank"])
        )
        for i in run.metrics.get("importance", [])
    ]
    ctx.progress(f"Explaining {found}")
    explanation = explain_feature(
        model,
        table.loc[:, features],
        table[target].to_numpy(),
        found,
        task=run.metrics["task"],
        out_dir=run_dir / "figures",
        importance=importance,
        words=loaded.parser.words(found),
    )
    rank_text = (
        f"ranked {explanation.rank} of {explanation.n_features} by permutation importance"
        if explanation.rank is not None
        else "not ranked"
    )
    summary = f"{found} is {rank_text}."
    groups = [
        {"group": g.label, "rows": g.count, explanation.target_label: round_sig(g.target_mean)}
        for g in explanation.groups
    ]
    payload = {
        "summary": summary,
        "feature": found,
        "importance": round_sig(explanation.importance)
        if explanation.importance is not None
        else None,
        "rank": explanation.rank,
        "correlation_with_target": round_sig(explanation.correlation, 3)
        if explanation.correlation is not None
        else None,
        "groups": groups,
        "insights": list(explanation.insights),
    }
    figure = Figure(
        explanation.figure.title,
        plotly_json=explanation.figure.plotly_json,
        png_path=explanation.figure.png_path,
    )
    return ToolResult(for_model=for_model(payload), for_user=(figure,), facts=payload)


def _latest_run(ctx: ToolContext, *, with_model: bool = False) -> RunRecord:
    run = ctx.services.runs.latest(ctx.thread_id, with_model=with_model)
    if run is None:
        raise ToolCallError(
            "No model has been trained in this conversation yet. Attach a file and say which "
            "column to predict, e.g. “train a model to predict churn”."
        )
    return run


def _finish_run(ctx: ToolContext, run_id: str, outcome: dict[str, Any], *, status: str) -> None:
    metrics = {
        key: outcome[key]
        for key in (
            "target",
            "task",
            "metric",
            "metric_label",
            "best_family",
            "cv_metrics",
            "importance",
            "insights",
            "figures",
            "warnings",
            "notes",
            "n_rows",
        )
    }
    metrics["expected_metrics"] = outcome.get("expected_metrics", {})
    artifacts = {
        "run_dir": outcome["run_dir"],
        "files": outcome["files"],
        "model": outcome["files"].get("model"),
        "model_sha256": outcome.get("model_sha256"),
    }
    ctx.services.runs.finish(
        run_id,
        status=status,
        plan=outcome["plan"],
        leaderboard=outcome["leaderboard"],
        metrics=metrics,
        artifacts=artifacts,
        meta_features=outcome["meta_features"],
    )


def _train_result(ctx: ToolContext, run_id: str, outcome: dict[str, Any]) -> ToolResult:
    label = outcome["metric_label"]
    best = family_label(outcome["best_family"])
    best_row = next(r for r in outcome["leaderboard"] if r["family"] == outcome["best_family"])
    score = round_sig(best_row["score"])
    spread = "" if best_row["std"] is None else f" ± {round_sig(best_row['std'], 2)}"
    stopped = (
        " Training was stopped early; this is the best model so far." if outcome["stopped"] else ""
    )
    summary = (
        f"Trained {sum(1 for r in outcome['leaderboard'] if r['status'] == 'ok')} models on "
        f"{outcome['n_rows']:,} rows to predict {quoted(outcome['target'])} ({outcome['task']}). "
        f"Best: {best} with cross-validated {label} {score}{spread}.{stopped}"
    )
    expected = outcome.get("expected_metrics", {}).get(outcome["metric"])
    if expected is not None:
        summary += (
            f" Expected {label} on new data: {round_sig(expected)} (measured on rows that took "
            "no part in choosing the model; the cross-validated score ranks the models)."
        )
    positive = outcome["plan"].get("positive_class")
    meaning = score_meaning(
        outcome["plan"]["metric"],
        float(best_row["score"]),
        target=outcome["target"],
        positive_class=positive,
    )
    if meaning:
        summary += f" {meaning}"
    if positive is not None:
        summary += f" Positive class (F1, threshold, ROC and PR curves): {quoted(positive)}."
    if outcome["rows_dropped"]:
        summary += f" {outcome['rows_dropped']:,} rows with a missing target were dropped."
    top = [
        {"column": cap(i["column"]), "importance": round_sig(i["importance"], 3)}
        for i in outcome["importance"][:5]
    ]
    payload = {
        "summary": summary,
        "run_id": run_id,
        "best_model": best,
        "metric": label,
        "models_trained": sum(1 for r in outcome["leaderboard"] if r["status"] == "ok"),
        "rows": outcome["n_rows"],
        "rows_dropped": outcome["rows_dropped"],
        "leaderboard": [
            {
                "model": family_label(r["family"]),
                "score": round_sig(r["score"]),
                "std": round_sig(r["std"], 2),
                "status": r["status"],
            }
            for r in outcome["leaderboard"][:10]
        ],
        "cv_metrics": {k: round_sig(v) for k, v in outcome["cv_metrics"].items()},
        "expected_metrics": {
            k: round_sig(v) for k, v in outcome.get("expected_metrics", {}).items()
        },
        "top_features": top,
        "warnings": outcome["warnings"],
        "notes": outcome["notes"],
        "files": [Path(p).name for p in outcome["files"].values()],
    }
    cv_table = metrics_table(
        f"{best}: metrics",
        outcome["cv_metrics"],
        outcome.get("expected_metrics", {}),
        name=f"metrics-{run_id}",
    )
    figures = _figures(ctx, outcome["figures"])
    files = tuple(
        File(Path(outcome["files"][key]), *_FILE_TITLES[key])
        for key in ("model", "card", "script")
        if key in outcome["files"]
    )
    board = leaderboard_table(outcome["leaderboard"], label)
    return ToolResult(
        for_model=for_model(payload), for_user=(board, cv_table, *figures, *files), facts=payload
    )


def _other_target(target: str | None, stored: dict[str, Any], last: RunRecord | None) -> bool:
    """Whether ``target`` names another column than the plan's (a positive class is per target)."""
    previous = stored.get("target") or (last.plan.get("target") if last is not None else None)
    if target is None or previous is None:
        return False
    return str(target).casefold() != str(previous).casefold()


def _tuning_storage(ctx: ToolContext) -> str | Path:
    storage = tuning_storage(ctx.settings.tuning_storage, ctx.settings.data_dir)
    if isinstance(storage, Path):
        storage.parent.mkdir(parents=True, exist_ok=True)
    return storage


def _study_prefix(ctx: ToolContext, sha256: str) -> str:
    """Studies are per thread and file, so train and tune_model share them."""
    return f"{ctx.thread_id}-{sha256[:12]}"


def _history_path(ctx: ToolContext) -> Path:
    return ctx.settings.data_dir / "optuna" / "warmstart.db"


def _ordered(board: list[dict[str, Any]], state: dict[str, Any]) -> list[dict[str, Any]]:
    plan = state.get("plan")
    higher = True
    if plan is not None:
        higher = resolve_metric(plan["metric"], plan["task"]).greater_is_better
    ok = [r for r in board if r.get("status") == "ok" and r.get("score") is not None]
    rest = [r for r in board if r not in ok]
    ok.sort(key=lambda r: float(r["score"]), reverse=higher)
    return ok + rest


def _feature_example(run: RunRecord, columns: list[str]) -> str:
    """A ready-to-say derived feature over the two strongest numeric columns, or ""."""
    try:
        workspace, run_dir = run_workspace(run)
        schema = json.loads(workspace.read_text(run_dir / "schema.json", max_bytes=16 << 20))
    except (OSError, ValueError, KeyError, UserFacingError):
        return ""
    numeric = [c for c in columns if schema.get("kinds", {}).get(c) == "numeric"][:2]
    if len(numeric) < 2:
        return ""
    words = [re.sub(r"[^0-9A-Za-z]+", "_", c).strip("_").lower() for c in numeric]
    name = f"{words[0]}_per_{words[1]}"
    name = name if name[0].isalpha() else f"f_{name}"
    first, second = (c if c.isidentifier() else f"`{c}`" for c in numeric)
    return (
        f" Say “add a feature {name} = {first} / {second}” to try one; "
        "it is kept only if cross-validation improves."
    )


def _figures(ctx: ToolContext, figures: list[dict[str, Any]]) -> tuple[Figure, ...]:
    """The run's figures, read through the workspace door (no links, app folders only)."""
    shown = []
    for figure in figures:
        try:
            plotly_json = ctx.files.read_text(figure["json"], max_bytes=_MAX_FIGURE_BYTES)
        except (OSError, UserFacingError):
            plotly_json = None
        png = Path(figure["png"])
        shown.append(
            Figure(
                figure["title"],
                plotly_json=plotly_json,
                png_path=png if ctx.files.servable(png) else None,
            )
        )
    return tuple(shown)


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(family_label(str(v)) for v in value)
    return str(value)


def _fmt(value: Any) -> str:
    return "n/a" if value is None else json.dumps(value)
