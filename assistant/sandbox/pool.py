"""One executor per conversation: started lazily, shut down when idle, at most N alive.

``SandboxPool(settings).get(thread_id)`` returns the conversation's executor
(a local confined kernel, or E2B when ``settings.sandbox == "e2b"``). Nothing
starts until the first ``run``/``upload``; an executor unused for
``settings.sandbox_idle_s`` is closed by a background sweep; when more than
``settings.sandbox_max_kernels`` would be alive, the least recently used one
is closed first. A closed conversation's next call simply starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from assistant.sandbox.base import Execution, Executor, OutputCallback
from assistant.sandbox.confinement import ConfinementReport, Limits, detect_confinement
from assistant.sandbox.errors import SandboxStartError
from assistant.sandbox.local import LocalExecutor
from assistant.settings import SandboxName, Settings

log = logging.getLogger(__name__)

ExecutorFactory = Callable[[str, Path | None], Executor]
"""Builds the executor of a thread id (and its dataset path); the pool's default reads Settings."""


class PooledExecutor:
    """The pool's handle on one conversation's executor: marks use, so idle sweeps skip it."""

    def __init__(self, pool: SandboxPool, thread_id: str, inner: Executor) -> None:
        self._pool = pool
        self.thread_id = thread_id
        self.inner = inner
        self.last_used = pool.clock()
        self.busy = 0

    def _touch(self) -> None:
        self.last_used = self._pool.clock()
        self._pool._mark_recent(self.thread_id)

    async def _use(self, call: Callable[[], object]) -> object:
        self.busy += 1
        self._touch()
        try:
            return await call()  # type: ignore[misc]
        finally:
            self.busy -= 1
            self._touch()

    async def run(
        self, code: str, *, timeout_s: float | None = None, on_output: OutputCallback | None = None
    ) -> Execution:
        """Run ``code`` in the conversation's sandbox (see :class:`~assistant.sandbox.base.Executor`)."""
        result = await self._use(
            lambda: self.inner.run(code, timeout_s=timeout_s, on_output=on_output)
        )
        return result  # type: ignore[return-value]

    async def upload(self, path: Path) -> str:
        return await self._use(lambda: self.inner.upload(path))  # type: ignore[return-value]

    async def download(self, name: str) -> Path:
        return await self._use(lambda: self.inner.download(name))  # type: ignore[return-value]

    async def interrupt(self) -> None:
        await self.inner.interrupt()

    async def restart(self) -> None:
        await self._use(self.inner.restart)

    async def close(self) -> None:
        """Close this conversation's sandbox and forget it (the next ``get`` starts a new one)."""
        await self._pool.close(self.thread_id)


class SandboxPool:
    """Hands out one executor per conversation and keeps their number and lifetime bounded.

    Args:
        settings: Read for the sandbox kind, limits, idle time and the cap.
        factory: Builds an executor; by default a :class:`LocalExecutor` in the
            thread's workspace, or an :class:`E2BExecutor` when ``settings.sandbox == "e2b"``.
        clock: Monotonic seconds; tests pass their own.
        e2b_api_url: E2B API address (tests point it at a local fake).
        e2b_sandbox_url: E2B sandbox address (tests).
        e2b_allow_internet: Let E2B sandboxes reach the internet (off by default).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        factory: ExecutorFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        e2b_api_url: str | None = None,
        e2b_sandbox_url: str | None = None,
        e2b_allow_internet: bool = False,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._factory = factory or self._default_factory
        self._e2b = {
            "api_url": e2b_api_url,
            "sandbox_url": e2b_sandbox_url,
            "allow_internet": e2b_allow_internet,
        }
        self._executors: OrderedDict[str, PooledExecutor] = OrderedDict()
        self._kinds: dict[str, SandboxName] = {}
        self._lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def limits(self) -> Limits:
        return Limits(
            memory_mb=self.settings.sandbox_memory_mb,
            cpu_s=self.settings.sandbox_cpu_s,
            tmpfs_mb=self.settings.sandbox_tmpfs_mb,
            disk_mb=self.settings.sandbox_disk_mb,
        )

    def confinement(self, kind: SandboxName | None = None) -> ConfinementReport | None:
        """What protects local kernels (``None`` with E2B, which is a VM per sandbox).

        ``kind`` is the sandbox asked about; the configured one by default.
        """
        if (kind or self.settings.sandbox) == "e2b":
            return None
        return detect_confinement(self.limits)

    def kind_of(self, thread_id: str) -> SandboxName:
        """The sandbox kind ``thread_id`` uses: its own choice, else the configured one."""
        return self._kinds.get(thread_id, self.settings.sandbox)

    async def use_kind(self, thread_id: str, kind: SandboxName) -> bool:
        """Run ``thread_id``'s code in ``kind`` from now on; True if a running sandbox was closed.

        Closing loses the old sandbox's variables; files in the workspace stay.
        """
        if self.kind_of(thread_id) == kind:
            return False
        self._kinds[thread_id] = kind
        if thread_id not in self._executors:
            return False
        log.info("sandbox_switched thread=%s kind=%s", thread_id, kind)
        await self.close(thread_id)
        return True

    def _default_factory(self, thread_id: str, dataset_path: Path | None) -> Executor:
        workspace = self.settings.workspace_for(thread_id)
        if self.kind_of(thread_id) == "e2b":
            if not self.settings.e2b_api_key:
                raise SandboxStartError(
                    "The E2B sandbox is selected but no E2B_API_KEY is set. Set the key, or "
                    "set MLCHAT_SANDBOX=local to run code on this machine."
                )
            from assistant.sandbox.e2b import E2BExecutor  # the SDK: only when E2B is used

            return E2BExecutor(
                workspace,
                api_key=self.settings.e2b_api_key,
                dataset_path=dataset_path,
                timeout_s=self.settings.sandbox_timeout_s,
                sandbox_timeout_s=max(300.0, self.settings.sandbox_idle_s + 60.0),
                api_url=self._e2b["api_url"],  # type: ignore[arg-type]
                sandbox_url=self._e2b["sandbox_url"],  # type: ignore[arg-type]
                allow_internet=bool(self._e2b["allow_internet"]),
            )
        return LocalExecutor(
            workspace,
            dataset_path=dataset_path,
            limits=self.limits,
            timeout_s=self.settings.sandbox_timeout_s,
            hidden_paths=(self.settings.data_dir, Path.cwd() / ".env"),
        )

    def __len__(self) -> int:
        return len(self._executors)

    def __contains__(self, thread_id: object) -> bool:
        return thread_id in self._executors

    def _mark_recent(self, thread_id: str) -> None:
        if thread_id in self._executors:
            self._executors.move_to_end(thread_id)

    async def get(self, thread_id: str, dataset_path: Path | None = None) -> PooledExecutor:
        """The conversation's executor (created on first use, started lazily).

        ``dataset_path`` is loaded as ``df`` when the executor (re)starts; for a
        running executor it takes effect at its next restart.
        """
        async with self._lock:
            self._ensure_sweeper()
            pooled = self._executors.get(thread_id)
            if pooled is None:
                while len(self._executors) >= max(1, self.settings.sandbox_max_kernels):
                    if not await self._evict_least_recent():
                        break  # every sandbox is running code: go over the cap for a while
                pooled = PooledExecutor(self, thread_id, self._factory(thread_id, dataset_path))
                self._executors[thread_id] = pooled
            elif dataset_path is not None and hasattr(pooled.inner, "dataset_path"):
                pooled.inner.dataset_path = dataset_path  # type: ignore[attr-defined]
            pooled.last_used = self.clock()
            self._executors.move_to_end(thread_id)
            return pooled

    async def _evict_least_recent(self) -> bool:
        idle = [t for t, p in self._executors.items() if not p.busy]
        if not idle:
            log.warning("sandbox_over_cap count=%d all_busy=true", len(self._executors))
            return False
        log.info("sandbox_evicted thread=%s reason=max_kernels", idle[0])
        await self._close_one(idle[0])
        return True

    async def _close_one(self, thread_id: str) -> None:
        pooled = self._executors.pop(thread_id, None)
        if pooled is not None:
            try:
                await pooled.inner.close()
            except Exception:
                log.warning("sandbox_close_failed thread=%s", thread_id, exc_info=True)

    async def interrupt(self, thread_id: str) -> bool:
        """Interrupt the code a conversation is running (the stop button); False if none runs."""
        pooled = self._executors.get(thread_id)
        if pooled is None or not pooled.busy:
            return False
        await pooled.inner.interrupt()
        return True

    async def close(self, thread_id: str) -> None:
        """Close one conversation's executor, if it has one."""
        async with self._lock:
            await self._close_one(thread_id)

    async def close_idle(self) -> list[str]:
        """Close executors unused for ``settings.sandbox_idle_s``; return their thread ids."""
        async with self._lock:
            now = self.clock()
            stale = [
                thread_id
                for thread_id, pooled in self._executors.items()
                if not pooled.busy and now - pooled.last_used >= self.settings.sandbox_idle_s
            ]
            for thread_id in stale:
                log.info("sandbox_closed_idle thread=%s", thread_id)
                await self._close_one(thread_id)
            return stale

    async def close_all(self) -> None:
        """Close every executor and stop the idle sweep (application shutdown)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        async with self._lock:
            for thread_id in list(self._executors):
                await self._close_one(thread_id)

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="sandbox-idle-sweep")

    async def _sweep(self) -> None:
        period = min(60.0, max(0.05, self.settings.sandbox_idle_s / 4))
        while True:
            await asyncio.sleep(period)
            try:
                await self.close_idle()
            except Exception:
                log.exception("sandbox_idle_sweep_failed")
