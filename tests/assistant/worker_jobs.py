"""Module-level jobs for the worker tests (a child process must be able to import them)."""

from __future__ import annotations

import os
import time

from assistant.worker import WorkerChannel
from tools.errors import DataError


def count_to(channel: WorkerChannel, n: int) -> int:
    for i in range(1, n + 1):
        channel.send({"step": i})
    return n * 10


def loop_until_stopped(channel: WorkerChannel) -> dict[str, object]:
    done = 0
    while not channel.should_stop():
        done += 1
        channel.send({"step": done})
        time.sleep(0.02)
    return {"stopped": True, "steps": done}


def ignore_stop(channel: WorkerChannel) -> None:
    channel.send({"step": 1})
    time.sleep(60)


def die(channel: WorkerChannel) -> None:
    channel.send({"step": 1})
    time.sleep(0.1)
    os._exit(3)


def bad_data(channel: WorkerChannel) -> None:
    raise DataError("The file is empty.")


def where_am_i(channel: WorkerChannel, steps: int, pause_s: float = 0.0) -> dict[str, object]:
    """Send ``steps`` messages naming the process and Dask worker; return them."""
    from distributed import get_worker

    name = str(get_worker().name)
    for i in range(1, steps + 1):
        channel.send({"step": i, "worker": name})
        time.sleep(pause_s)
    return {"pid": os.getpid(), "worker": name}


def spread_then_wait(channel: WorkerChannel, go_event: str) -> int:
    """Say the job spreads over the cluster, wait for ``go_event``, then wait on a sub-task."""
    from distributed import Event, worker_client

    from assistant.dask_worker import DaskChannel

    assert isinstance(channel, DaskChannel)
    channel.spread_over_cluster()
    channel.send({"step": "spread"})
    Event(go_event).wait(30)
    with worker_client() as client:
        return int(client.submit(pow, 2, 5, pure=False).result())
