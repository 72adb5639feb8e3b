"""Fits use the threads they are given: one on small data, the process's share otherwise."""

from __future__ import annotations

import asyncio
import os

import pytest
from threadpoolctl import threadpool_info

from assistant import worker
from assistant.worker import run_in_worker, set_worker_threads
from tools import threads
from tools.threads import THREADS_ENV, allowed_threads, capped, threads_for


def test_the_share_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "machine_busy", lambda: False)
    monkeypatch.setenv(THREADS_ENV, "1")
    assert allowed_threads() == 1
    assert threads_for(1_000_000) == 1
    monkeypatch.setenv(THREADS_ENV, "not a number")
    assert allowed_threads() == (os.cpu_count() or 1)
    monkeypatch.delenv(THREADS_ENV)
    assert threads_for(455) == 1
    assert threads_for(1_000_000) == (os.cpu_count() or 1)


def test_a_busy_machine_gives_every_fit_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.9, 1.0, 1.0))
    assert not threads.machine_busy()
    assert threads_for(1_000_000) == 2
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (6.0, 1.0, 1.0))
    assert threads.machine_busy()
    assert threads_for(1_000_000) == 1


def test_native_pools_are_capped_during_a_fit() -> None:
    pools = [p for p in threadpool_info() if p.get("num_threads")]
    assert pools  # numpy's BLAS at least
    with capped(1):
        assert all(p["num_threads"] == 1 for p in threadpool_info())


def _threads_in_child(channel: object) -> str | None:
    return os.environ.get(THREADS_ENV)


def test_training_workers_get_their_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_threads", None)  # restored after the test
    set_worker_threads(1)
    assert asyncio.run(run_in_worker(_threads_in_child)) == "1"
