from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from assistant.worker import WorkerDied, WorkerHandle, WorkerStopped, run_in_worker
from tests.assistant import worker_jobs
from tools.errors import UserFacingError


async def test_progress_arrives_in_order_and_the_result_comes_back() -> None:
    seen: list[Any] = []
    result = await run_in_worker(worker_jobs.count_to, 5, on_message=seen.append)
    assert result == 50
    assert seen == [{"step": i} for i in range(1, 6)]


async def test_a_stop_request_lets_the_work_return_what_it_has() -> None:
    handles: list[WorkerHandle] = []
    seen: list[Any] = []

    def on_message(message: Any) -> None:
        seen.append(message)
        if len(seen) == 3:
            handles[0].request_stop()

    started = time.monotonic()
    result = await run_in_worker(
        worker_jobs.loop_until_stopped, on_message=on_message, handle_ready=handles.append
    )
    assert result["stopped"] is True and result["steps"] >= 3
    assert time.monotonic() - started < 10


async def test_work_that_ignores_the_stop_is_terminated_after_the_grace_period() -> None:
    handles: list[WorkerHandle] = []
    task = asyncio.create_task(
        run_in_worker(
            worker_jobs.ignore_stop,
            on_message=lambda m: handles[0].request_stop(),
            handle_ready=handles.append,
            grace_s=0.5,
        )
    )
    with pytest.raises(WorkerStopped) as info:
        await task
    assert info.value.messages == [{"step": 1}]
    assert handles[0].stop_requested_at is not None
    assert time.monotonic() - handles[0].stop_requested_at < 2.0


async def test_a_dead_child_is_reported_with_what_it_sent() -> None:
    with pytest.raises(WorkerDied) as info:
        await run_in_worker(worker_jobs.die)
    assert info.value.exitcode == 3
    assert info.value.messages == [{"step": 1}]


async def test_a_user_facing_error_keeps_its_message() -> None:
    with pytest.raises(UserFacingError, match=r"The file is empty\."):
        await run_in_worker(worker_jobs.bad_data)


async def test_cancelling_the_caller_stops_the_child_within_two_seconds() -> None:
    task = asyncio.create_task(run_in_worker(worker_jobs.ignore_stop, grace_s=0.5))
    await asyncio.sleep(1.0)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2.0


async def test_cancelling_the_caller_keeps_the_result_of_a_child_that_stops_in_time() -> None:
    kept: list[Any] = []
    seen: list[Any] = []
    task = asyncio.create_task(
        run_in_worker(
            worker_jobs.loop_until_stopped, on_message=seen.append, on_cancelled_result=kept.append
        )
    )
    while len(seen) < 2:
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(kept) == 1 and kept[0]["stopped"] is True and kept[0]["steps"] >= 2
