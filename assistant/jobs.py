"""Heavy jobs that run in a worker process: train a plan, explain a feature.

Each job takes a :class:`~assistant.worker.WorkerChannel` and a small
picklable request, reads the data itself (nothing large crosses the process
boundary), sends progress messages, and returns a typed report (frozen dataclasses:
:class:`tools.pipeline.RunReport`, :class:`TuneReport`).
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
from tools.analyze.profile import profile_table
from tools.deadline import Deadline
from tools.errors import TargetError
from tools.imbalance import thresholded_f1
from tools.io.load import load_table, resolve_column
from tools.io.raw_rows import label_target
from tools.metrics import resolve_metric
from tools.pipeline import (
    Loaded,
    Planned,
    RunOptions,
    RunReport,
    Searched,
    explain_and_export,
    leaderboard_rows,
    run_training,
)
from tools.plan import task_choice
from tools.search.automl import candidate_label, finish_reserve_s
from tools.search.results import CandidateResult, TrainProgress
from tools.search.tune import TrialReport
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
    history_path: Path | str | None = None
    """Warm-start history (tools.warmstart, a SQLite file or a PostgreSQL URL): read for first
    trials, written after the run."""
    started_at_s: float | None = None
    """When the tool was called (``time.time()``): the budget counts from then and covers
    loading, training, explaining and exporting. None: from when the worker starts the job."""
    dask_above_bytes: int | None = None
    """On a Dask worker, a CSV/TSV/Parquet file bigger than this trains through Dask
    DataFrames (:mod:`assistant.dask_jobs`); None: never."""


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


def train_job(channel: WorkerChannel, request: TrainRequest) -> RunReport:
    """Load, profile, plan, train, explain and export (:func:`tools.pipeline.run_training`);
    progress goes to ``channel``, the typed report comes back."""
    from assistant.dask_jobs import dask_path_reason, dask_train_job

    if (reason := dask_path_reason(request)) is not None:
        return dask_train_job(channel, request, reason)
    started_s = time.time()
    base = {k: v for k, v in request.changes.items() if k in _PLAN_FIELDS and v is not None}
    extra = {k: v for k, v in request.changes.items() if k not in (*_PLAN_FIELDS, "task") and v}
    labels: dict[str, Any] = {}

    def on_loaded(loaded: Loaded) -> None:
        profile = loaded.profile
        channel.send(
            {"kind": "profile", "profile": profile.to_dict(), "summary": profile.summary()}
        )

    def on_planned(planned: Planned) -> None:
        labels["metric"] = planned.metric_label
        labels["budget_s"] = planned.plan.budget_s
        plan = planned.plan
        channel.send({"kind": "plan", "plan": plan.model_dump(), "description": plan.describe()})

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

    def on_trial(report: TrialReport) -> None:
        channel.send(
            {
                "kind": "progress",
                "event": "trial",
                "message": trial_line(report, labels["metric"]),
                "elapsed_s": report.elapsed_s,
                "budget_s": labels["budget_s"],
            }
        )

    def on_searched(searched: Searched) -> None:
        channel.send({"kind": "progress", "event": "explaining", "message": "Explaining the model"})

    return run_training(
        request.data_path,
        request.target,
        out_dir=request.out_dir,
        options=RunOptions(
            plan_fields=_build_args(base),
            plan_changes=extra,
            task=request.changes.get("task"),
            max_bytes=request.max_bytes,
            seed=request.seed,
            storage=request.storage,
            study_prefix=request.study_prefix,
            history_path=request.history_path,
            data_sha256=request.data_sha256,
        ),
        started_at_s=request.started_at_s or started_s,
        resolve_target=resolve_target,
        on_loaded=on_loaded,
        on_planned=on_planned,
        on_progress=on_progress,
        on_trial=on_trial,
        on_searched=on_searched,
        should_stop=channel.should_stop,
    )


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
    history_path: Path | str | None = None
    """Warm-start history (tools.warmstart): read for first trials, written after tuning."""
    started_at_s: float | None = None
    """When the tool was called (``time.time()``): ``budget_s`` counts from then and covers
    loading, tuning, the refit, explaining and exporting. None: from when the job starts."""


@dataclass(frozen=True, slots=True)
class TuneReport:
    """What continued tuning produced; ``run`` is set when the tuned model won and was
    explained and exported as the run's new model."""

    metric_label: str
    best_family: str
    best_score: float
    best_params: dict[str, Any]
    previous_best_family: str | None
    previous_best_score: float | None
    n_trials: int
    n_trials_total: int
    improved: bool
    stopped: bool
    notes: tuple[str, ...]
    run: RunReport | None = None


def tune_job(channel: WorkerChannel, request: TuneRequest) -> TuneReport:
    """Tune the run's best families in persistent studies; export the tuned model if it wins."""
    started_s = time.time()
    import numpy as np

    from tools.metrics import fold_mean_metrics
    from tools.plan import Plan
    from tools.search.honest import CandidatePool, Choice, expected_metrics
    from tools.search.results import TrainResult
    from tools.search.tune import tune
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
        # tuning scores F1 at each trial's own cut, as training ranks it (tools.imbalance)
        is_positive = outcome.y.iloc[outcome.oof_rows].to_numpy() == outcome.classes[-1]
        best_score, _, cut = thresholded_f1(is_positive, outcome.oof[:, -1], outcome.oof_folds)
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
    summary = TuneReport(
        metric_label=spec.label,
        best_family=outcome.best_family,
        best_score=best_score,
        best_params=dict(outcome.best_params),
        previous_best_family=previous_best["family"] if previous_best else None,
        previous_best_score=previous_best["score"] if previous_best else None,
        n_trials=outcome.n_trials,
        n_trials_total=outcome.n_trials_total,
        improved=improved,
        stopped=outcome.stopped,
        notes=tuple(outcome.notes),
    )
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
    run = explain_and_export(
        result,
        loaded,
        out_dir=request.out_dir,
        notes=[*loaded.notes, *outcome.notes],
        deadline=deadline,
        data_sha256=request.data_sha256,
        time_limit_s=min(20.0, request.budget_s / 3),
    )
    return dataclasses.replace(summary, run=run)
