"""Heavy jobs that run in a worker process: train a plan, explain a feature.

Each job takes a :class:`~assistant.worker.WorkerChannel` and a small
picklable request, reads the data itself (nothing large crosses the process
boundary), sends progress messages, and returns a JSON-ready dict.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.context import match_column
from assistant.worker import WorkerChannel
from tools.analyze import profile_table
from tools.automl import TUNED_SUFFIX, base_family, candidate_label, finish_reserve_s, fit_automl
from tools.deadline import Deadline
from tools.errors import TargetError
from tools.explain import explain_result
from tools.export import export_run
from tools.imbalance import thresholded_f1
from tools.io.load import file_sha256, load_table, resolve_column
from tools.io.raw_rows import label_target
from tools.metrics import resolve_metric
from tools.plan import build_plan, task_choice, update_plan
from tools.train import CandidateResult, TrainProgress
from tools.tune import TrialReport
from tools.warmstart import WarmStartStore

log = logging.getLogger(__name__)

_PLAN_FIELDS = ("metric", "models", "budget_s", "validation", "folds", "time_column")


@dataclass(frozen=True, slots=True)
class TrainRequest:
    """What the train tool asks the worker to do."""

    data_path: Path
    data_name: str
    data_sha256: str
    target: str
    out_dir: Path
    changes: dict[str, Any] = field(default_factory=dict)
    """Plan fields and changes: metric, models, add_models, remove_models, budget_s, ...;
    ``task`` ("classification" / "regression") overrides the inferred task."""
    max_bytes: int = 1 << 30
    seed: int = 0
    storage: str | None = None
    """Where tuning studies live (None: in memory, forgotten after the run)."""
    study_prefix: str = "run"
    """Studies are named ``study_key(study_prefix, target, metric)``, so tune_model continues them."""
    history_path: Path | None = None
    """Warm-start history (tools.warmstart): read for first trials, written after the run."""
    started_at_s: float | None = None
    """When the tool was called (``time.time()``): the budget counts from then and covers
    loading, training, explaining and exporting. None: from when the worker starts the job."""


def study_key(prefix: str, target: str, metric: str) -> str:
    """The name prefix of a thread's tuning studies for one dataset, target and metric."""
    return f"{prefix}-{target}-{metric}"


def leaderboard_rows(leaderboard: list[CandidateResult]) -> list[dict[str, Any]]:
    """Leaderboard entries as plain dicts (NaN scores become ``None``)."""
    rows = []
    for candidate in leaderboard:
        row = dataclasses.asdict(candidate)
        for key in ("score", "std"):
            if isinstance(row[key], float) and math.isnan(row[key]):
                row[key] = None
        rows.append(row)
    return rows


def resolve_target(columns: list[str], wanted: str) -> tuple[str, str | None]:
    """The column the user meant, and a note when it was a guess (typo, other case)."""
    found = match_column(columns, wanted)
    if found is None:
        resolve_column(columns, wanted)  # raises TargetError naming the closest columns
        raise TargetError(f"There is no column named “{wanted}”.")
    note = None if found == wanted else f"Using the column “{found}” for “{wanted}”."
    return found, note


def trial_line(report: TrialReport, metric_label: str) -> str:
    """A tuning trial as one progress line: trial, score, best so far, time left."""
    score = "pruned" if math.isnan(report.score) else f"{report.score:.4g}"
    best = "—" if math.isnan(report.best_score) else f"{report.best_score:.4g}"
    return (
        f"Tuning trial {report.number + 1} of {candidate_label(report.family)}: {metric_label} "
        f"{score}; best so far {best}; {report.time_left_s:.0f} s left"
    )


def train_job(channel: WorkerChannel, request: TrainRequest) -> dict[str, Any]:
    """Load, profile, plan, train, explain and export; return the run's summary."""
    started_s = time.time()
    loaded = load_table(request.data_path, max_bytes=request.max_bytes)
    target, target_note = resolve_target([str(c) for c in loaded.frame.columns], request.target)
    loaded = dataclasses.replace(loaded, frame=label_target(loaded.frame, target, loaded.parser))
    frame = loaded.frame
    task = request.changes.get("task")  # "classification" / "regression" when the user said so
    profile = profile_table(frame, target=target, seed=request.seed, task=task)
    channel.send({"kind": "profile", "profile": profile.to_dict(), "summary": profile.summary()})

    base = {k: v for k, v in request.changes.items() if k in _PLAN_FIELDS and v is not None}
    plan = build_plan(profile, target=target, seed=request.seed, **_build_args(base))
    extra = {k: v for k, v in request.changes.items() if k not in (*_PLAN_FIELDS, "task") and v}
    if extra:
        plan = update_plan(plan, profile, **extra)
    channel.send({"kind": "plan", "plan": plan.model_dump(), "description": plan.describe()})
    deadline = Deadline.from_wall_start(request.started_at_s or started_s, plan.budget_s)

    def on_progress(progress: TrainProgress) -> None:
        message: dict[str, Any] = {
            "kind": "progress",
            "event": progress.kind,
            "message": progress.message,
            "elapsed_s": progress.elapsed_s,
            "budget_s": progress.budget_s,
        }
        if progress.candidate is not None:
            message["candidate"] = leaderboard_rows([progress.candidate])[0]
        channel.send(message)

    spec = resolve_metric(plan.metric, plan.task)

    def on_trial(report: TrialReport) -> None:
        channel.send(
            {
                "kind": "progress",
                "event": "trial",
                "message": trial_line(report, spec.label),
                "elapsed_s": report.elapsed_s,
                "budget_s": plan.budget_s,
            }
        )

    history = WarmStartStore(request.history_path) if request.history_path else None
    result = fit_automl(
        frame,
        plan,
        profile=profile,
        on_progress=on_progress,
        on_trial=on_trial,
        should_stop=channel.should_stop,
        storage=request.storage,
        study_key=study_key(request.study_prefix, plan.target, plan.metric),
        history=history,
        deadline=deadline.sooner(finish_reserve_s(plan.budget_s)),
    )
    if history is not None and result.tuned_configs:
        scores = {
            base_family(r.family): r.score
            for r in result.leaderboard
            if r.status == "ok" and r.family.endswith(TUNED_SUFFIX)
        }
        history.record_run(
            study_key(request.study_prefix, plan.target, plan.metric),
            task=plan.task,
            meta_features=profile.meta_features,
            best_configs=result.tuned_configs,
            scores=scores,
            metric=plan.metric,
        )
    channel.send({"kind": "progress", "event": "explaining", "message": "Explaining the model"})
    notes = [*([target_note] if target_note else []), *loaded.notes, *result.notes]
    return {
        **_explain_and_export(
            result,
            loaded,
            out_dir=request.out_dir,
            data_sha256=request.data_sha256,
            notes=notes,
            time_limit_s=min(20.0, plan.budget_s / 3),
            deadline=deadline,
        ),
        "metric_label": spec.label,
        "greater_is_better": spec.greater_is_better,
        "plan_description": plan.describe(),
        "n_columns": profile.n_columns,
        "best_family": result.best_family,
        "stopped": result.stopped,
        "elapsed_s": result.elapsed_s,
        "notes": notes,
    }


def _explain_and_export(
    result: Any,
    loaded: Any,
    *,
    out_dir: Path,
    data_sha256: str,
    notes: list[str],
    time_limit_s: float,
    deadline: Deadline | None = None,
) -> dict[str, Any]:
    """Explain a run's winner, write its run folder, and describe both as plain data."""
    plan, profile = result.plan, result.profile
    explanation = explain_result(
        result,
        loaded.frame,
        out_dir=out_dir / "figures",
        time_limit_s=time_limit_s,
        deadline=deadline,
    )
    exported = export_run(
        result,
        out_dir=out_dir,
        frame=loaded.frame,
        data_path=loaded.path,
        data_sha256=data_sha256,
        explanation=explanation,
        notes=notes,
        target_words=loaded.boolean_words.get(plan.target),
        parser=loaded.parser,
    )
    return {
        "target": plan.target,
        "task": plan.task,
        "metric": plan.metric,
        "plan": plan.model_dump(),
        "n_rows": profile.n_rows,
        "rows_dropped": profile.n_rows_dropped_missing_target,
        "warnings": [w.message for w in profile.warnings],
        "leaderboard": leaderboard_rows(result.leaderboard),
        "cv_metrics": dict(result.cv_metrics),
        "expected_metrics": dict(result.expected_metrics),
        "estimate_method": result.estimate_method,
        "importance": [
            {"column": i.column, "importance": i.mean, "rank": i.rank}
            for i in explanation.importance[:10]
        ],
        "insights": list(explanation.insights),
        "figures": [
            {"name": f.name, "title": f.title, "json": str(f.json_path), "png": str(f.png_path)}
            for f in explanation.figures
        ],
        "files": {k: str(v) for k, v in exported.files.items() if not k.startswith("figure:")},
        "model_sha256": file_sha256(exported.files["model"]),
        "meta_features": dict(profile.meta_features),
        "run_dir": str(out_dir),
    }


def _build_args(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: fields[k] for k in _PLAN_FIELDS if k in fields}


@dataclass(frozen=True, slots=True)
class TuneRequest:
    """What the tune tool asks the worker to do: continue tuning a finished run."""

    data_path: Path
    data_sha256: str
    plan: dict[str, Any]
    families: tuple[str, ...]
    previous_leaderboard: tuple[dict[str, Any], ...]
    storage: str
    study_key: str
    budget_s: float
    out_dir: Path
    max_bytes: int = 1 << 30
    history_path: Path | None = None
    """Warm-start history (tools.warmstart): read for first trials, written after tuning."""
    started_at_s: float | None = None
    """When the tool was called (``time.time()``): ``budget_s`` counts from then and covers
    loading, tuning, the refit, explaining and exporting. None: from when the job starts."""


def tune_job(channel: WorkerChannel, request: TuneRequest) -> dict[str, Any]:
    """Tune the run's best families in persistent studies; export the tuned model if it wins."""
    started_s = time.time()
    import numpy as np

    from tools.honest import CandidatePool, Choice, expected_metrics
    from tools.metrics import fold_mean_metrics
    from tools.plan import Plan
    from tools.train import TrainResult
    from tools.tune import tune
    from tools.warmstart import warm_start_configs

    loaded = load_table(request.data_path, max_bytes=request.max_bytes)
    plan = Plan(**request.plan)
    loaded = dataclasses.replace(
        loaded, frame=label_target(loaded.frame, plan.target, loaded.parser)
    )
    frame = loaded.frame
    profile = profile_table(frame, target=plan.target, seed=plan.seed, task=task_choice(plan))
    spec = resolve_metric(plan.metric, plan.task)

    def on_trial(report: TrialReport) -> None:
        channel.send(
            {
                "kind": "trial",
                "message": trial_line(report, spec.label),
                "elapsed_s": report.elapsed_s,
                "budget_s": request.budget_s,
            }
        )

    history = WarmStartStore(request.history_path) if request.history_path else None
    warm_start = {
        family: warm_start_configs(profile.meta_features, family, task=plan.task, store=history)
        for family in request.families
    }
    deadline = Deadline.from_wall_start(request.started_at_s or started_s, request.budget_s)
    search = deadline.sooner(finish_reserve_s(request.budget_s))
    outcome = tune(
        frame,
        plan,
        storage=request.storage,
        study_key=request.study_key,
        families=list(request.families),
        budget_s=max(search.left_s(), 1.0),
        deadline=search,
        profile=profile,
        warm_start=warm_start,
        on_trial=on_trial,
        should_stop=channel.should_stop,
    )
    if history is not None:
        history.record_run(
            request.study_key,
            task=plan.task,
            meta_features=profile.meta_features,
            best_configs={outcome.best_family: outcome.best_trial_params},
            scores={outcome.best_family: outcome.best_score},
            metric=plan.metric,
        )
    best_score, cut = outcome.best_score, None
    if plan.task == "binary" and plan.metric == "f1" and outcome.oof is not None:
        # ranked as training ranks F1: at the candidate's own threshold (tools.imbalance)
        is_positive = outcome.y.iloc[outcome.oof_rows].to_numpy() == outcome.classes[-1]
        best_score, _, cut = thresholded_f1(is_positive, outcome.oof[:, -1])
    previous_best = next(
        (
            r
            for r in request.previous_leaderboard
            if r.get("status") == "ok" and r.get("score") is not None
        ),
        None,
    )
    improved = previous_best is None or spec.to_score(best_score) > spec.to_score(
        float(previous_best["score"])
    )
    summary: dict[str, Any] = {
        "metric_label": spec.label,
        "best_family": outcome.best_family,
        "best_score": best_score,
        "best_params": outcome.best_params,
        "previous_best_family": previous_best["family"] if previous_best else None,
        "previous_best_score": previous_best["score"] if previous_best else None,
        "n_trials": outcome.n_trials,
        "n_trials_total": outcome.n_trials_total,
        "improved": improved,
        "stopped": outcome.stopped,
        "notes": list(outcome.notes),
        "exported": False,
    }
    oof = outcome.oof
    if not improved or outcome.model is None or oof is None:
        return summary
    y_oof = outcome.y.iloc[outcome.oof_rows]
    predictions = oof
    if outcome.classes is not None:
        predictions = outcome.classes[np.argmax(oof, axis=1)]
        if cut is not None:
            predictions = outcome.classes[(oof[:, -1] >= cut).astype(np.int64)]
    cv_metrics = fold_mean_metrics(
        y_oof,
        predictions,
        oof if outcome.classes is not None else None,
        outcome.oof_folds,
        task=plan.task,
        classes=outcome.classes,
    )
    estimate = expected_metrics(
        CandidatePool(
            singles={},
            trials={outcome.best_family: [c.oof for c in outcome.candidates]},
        ),
        y_oof.to_numpy(),
        outcome.oof_folds,
        Choice(spec, plan.task, outcome.classes, ensemble=False),
        seed=plan.seed,
    )
    tuned = CandidateResult(
        family=outcome.best_family,
        score=best_score,
        std=float("nan"),
        fit_time_s=outcome.elapsed_s,
        status="ok",
        message=f"tuned (trial {outcome.best_number + 1})",
        params=dict(outcome.best_params),
        n_folds=plan.folds,
    )
    others = [
        CandidateResult(
            **{
                k: (float("nan") if v is None and k in ("score", "std") else v)
                for k, v in row.items()
            }
        )
        for row in request.previous_leaderboard
    ]
    result = TrainResult(
        plan=plan,
        profile=profile,
        leaderboard=[tuned, *others],
        best_family=outcome.best_family,
        model=outcome.model,
        oof={outcome.best_family: oof},
        y=outcome.y,
        cv_metrics=cv_metrics,
        elapsed_s=outcome.elapsed_s,
        stopped=outcome.stopped,
        oof_rows=outcome.oof_rows,
        classes=outcome.classes,
        features=list(outcome.model.input_columns_),
        oof_folds=outcome.oof_folds,
        expected_metrics=estimate.metrics if estimate else {},
        estimate_method=estimate.method if estimate else "",
    )
    summary.update(
        _explain_and_export(
            result,
            loaded,
            out_dir=request.out_dir,
            data_sha256=request.data_sha256,
            notes=[*loaded.notes, *outcome.notes],
            time_limit_s=min(20.0, request.budget_s / 3),
            deadline=deadline,
        )
    )
    summary["exported"] = True
    return summary
