"""Run bookkeeping shared by the model tools, and the one way a tool runs a worker job.

:func:`run_job` is the worker choreography every long tool (train, tune,
feature scoring) follows: wait for a training slot, run the job in a worker
process registered as the thread's worker (so "stop" reaches it), book the
run as stopped or failed when it ends that way, and always unregister. With
``MLCHAT_DASK_SCHEDULER`` set the job runs as a task on that Dask cluster
instead (``assistant/dask_worker.py``), where the cluster's worker resources,
not this process's slots, decide how many run at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from assistant.context import ToolContext
from assistant.dask_worker import run_on_dask
from assistant.errors import ToolError
from assistant.events import Figure
from assistant.store import RunRecord
from assistant.worker import WorkerDied, WorkerStopped, run_in_worker
from tools.errors import UserFacingError
from tools.pipeline import RunReport
from tools.search.studies import tuning_storage

_MAX_FIGURE_BYTES = 64 << 20
FILE_TITLES = {
    "model": ("Fitted pipeline (model.joblib)", "application/octet-stream"),
    "card": ("Model card (model_card.md)", "text/markdown"),
    "script": ("Reproducible training script (train.py)", "text/x-python"),
    "report": ("Run report (report.json)", "application/json"),
}


Report = TypeVar("Report")
"""What a job returns: a frozen dataclass (:class:`tools.pipeline.RunReport`, ...)."""


def _ignore(_: Any) -> None:
    return None


async def run_job(
    ctx: ToolContext,
    job: Callable[[Any, Any], Report],
    request: Any,
    *,
    on_message: Callable[[dict[str, Any]], None],
    on_stopped: Callable[[Report | None], None] = _ignore,
    on_failed: Callable[[str], None] = _ignore,
    failure_hint: Callable[[], str] = lambda: "",
    keep_partial: bool = False,
) -> Report:
    """Run ``job(channel, request)`` in a worker process and return its typed report.

    Args:
        ctx: The calling tool's context: its training slot, worker registry, progress.
        job: A module-level job function (``assistant/jobs.py``).
        request: The job's picklable request.
        on_message: Called with each progress message of the worker.
        on_stopped: The user stopped the work: called with what the worker had
            finished (when ``keep_partial`` and it answered in time) or ``None``;
            the cancellation then propagates.
        on_failed: The worker died, had to be killed, or raised: called with the error text.
        failure_hint: What to tell the model after the worker's own message when it died.
        keep_partial: Ask a stopped worker for what it has finished.

    Raises:
        ToolError: the worker died or had to be killed (the model may retry smaller).
    """
    kept: list[Report] = []

    def register(handle: Any) -> None:
        ctx.services.workers[ctx.thread_id] = handle

    cluster = ctx.settings.cluster
    try:
        if cluster.scheduler:
            outcome: Report = await run_on_dask(
                job,
                request,
                scheduler=cluster.scheduler,
                job_cores=cluster.job_cores,
                wait_for_worker_s=cluster.wait_for_worker_s,
                paused_limit_s=cluster.paused_limit_s,
                on_message=on_message,
                handle_ready=register,
                on_cancelled_result=kept.append if keep_partial else None,
                report=ctx.progress,
            )
        else:
            async with ctx.services.training_slot(ctx.progress):
                outcome = await run_in_worker(
                    job,
                    request,
                    on_message=on_message,
                    handle_ready=register,
                    on_cancelled_result=kept.append if keep_partial else None,
                )
    except asyncio.CancelledError:
        on_stopped(kept[0] if kept else None)
        raise
    except (WorkerDied, WorkerStopped) as exc:
        on_failed(str(exc)[:500])
        raise ToolError(f"{exc} {failure_hint()}".strip()) from None
    except Exception as exc:
        on_failed(str(exc)[:500])
        raise
    finally:
        ctx.services.workers.pop(ctx.thread_id, None)
    return outcome


def latest_run(ctx: ToolContext, *, with_model: bool = False) -> RunRecord:
    """The thread's latest run (with a model when ``with_model``); a ToolError when none."""
    run = ctx.services.runs.latest(ctx.thread_id, with_model=with_model)
    if run is None:
        raise ToolError(
            "No model has been trained in this conversation yet. Attach a file and say which "
            "column to predict, e.g. “train a model to predict churn”."
        )
    return run


def finish_run(ctx: ToolContext, run_id: str, outcome: RunReport, *, status: str) -> None:
    """Book a worker's report as the run's plan, leaderboard, metrics and files."""
    artifacts = {
        "run_dir": outcome.run_dir,
        "files": dict(outcome.files),
        "model": outcome.files.get("model"),
        "model_sha256": outcome.model_sha256,
    }
    ctx.services.runs.finish(
        run_id,
        status=status,
        plan=outcome.plan,
        leaderboard=list(outcome.leaderboard),
        metrics=outcome.metrics_record(),
        artifacts=artifacts,
        meta_features=outcome.meta_features,
    )


def tuning_store(ctx: ToolContext) -> str | Path:
    """Where the Optuna studies live (a journal file's folder is created)."""
    storage = tuning_storage(ctx.settings.tuning_storage, ctx.settings.data_dir)
    if isinstance(storage, Path):
        storage.parent.mkdir(parents=True, exist_ok=True)
    return storage


def study_prefix(ctx: ToolContext, sha256: str) -> str:
    """Studies are per thread and file, so train and tune_model share them."""
    return f"{ctx.thread_id}-{sha256[:12]}"


def history_path(ctx: ToolContext) -> Path | str:
    """The warm-start history of past runs: in the store's PostgreSQL database when there is
    one (tuning workers on other machines share it), else a SQLite file in the data folder."""
    location = ctx.settings.store_location
    if isinstance(location, str):
        return location
    return ctx.settings.data_dir / "optuna" / "warmstart.db"


def run_figures(ctx: ToolContext, figures: list[dict[str, Any]]) -> tuple[Figure, ...]:
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
