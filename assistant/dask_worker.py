"""Run a worker job as a task on a Dask distributed cluster (``MLCHAT_DASK_SCHEDULER``).

:func:`run_on_dask` keeps the contract of :func:`assistant.worker.run_in_worker`:
the job gets a channel to send progress and to ask whether it should stop, the
caller gets each message as it arrives, a stop request lets the job return what
it finished, and the same errors come back (``UserFacingError``, ``WorkerDied``,
``WorkerStopped``). Each job reserves ``job_cores`` of the worker resource
``cores``, so a worker started with ``--resources cores=N`` runs at most N
cores' worth of jobs at once.

The channel lives in the scheduler: progress goes through a ``distributed.Queue``
named for the job and the stop request is a ``distributed.Event``. Workers only
need to reach the scheduler, never the app (which is usually behind it), and
several app instances can share one cluster.

A worker that dies mid-job: Dask's scheduler hands the task to another worker.
The app watches where the task runs; when that worker leaves the cluster it
tells the user the job starts again, and when the second worker dies too it
cancels the task and fails with a clear message, so a job is retried once. A
task that no worker takes within ``wait_for_worker_s`` (no worker with enough
free cores, none left, or all paused) fails the same way: nothing waits forever.

A paused worker (Dask pauses a worker above 80% of its memory limit) starts no
task. A job that runs in its own thread does not notice; a job that spreads
its work over the cluster (the big-data path says so with
:meth:`DaskChannel.spread_over_cluster`) waits for tasks that never start. The
app watches the workers' status while such a job runs, and a worker paused for
longer than ``paused_limit_s`` ends the job with a message. The app does not
change the workers' pause threshold: it is each worker's protection against
running out of memory, set by whoever runs the cluster, and shared by every
job on it. A scheduler that stops answering ends the job with a message too.

A stop cannot kill a thread on a Dask worker: a job that ignores the stop past
the grace period is cancelled (its cores are freed and the caller gets
``WorkerStopped``), and the thread ends at its next stop check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assistant.worker import WorkerChannel, WorkerDied, WorkerHandle, WorkerStopped
from tools.errors import UserFacingError
from tools.threads import THREADS_ENV

log = logging.getLogger(__name__)

_POLL_S = 0.05
_MAX_POLL_S = 0.5
"""A job with nothing to say is polled less and less often, down to this: 40 queued jobs
polling every 50 ms were 800 scheduler round trips a second on the app's event loop."""
_WATCH_S = 1.0
"""How often the app asks the scheduler where the task runs and which workers are alive."""
_STOP_CHECK_S = 0.2
"""A job asks the scheduler about a stop at most this often (each ask is a round trip)."""


_ANSWER_S = 10.0
"""The longest the app waits for one answer from the scheduler."""


def _why_none_free(workers: dict[str, Any]) -> str:
    if not workers:
        return "none left in the cluster"
    paused = sum(info.get("status") == "paused" for info in workers.values())
    if paused == len(workers):
        return (
            "every worker is paused: their memory use passed Dask's pause threshold, 80% of "
            "the worker memory limit"
        )
    return "all busy" + (f", {paused} paused for lack of memory" if paused else "")


class _ThrottledStop:
    """A ``distributed.Event`` whose ``is_set`` asks the scheduler at most every 0.2 s."""

    def __init__(self, event: Any) -> None:
        self._event = event
        self._checked_at = 0.0
        self._is_set = False

    def is_set(self) -> bool:
        if not self._is_set and time.monotonic() - self._checked_at >= _STOP_CHECK_S:
            self._checked_at = time.monotonic()
            self._is_set = bool(self._event.is_set())
        return self._is_set


class DaskChannel(WorkerChannel):
    """The channel of a job on a Dask worker: also says when the job spreads over the cluster."""

    def spread_over_cluster(self) -> None:
        """Tell the app this job now waits on tasks across the cluster (a paused worker can
        stall it), so the app watches the workers' status until the job ends."""
        self._queue.put(("spread", None))


def _task_main(
    fn: Callable[..., Any], job_id: str, args: tuple[Any, ...], threads: int
) -> tuple[str, Any]:
    """The task a Dask worker runs: announce the start, run ``fn(channel, *args)``, wrap the end."""
    from distributed import Event, Queue, get_worker

    messages = Queue(_queue_name(job_id))
    channel = DaskChannel(messages, _ThrottledStop(Event(_stop_name(job_id))))  # type: ignore[arg-type]
    messages.put(("started", get_worker().address))
    os.environ[THREADS_ENV] = str(threads)  # the job's fits use the cores it reserved
    try:
        return ("result", fn(channel, *args))
    except UserFacingError as exc:
        return ("user_error", str(exc))
    except BaseException as exc:  # reported to the app, which logs it once
        return ("crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")


def _queue_name(job_id: str) -> str:
    return f"mlchat-messages-{job_id}"


def _stop_name(job_id: str) -> str:
    return f"mlchat-stop-{job_id}"


async def run_on_dask(
    fn: Callable[..., Any],
    *args: Any,
    scheduler: str,
    job_cores: int = 1,
    wait_for_worker_s: float = 120.0,
    paused_limit_s: float = 60.0,
    scheduler_gone_s: float = 20.0,
    on_message: Callable[[Any], None] | None = None,
    handle_ready: Callable[[WorkerHandle], None] | None = None,
    on_cancelled_result: Callable[[Any], None] | None = None,
    report: Callable[[str], None] | None = None,
    grace_s: float = 1.5,
    connect_timeout_s: float = 10.0,
) -> Any:
    """Run ``fn(channel, *args)`` as a task on the Dask cluster at ``scheduler``; return its result.

    ``fn`` and ``args`` must be importable/picklable on the workers (a module-level
    function of this project, paths the workers can read). ``report`` receives
    notices for the user: waiting for a worker, a lost worker and the retry.
    ``paused_limit_s``: how long a job spread over the cluster may wait on a paused worker;
    ``scheduler_gone_s``: how long the scheduler may not answer before the job is abandoned.

    Raises:
        UserFacingError: the job raised one, or the scheduler cannot be reached.
        WorkerDied: the job crashed, its worker died twice, no worker took it in time, a
            worker it waits on stayed paused, or the scheduler stopped answering.
        WorkerStopped: a stop was requested and the job did not return within ``grace_s``.
    """
    from distributed import Client

    handle = WorkerHandle(threading.Event())  # type: ignore[arg-type]
    if handle_ready is not None:
        handle_ready(handle)
    try:
        client = await Client(
            scheduler,
            asynchronous=True,
            timeout=connect_timeout_s,
            set_as_default=False,
        )
    except (OSError, TimeoutError) as exc:
        raise UserFacingError(
            f"The Dask scheduler at {scheduler} cannot be reached, so the training did not "
            "start. Check that it is running (MLCHAT_DASK_SCHEDULER), or unset the setting "
            "to train on this machine."
        ) from exc
    job = _DaskJob(client, scheduler, job_cores, handle, report or (lambda _: None))
    try:
        await job.submit(fn, args)
        return await job.run(
            on_message=on_message,
            on_cancelled_result=on_cancelled_result,
            wait_for_worker_s=wait_for_worker_s,
            paused_limit_s=paused_limit_s,
            scheduler_gone_s=scheduler_gone_s,
            grace_s=grace_s,
        )
    finally:
        job.close()
        with contextlib.suppress(Exception):
            await client.close()


@dataclass
class _Watch:
    """The app's running watch over one job: timers and limits."""

    waiting_since: float | None
    wait_for_worker_s: float
    paused_limit_s: float
    grace_s: float
    watched_at: float = 0.0
    poll_s: float = _POLL_S
    stop_sent: bool = False
    unanswered_since: float | None = None


class _DaskJob:
    """One submitted task and the app's watch over it."""

    def __init__(
        self,
        client: Any,
        scheduler: str,
        job_cores: int,
        handle: WorkerHandle,
        report: Callable[[str], None],
    ) -> None:
        self.client = client
        self.scheduler = scheduler
        self.job_id = uuid.uuid4().hex
        self.key = f"mlchat-job-{self.job_id}"
        self.handle = handle
        self.report = report
        self.job_cores = job_cores
        self.messages: Any = None
        self.stop: Any = None
        self.future: Any = None
        self.seen: list[Any] = []
        self.starts: list[str] = []
        """The worker of each start of the task, in order (a restart means a lost worker)."""
        self.lost: set[str] = set()
        self.answer_s = _ANSWER_S
        """The longest the app waits for one answer from the scheduler."""
        self.spread = False
        """The job waits on tasks across the cluster (:meth:`DaskChannel.spread_over_cluster`)."""
        self.paused_since: dict[str, float] = {}
        """Each paused worker and when the app first saw it paused."""

    async def submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Create the job's queue and stop event in the scheduler, then submit the task."""
        from distributed import Event, Queue

        self.messages = await Queue(_queue_name(self.job_id), client=self.client)
        self.stop = await Event(_stop_name(self.job_id), client=self.client)
        self.future = self.client.submit(
            _task_main,
            fn,
            self.job_id,
            args,
            self.job_cores,
            key=self.key,
            resources={"cores": self.job_cores},
            pure=False,
        )

    def close(self) -> None:
        """Drop the job's queue from the scheduler."""
        if self.messages is not None:
            with contextlib.suppress(Exception):
                self.messages.close()

    async def run(
        self,
        *,
        on_message: Callable[[Any], None] | None,
        on_cancelled_result: Callable[[Any], None] | None,
        wait_for_worker_s: float,
        paused_limit_s: float,
        scheduler_gone_s: float,
        grace_s: float,
    ) -> Any:
        watch = _Watch(time.monotonic(), wait_for_worker_s, paused_limit_s, grace_s)
        self.answer_s = min(_ANSWER_S, scheduler_gone_s)
        try:
            while True:
                try:
                    finished, outcome = await self._step(watch, on_message)
                    watch.unanswered_since = None
                except Exception as exc:
                    if self.client.status in {"closing", "closed"}:  # gave up reconnecting
                        raise self._scheduler_gone(scheduler_gone_s) from None
                    if not isinstance(exc, (TimeoutError, OSError)):
                        raise
                    # OSError covers distributed's CommClosedError: the scheduler went away
                    watch.unanswered_since = watch.unanswered_since or time.monotonic()
                    if time.monotonic() - watch.unanswered_since > scheduler_gone_s:
                        raise self._scheduler_gone(scheduler_gone_s) from None
                    await asyncio.sleep(_MAX_POLL_S)
                    continue
                if finished:
                    return outcome
                await asyncio.sleep(watch.poll_s)
        except asyncio.CancelledError:
            self.handle.request_stop()
            late = await asyncio.shield(self._late_result(grace_s))
            if late is not None and on_cancelled_result is not None:
                on_cancelled_result(late)
            raise
        finally:
            if not self.future.done():
                await self._cancel()

    async def _step(
        self, watch: _Watch, on_message: Callable[[Any], None] | None
    ) -> tuple[bool, Any]:
        """One look at the job: relay its messages, pass on a stop, watch the cluster.

        Returns whether the job finished and, if so, its result.
        """
        relayed = await asyncio.wait_for(self._relay(on_message), self.answer_s)
        watch.poll_s = _POLL_S if relayed else min(_MAX_POLL_S, watch.poll_s * 1.5)
        if self.future.done():
            await self._relay(on_message)
            return True, await self._outcome()
        if self.handle.stop_requested_at is not None:
            watch.poll_s = _POLL_S
            if not watch.stop_sent:
                await self.stop.set()
                watch.stop_sent = True
            if time.monotonic() - self.handle.stop_requested_at > watch.grace_s:
                await self._cancel()
                raise WorkerStopped(self.seen)
        if time.monotonic() - watch.watched_at >= _WATCH_S:
            watch.watched_at = time.monotonic()
            running, workers = await self._watch()
            if running:
                watch.waiting_since = None
                if self.spread:
                    await self._check_paused(workers, watch.paused_limit_s)
            elif watch.waiting_since is None:
                watch.waiting_since = time.monotonic()
            elif time.monotonic() - watch.waiting_since > watch.wait_for_worker_s:
                await self._cancel()
                raise WorkerDied(
                    f"No Dask worker with {self.job_cores} free core(s) took the job "
                    f"within {watch.wait_for_worker_s:.0f} s ({_why_none_free(workers)}), "
                    "so it was cancelled.",
                    exitcode=None,
                    messages=self.seen,
                )
        return False, None

    async def _relay(self, on_message: Callable[[Any], None] | None) -> int:
        """Hand every message that arrived to ``on_message``; note each start of the task.

        Returns how many arrived.
        """
        arrived = await self.messages.get(batch=True)
        for kind, payload in arrived:
            if kind == "spread":
                self.spread = True
                continue
            if kind == "started":
                log.info("dask_job_started job=%s worker=%s", self.job_id, payload)
                if self.starts:  # started again: the scheduler gave up on the last worker
                    await self._lost(self.starts[-1])
                self.starts.append(payload)
                continue
            self.seen.append(payload)
            if on_message is not None:
                on_message(payload)
        return len(arrived)

    async def _watch(self) -> tuple[bool, dict[str, Any]]:
        """Whether the task runs on a worker now, and the cluster's workers (address: info);
        notice when the task's worker left the cluster."""
        processing = await asyncio.wait_for(self.client.scheduler.processing(), self.answer_s)
        identity = await asyncio.wait_for(self.client.scheduler.identity(), self.answer_s)
        workers: dict[str, Any] = identity.get("workers", {})
        if any(self.key in keys for keys in processing.values()):
            return True, workers
        last = self.starts[-1] if self.starts else None
        if last and last not in self.lost and not self.future.done() and last not in workers:
            await self._lost(last)
        return False, workers

    async def _check_paused(self, workers: dict[str, Any], limit_s: float) -> None:
        """End the job when a worker has stayed paused for ``limit_s``: the cluster-wide
        tasks the job waits on do not start on a paused worker."""
        now = time.monotonic()
        paused = {a for a, info in workers.items() if info.get("status") == "paused"}
        self.paused_since = {a: self.paused_since.get(a, now) for a in paused}
        stuck = sorted(a for a, since in self.paused_since.items() if now - since > limit_s)
        if not stuck:
            return
        log.warning("dask_job_paused job=%s workers=%s", self.job_id, stuck)
        with contextlib.suppress(Exception):
            await self.stop.set()
        await self._cancel()
        limits = {
            f"{workers[a].get('memory_limit', 0) / 2**30:.3g} GiB"
            for a in stuck
            if workers[a].get("memory_limit")
        }
        limit = f" (limit {', '.join(sorted(limits))})" if limits else ""
        raise WorkerDied(
            f"The training was cancelled after {limit_s:.0f} s without progress: "
            f"{len(stuck)} of the {len(workers)} Dask worker(s) it runs on paused because "
            f"their memory use passed Dask's pause threshold (80% of the worker memory "
            f"limit{limit}), and a paused worker starts no task. Give the workers a higher "
            "memory limit or add workers, or train on a smaller extract of the file.",
            exitcode=None,
            messages=self.seen,
        )

    def _scheduler_gone(self, waited_s: float) -> UserFacingError:
        log.warning("dask_scheduler_gone job=%s", self.job_id)
        return UserFacingError(
            f"The Dask scheduler at {self.scheduler} stopped answering for "
            f"{waited_s:.0f} s, so the training was abandoned. Check that the "
            "scheduler is running (MLCHAT_DASK_SCHEDULER) and train again, or unset the setting "
            "to train on this machine."
        )

    async def _lost(self, worker: str) -> None:
        """The worker running the job died: tell the user it starts again, or give up."""
        if worker in self.lost:
            return
        self.lost.add(worker)
        log.warning("dask_worker_lost job=%s worker=%s", self.job_id, worker)
        if len(self.lost) >= 2:
            await self._cancel()
            raise WorkerDied(
                "The Dask worker running this job died, and so did the one that retried it, "
                "so the job was cancelled. Check the workers' memory limit, or try a smaller "
                "budget or fewer models.",
                exitcode=None,
                messages=self.seen,
            )
        self.report(
            f"The Dask worker running this job ({worker}) was lost; the job starts again on "
            "another worker."
        )

    async def _outcome(self) -> Any:
        from distributed.scheduler import KilledWorker

        try:
            kind, payload = await self.future
        except KilledWorker as exc:
            raise WorkerDied(
                "The Dask workers running this job kept dying, so the scheduler gave it up. "
                "Check the workers' memory limit, or try a smaller budget or fewer models.",
                exitcode=None,
                messages=self.seen,
            ) from exc
        if kind == "result":
            return payload
        if kind == "user_error":
            raise UserFacingError(payload)
        log.error("dask_job_crashed job=%s detail=%s", self.job_id, payload)
        raise WorkerDied("The training job failed unexpectedly.", exitcode=None, messages=[])

    async def _late_result(self, grace_s: float) -> Any:
        """The job's result if it returns within ``grace_s`` of a stop; ``None`` otherwise."""
        with contextlib.suppress(Exception):
            await self.stop.set()
        with contextlib.suppress(Exception):
            kind, payload = await asyncio.wait_for(asyncio.shield(self.future), grace_s)
            if kind == "result":
                return payload
        await self._cancel()
        return None

    async def _cancel(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.cancel([self.future], force=True), self.answer_s)
