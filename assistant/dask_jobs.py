"""The train job for a file above ``MLCHAT_DASK_ABOVE_MB``, run on a Dask worker: read as a Dask
DataFrame and trained with ``xgboost.dask`` / LightGBM's Dask estimators (:mod:`tools.dask_train`).

It sends the same messages as :func:`assistant.jobs.train_job` (profile, plan, progress) and
returns the same summary, so the chat, the store and the exported files do not change; the
plan's description says which path was taken.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from assistant.jobs import TrainRequest, resolve_target
from assistant.worker import WorkerChannel
from tools.deadline import Deadline
from tools.pipeline import RunReport, explain_and_export, leaderboard_rows
from tools.plan import Plan
from tools.search.results import CandidateResult


def dask_path_reason(request: TrainRequest) -> str | None:
    """Why this request trains through Dask (a sentence for the plan), or None when it does not.

    It does when the file is bigger than ``request.dask_above_bytes``, can be read as a
    Dask DataFrame, and the job runs on a Dask worker (whose cluster then trains it).
    """
    from tools.dask_train import can_read

    limit = request.dask_above_bytes
    if limit is None or not can_read(request.data_path):
        return None
    size = request.data_path.stat().st_size
    if size <= limit:
        return None
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return None
    return (
        f"Path: Dask (the file is {size / 1e6:.3g} MB, above the {limit / 1e6:.3g} MB "
        "threshold MLCHAT_DASK_ABOVE_MB): read as a Dask DataFrame, trained with xgboost.dask "
        "and LightGBM's Dask estimators across the cluster."
    )


def dask_train_job(channel: WorkerChannel, request: TrainRequest, reason: str) -> RunReport:
    """Train through Dask on the worker's cluster; return what ``train_job`` returns."""
    from distributed import worker_client

    from assistant.dask_worker import DaskChannel
    from tools.dask_train import train_on_dask

    if isinstance(channel, DaskChannel):  # the app now watches for paused workers
        channel.spread_over_cluster()
    started_s = time.time()
    head = [str(c) for c in _header(request)]
    target, target_note = resolve_target(head, request.target)
    state: dict[str, Any] = {}

    def on_plan(plan: Plan, profile: Any) -> None:
        state["plan"] = plan
        channel.send(
            {"kind": "profile", "profile": profile.to_dict(), "summary": profile.summary()}
        )
        channel.send(
            {
                "kind": "plan",
                "plan": plan.model_dump(),
                "description": f"{plan.describe()}\n{reason}",
            }
        )

    def on_candidate(candidate: CandidateResult) -> None:
        plan = state["plan"]
        channel.send(
            {
                "kind": "progress",
                "event": "candidate_finished",
                "message": f"{candidate.family}: {candidate.message}",
                "elapsed_s": time.time() - started_s,
                "budget_s": plan.budget_s,
                "candidate": leaderboard_rows([candidate])[0],
            }
        )

    budget_s = float(request.changes.get("budget_s") or 60)
    deadline = Deadline.from_wall_start(request.started_at_s or started_s, budget_s)
    with worker_client() as client:  # secedes: the cluster's tasks may use this thread's slot
        trained = train_on_dask(
            request.data_path,
            target=target,
            client=client,
            changes=request.changes,
            task=request.changes.get("task"),
            seed=request.seed,
            max_bytes=request.max_bytes,
            deadline=deadline,
            on_plan=on_plan,
            on_candidate=on_candidate,
            should_stop=channel.should_stop,
        )
    result, plan = trained.result, trained.result.plan
    channel.send({"kind": "progress", "event": "explaining", "message": "Explaining the model"})
    notes = [*([target_note] if target_note else []), reason, *result.notes]
    report = explain_and_export(
        result,
        trained.loaded,
        out_dir=request.out_dir,
        notes=notes,
        deadline=deadline,
        data_sha256=request.data_sha256,
        time_limit_s=min(20.0, plan.budget_s / 3),
    )
    return dataclasses.replace(
        report,
        n_rows=trained.n_rows,
        plan_description=f"{plan.describe()}\n{reason}",
        engine="dask",
    )


def _header(request: TrainRequest) -> list[Any]:
    from tools.dask_train import read_dask_frame

    return list(read_dask_frame(request.data_path).columns)
