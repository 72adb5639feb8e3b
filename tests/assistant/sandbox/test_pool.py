"""SandboxPool: one executor per conversation, lazy start, idle shutdown, LRU cap, kind from settings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from assistant.sandbox import (
    E2BExecutor,
    Execution,
    Executor,
    LocalExecutor,
    OutputCallback,
    SandboxPool,
    SandboxStartError,
)
from assistant.settings import Settings
from tests.assistant.sandbox.fake_e2b import FakeE2B


@dataclass
class CountingExecutor:
    """A minimal Executor that records its calls (the pool's logic needs no real kernel)."""

    thread_id: str
    dataset_path: Path | None
    calls: list[str] = field(default_factory=list)
    closed: bool = False

    async def run(
        self, code: str, *, timeout_s: float | None = None, on_output: OutputCallback | None = None
    ) -> Execution:
        self.calls.append(code)
        return Execution(stdout=f"{self.thread_id}:{code}")

    async def upload(self, path: Path) -> str:
        return path.name

    async def download(self, name: str) -> Path:
        return Path(name)

    async def interrupt(self) -> None:
        self.calls.append("<interrupt>")

    async def restart(self) -> None:
        self.calls.append("<restart>")

    async def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_pool(
    tmp_path: Path, **settings: object
) -> tuple[SandboxPool, dict[str, CountingExecutor], Clock]:
    made: dict[str, CountingExecutor] = {}

    def factory(thread_id: str, dataset_path: Path | None) -> Executor:
        made[thread_id] = CountingExecutor(thread_id, dataset_path)
        return made[thread_id]

    clock = Clock()
    pool = SandboxPool(
        Settings(data_dir=tmp_path).with_changes(**settings), factory=factory, clock=clock
    )
    return pool, made, clock


async def test_one_executor_per_conversation(tmp_path: Path) -> None:
    pool, made, _ = make_pool(tmp_path)
    first = await pool.get("t1", tmp_path / "a.csv")
    again = await pool.get("t1")
    other = await pool.get("t2")
    assert first is again and first is not other
    assert isinstance(first, Executor)
    assert (await first.run("1+1")).stdout == "t1:1+1"
    assert made["t1"].dataset_path == tmp_path / "a.csv"
    await pool.close_all()


async def test_idle_executors_are_closed_after_the_idle_time(tmp_path: Path) -> None:
    pool, made, clock = make_pool(tmp_path, sandbox_idle_s=600.0)
    old, fresh = await pool.get("old"), await pool.get("fresh")
    clock.now += 500
    await fresh.run("x = 1")
    clock.now += 200  # old: idle 700 s, fresh: idle 200 s
    assert await pool.close_idle() == ["old"]
    assert made["old"].closed and not made["fresh"].closed
    assert "old" not in pool and "fresh" in pool
    assert await pool.get("old") is not old  # the conversation goes on with a new executor
    await pool.close_all()
    assert made["fresh"].closed


async def test_the_least_recently_used_executor_is_closed_at_the_cap(tmp_path: Path) -> None:
    pool, made, clock = make_pool(tmp_path, sandbox_max_kernels=2)
    a = await pool.get("a")
    await pool.get("b")
    clock.now += 1
    await a.run("touch a")  # b is now the least recently used
    await pool.get("c")
    assert len(pool) == 2
    assert made["b"].closed and not made["a"].closed and not made["c"].closed
    await pool.close_all()


async def test_closing_through_the_handle_forgets_the_conversation(tmp_path: Path) -> None:
    pool, made, _ = make_pool(tmp_path)
    handle = await pool.get("t1")
    await handle.close()
    assert made["t1"].closed and "t1" not in pool
    await pool.close_all()


async def test_the_default_pool_runs_a_confined_local_kernel_in_the_workspace(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, sandbox_timeout_s=30.0)
    pool = SandboxPool(settings)
    handle = await pool.get("thread-1")
    assert isinstance(handle.inner, LocalExecutor)
    execution = await handle.run("import os; os.getcwd()")
    assert execution.results[0].text == repr(
        str(settings.workspace_for("thread-1").resolve() / "scratch")
    )
    report = pool.confinement()
    assert report is not None and report.limits.memory_mb == settings.sandbox_memory_mb
    await pool.close_all()
    assert not handle.inner.is_running and len(pool) == 0


async def test_e2b_is_chosen_by_the_settings(tmp_path: Path, fake_e2b: FakeE2B) -> None:
    settings = Settings(data_dir=tmp_path, sandbox="e2b", e2b_api_key="e2b_00ff")
    pool = SandboxPool(settings, e2b_api_url=fake_e2b.url, e2b_sandbox_url=fake_e2b.url)
    handle = await pool.get("thread-e2b")
    assert isinstance(handle.inner, E2BExecutor)
    assert (await handle.run("6 * 7")).results[0].text == "42"
    sandbox_id = handle.inner.sandbox_id
    body = fake_e2b.sandboxes[sandbox_id].create_body
    assert body["allow_internet_access"] is False and body["envVars"] == {}
    await pool.close_all()
    assert sandbox_id in fake_e2b.killed
    assert pool.confinement() is None


async def test_e2b_without_a_key_says_how_to_fix_it(tmp_path: Path) -> None:
    pool = SandboxPool(Settings(data_dir=tmp_path, sandbox="e2b"))
    with pytest.raises(SandboxStartError, match="no E2B_API_KEY is set"):
        await pool.get("t1")
    await pool.close_all()


async def test_the_background_sweep_closes_idle_executors(tmp_path: Path) -> None:
    made: list[CountingExecutor] = []

    def factory(thread_id: str, dataset_path: Path | None) -> Executor:
        made.append(CountingExecutor(thread_id, dataset_path))
        return made[-1]

    pool = SandboxPool(Settings(data_dir=tmp_path, sandbox_idle_s=0.1), factory=factory)
    await pool.get("t1")
    for _ in range(200):  # the sweep runs every idle_s / 4 on the real clock
        if "t1" not in pool:
            break
        await asyncio.sleep(0.02)
    assert made[0].closed and "t1" not in pool
    await pool.close_all()


async def test_stop_interrupts_only_a_conversation_that_is_running_code(tmp_path: Path) -> None:
    pool, made, _ = make_pool(tmp_path)
    assert await pool.interrupt("nobody") is False
    executor = await pool.get("t1")
    await executor.run("x = 1")
    assert await pool.interrupt("t1") is False  # idle: nothing to interrupt
    executor.busy += 1  # as while a run is in flight
    assert await pool.interrupt("t1") is True
    assert made["t1"].calls == ["x = 1", "<interrupt>"]
    await pool.close_all()


async def test_a_conversation_can_switch_to_e2b_and_back_closing_its_old_sandbox(
    tmp_path: Path, fake_e2b: FakeE2B
) -> None:
    settings = Settings(data_dir=tmp_path, sandbox="local", e2b_api_key="e2b_00ff")
    pool = SandboxPool(settings, e2b_api_url=fake_e2b.url, e2b_sandbox_url=fake_e2b.url)
    assert await pool.use_kind("t1", "e2b") is False  # nothing was running yet
    handle = await pool.get("t1")
    assert isinstance(handle.inner, E2BExecutor)
    assert pool.kind_of("t2") == "local"  # other conversations keep the configured kind
    assert pool.confinement("e2b") is None and pool.confinement() is not None
    await handle.run("1 + 1")
    sandbox_id = next(iter(fake_e2b.sandboxes))
    assert await pool.use_kind("t1", "local") is True
    assert sandbox_id in fake_e2b.killed and "t1" not in pool
    assert pool.kind_of("t1") == "local"
    await pool.close_all()
