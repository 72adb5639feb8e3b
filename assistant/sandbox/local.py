"""The default executor: a confined Jupyter kernel in a child process, one per conversation.

The kernel is started lazily on the first call, runs in the conversation's
workspace (its working directory and the only place it can write), and is
reached over ``ipc`` sockets because it lives in its own network namespace
(see :mod:`assistant.sandbox.confinement`).

Failure handling:

- wall-clock timeout: interrupt (an ``interrupt_request`` on the control
  channel); if the code is still running a few seconds later, restart the
  kernel. The Execution carries a ``TimeoutError``.
- the kernel process dies (segfault, ``os._exit``, memory or CPU limit): the
  Execution carries a ``KernelDied`` error and the next call starts a fresh
  kernel with the dataset loaded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import shutil
import signal
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jupyter_client import AsyncKernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec

from assistant.sandbox.base import Execution, OutputCallback, clamp_timeout
from assistant.sandbox.capture import (
    DEFAULT_MAX_OUTPUT_CHARS,
    OutputCapture,
    result_from_bundle,
    trim_traceback,
)
from assistant.sandbox.cgroup import KernelCgroup
from assistant.sandbox.confinement import (
    DEFAULT_LIMITS,
    ConfinementReport,
    KernelLayout,
    Limits,
    Mechanism,
    chown_tree,
    detect_confinement,
    kernel_command,
    kernel_env,
    kernel_uid,
    share_read_only,
)
from assistant.sandbox.errors import SandboxFileError, SandboxStartError
from assistant.sandbox.preamble import preamble_code
from assistant.sandbox.scratch_disk import mount_scratch, unmount_scratch
from assistant.workspace import Workspace

log = logging.getLogger(__name__)

_POLL_S = 0.5
_INTERRUPT_GRACE_S = 3.0


class _ConfinedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel spec is built in code, not read from disk."""

    def __init__(self, *, spec: KernelSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._spec = spec

    @property
    def kernel_spec(self) -> KernelSpec:
        return self._spec


class _Kernel:
    """One running kernel process: manager, client and its private runtime folder."""

    def __init__(
        self,
        manager: AsyncKernelManager,
        client: AsyncKernelClient,
        runtime: Path,
        cgroup: KernelCgroup | None = None,
    ):
        self.manager = manager
        self.client = client
        self.runtime = runtime
        self.cgroup = cgroup
        self.started_at = time.monotonic()

    async def stop(self) -> None:
        """Kill the kernel and wait until all its processes are gone.

        Waiting matters: the next kernel of this workspace runs under the same
        uid, and dying processes would still count against its process limit.
        """
        process = getattr(self.manager.provisioner, "process", None)
        pids = await asyncio.to_thread(_tree_pids, process.pid) if process else set()
        self.client.stop_channels()
        try:
            await self.manager.shutdown_kernel(now=True)
        except Exception:
            log.warning("sandbox_kernel_stop_failed", exc_info=True)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        give_up = time.monotonic() + 10
        while pids and time.monotonic() < give_up:
            pids = {pid for pid in pids if Path(f"/proc/{pid}").exists()}
            if pids:
                await asyncio.sleep(0.02)
        if self.cgroup is not None:
            await asyncio.to_thread(self.cgroup.remove)
        shutil.rmtree(self.runtime, ignore_errors=True)

    def process_count(self) -> int:
        """Processes in the kernel's tree (the sandbox wrapper included)."""
        process = getattr(self.manager.provisioner, "process", None)
        return 0 if process is None else len(_tree_pids(process.pid))

    def exit_code(self) -> int | None:
        process = getattr(self.manager.provisioner, "process", None)
        return None if process is None else process.poll()


def _tree_pids(root: int) -> set[int]:
    """``root`` and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


def _death_message(exit_code: int | None, limits: Limits) -> str:
    reason = {
        -signal.SIGKILL: f"it was killed, most likely for using more than {limits.memory_mb} MB of memory",
        128
        + signal.SIGKILL: f"it was killed, most likely for using more than {limits.memory_mb} MB of memory",
        -signal.SIGXCPU: f"it used up its CPU-time allowance of {limits.cpu_s} s",
        128 + signal.SIGXCPU: f"it used up its CPU-time allowance of {limits.cpu_s} s",
        -signal.SIGSEGV: "it crashed (segmentation fault)",
        128 + signal.SIGSEGV: "it crashed (segmentation fault)",
    }.get(exit_code if exit_code is not None else 0, "it crashed or exited")
    return (
        f"The Python session stopped: {reason}. The next run starts a fresh session "
        "with the data loaded again as df; variables from earlier runs are gone."
    )


class LocalExecutor:
    """Runs code in a confined local Jupyter kernel; implements :class:`~assistant.sandbox.base.Executor`.

    Args:
        workspace: The conversation's folder. The kernel sees its ``uploads/``
            read-only and works in its ``scratch/``, the only place it may write;
            the app's folders beside them are not visible.
        dataset_path: A file in ``uploads/`` (or scratch) loaded as ``df`` on every (re)start.
        limits: Resource limits of the kernel process.
        timeout_s: Wall-clock limit of one ``run``: the default and the ceiling
            (a caller may ask for less, never more).
        mechanism: Force a weaker confinement (tests); ``"auto"`` picks the strongest.
        hidden_paths: Host folders/files the kernel must not see (the data folder, ``.env``).
        max_output_chars: stdout+stderr kept per run; the rest is cut with a note.
        startup_timeout_s: How long a kernel may take to start.
    """

    def __init__(
        self,
        workspace: Path,
        *,
        dataset_path: Path | None = None,
        limits: Limits = DEFAULT_LIMITS,
        timeout_s: float = 120.0,
        mechanism: Mechanism = "auto",
        hidden_paths: Sequence[Path] = (),
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        startup_timeout_s: float = 60.0,
    ) -> None:
        self.workspace = workspace.resolve()
        self.dataset_path = dataset_path
        self.timeout_s = timeout_s
        self.max_output_chars = max_output_chars
        self.startup_timeout_s = startup_timeout_s
        self.report: ConfinementReport = detect_confinement(limits, mechanism=mechanism)
        self._hidden = tuple(p.resolve() for p in hidden_paths)
        self._kernel: _Kernel | None = None
        self._run_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        self._closed = False

    @property
    def is_running(self) -> bool:
        """A kernel process is up (started and not known to have died)."""
        return self._kernel is not None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Start the kernel now instead of on the first call."""
        await self._ensure_kernel()

    async def _ensure_kernel(self) -> _Kernel:
        async with self._start_lock:
            if self._closed:
                raise SandboxStartError(
                    "This code sandbox was closed; start a new conversation turn."
                )
            if self._kernel is None:
                self._kernel = await self._start_kernel()
            return self._kernel

    @property
    def scratch(self) -> Path:
        """The kernel's working directory and home, its only writable folder."""
        return self.workspace / "scratch"

    @property
    def uploads(self) -> Path:
        """The conversation's uploads, which the kernel may read and never write."""
        return self.workspace / "uploads"

    def _prepare_folders(self) -> None:
        Workspace.at(self.workspace)
        self.scratch.mkdir(mode=0o700, exist_ok=True)
        uid = kernel_uid(self.workspace) if self.report.own_user else None
        if self.report.disk_quota:
            mount_scratch(self.scratch, size_mb=self.report.limits.disk_mb, owner=uid)
        if uid is not None:
            chown_tree(self.scratch, uid)
            share_read_only(self.uploads, uid)
            if self.report.filesystem != "bubblewrap":
                # Without bubblewrap the kernel reaches scratch through the workspace itself:
                # its group may pass (0710), never list or write it.
                os.chown(self.workspace, -1, uid)
                os.chmod(self.workspace, 0o710)

    async def _start_kernel(self) -> _Kernel:
        started = time.perf_counter()
        await asyncio.to_thread(self._prepare_folders)
        runtime = Path(tempfile.mkdtemp(prefix="mlchat-k-"))
        layout = KernelLayout(self.workspace, runtime, hidden=self._hidden)
        layout.socket_dir.mkdir(mode=0o700)
        layout.tmp_dir.mkdir(mode=0o700)
        argv = kernel_command(self.report, layout)
        cgroup = None
        if self.report.cgroup:
            limits = self.report.limits
            cgroup = await asyncio.to_thread(
                KernelCgroup.create, memory_mb=limits.memory_mb, processes=limits.processes
            )
            if cgroup is None:
                log.warning("sandbox_cgroup_missing workspace=%s", self.workspace.name)
            else:
                argv = cgroup.wrap(argv)
        spec = KernelSpec(
            argv=argv,
            display_name="mlchat sandbox",
            language="python",
            interrupt_mode="message",
            env={},
        )
        manager = _ConfinedKernelManager(
            spec=spec,
            transport="ipc",
            ip=str(layout.socket_dir / "k"),
            connection_file=str(layout.socket_dir / "kernel.json"),
        )
        kernel_log = (runtime / "kernel.log").open("wb")
        try:
            await manager.start_kernel(
                env=kernel_env(self.report, layout),
                cwd=str(self.scratch),
                stdout=kernel_log,
                stderr=kernel_log,
            )
            client = manager.client()
            client.start_channels()
            kernel = _Kernel(manager, client, runtime, cgroup)
            try:
                await client.wait_for_ready(timeout=self.startup_timeout_s)
            except (RuntimeError, TimeoutError) as exc:
                detail = (runtime / "kernel.log").read_text(errors="replace")[-2000:]
                log.error("sandbox_kernel_start_failed workspace=%s log=%s", self.workspace, detail)
                await kernel.stop()
                raise SandboxStartError(
                    "The Python sandbox could not start. Try again; if it keeps failing, "
                    "check the server log for 'sandbox_kernel_start_failed'."
                ) from exc
        finally:
            kernel_log.close()
        preamble = preamble_code(self._dataset_in_kernel())
        setup = await self._execute(kernel, preamble, OutputCapture(None), timeout_s=60.0)
        if setup.error is not None:
            log.warning("sandbox_preamble_failed error=%s", setup.error.name)
        log.info(
            "sandbox_kernel_started workspace=%s ms=%d network=%s filesystem=%s",
            self.workspace.name,
            (time.perf_counter() - started) * 1000,
            self.report.network,
            self.report.filesystem,
        )
        return kernel

    def _dataset_in_kernel(self) -> str | None:
        """The dataset's path as the kernel sees it (uploads and scratch keep their host paths)."""
        if self.dataset_path is None:
            return None
        path = self.dataset_path.resolve()
        if not (path.is_relative_to(self.uploads) or path.is_relative_to(self.scratch)):
            raise SandboxFileError(
                f"The dataset {path.name} is not among this conversation's uploads; upload it first."
            )
        return str(path)

    async def _drop_kernel(self) -> None:
        kernel, self._kernel = self._kernel, None
        if kernel is not None:
            await kernel.stop()

    async def restart(self) -> None:
        """Restart the interpreter (state is lost; the dataset is reloaded)."""
        async with self._run_lock:
            await self._drop_kernel()
            await self._ensure_kernel()

    async def close(self) -> None:
        """Stop the kernel, delete its runtime folder and unmount scratch; the workspace stays."""
        async with self._start_lock:
            self._closed = True
            await self._drop_kernel()
            if self.report.disk_quota:
                try:
                    await asyncio.to_thread(unmount_scratch, self.scratch)
                except Exception:
                    log.warning("sandbox_scratch_unmount_failed", exc_info=True)

    async def interrupt(self) -> None:
        """Interrupt the code that is running, if any (KeyboardInterrupt in the kernel)."""
        if self._kernel is not None:
            await self._kernel.manager.interrupt_kernel()

    # -- running code ----------------------------------------------------------------

    async def run(
        self, code: str, *, timeout_s: float | None = None, on_output: OutputCallback | None = None
    ) -> Execution:
        """Run ``code``; stream stdout/stderr chunks to ``on_output`` as they arrive."""
        async with self._run_lock:
            capture = OutputCapture(on_output, max_chars=self.max_output_chars)
            kernel = await self._ensure_kernel()
            if not await kernel.manager.is_alive():  # it stopped between runs
                log.warning("sandbox_kernel_found_dead exit_code=%s", kernel.exit_code())
                await self._drop_kernel()
                capture.stream(
                    "stderr",
                    "[The Python session had stopped; a fresh one was started and the data "
                    "loaded again as df. Variables from earlier runs are gone.]\n",
                )
                kernel = await self._ensure_kernel()
            return await self._execute(
                kernel, code, capture, timeout_s=clamp_timeout(timeout_s, self.timeout_s)
            )

    async def _execute(
        self, kernel: _Kernel, code: str, capture: OutputCapture, *, timeout_s: float
    ) -> Execution:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(queue.Empty):
            while True:  # replies of earlier runs: read them so they do not pile up
                await kernel.client.get_shell_msg(timeout=0)
        msg_id = kernel.client.execute(code, allow_stdin=False, stop_on_error=True)
        deadline = loop.time() + timeout_s
        outcome = await self._collect(kernel, msg_id, capture, deadline)
        if outcome == "timeout":
            await kernel.manager.interrupt_kernel()
            grace = loop.time() + _INTERRUPT_GRACE_S
            outcome = await self._collect(kernel, msg_id, OutputCapture(None), grace)
            if outcome == "idle":
                message = (
                    f"The code ran longer than {timeout_s:g} s and was stopped. "
                    "Variables from earlier runs are kept."
                )
            else:
                await self._drop_kernel()
                message = (
                    f"The code ran longer than {timeout_s:g} s and did not stop when interrupted, "
                    "so the Python session was restarted: variables from earlier runs are gone "
                    "and the data will be loaded again as df."
                )
            capture.error = None
            capture.fail("TimeoutError", message)
            log.info("sandbox_run_timeout timeout_s=%g restarted=%s", timeout_s, outcome != "idle")
        elif outcome == "died":
            exit_code = kernel.exit_code()
            await self._drop_kernel()
            capture.error = None
            capture.fail("KernelDied", _death_message(exit_code, self.report.limits))
            log.warning("sandbox_kernel_died exit_code=%s", exit_code)
        elif capture.error is not None and self._kernel is kernel:
            processes = await asyncio.to_thread(kernel.process_count)
            if processes > max(16, self.report.limits.processes // 4):
                await self._drop_kernel()
                capture.error = None
                capture.fail(
                    "ProcessLimit",
                    f"The code started too many processes ({processes}) and hit the limit of "
                    f"{self.report.limits.processes}, so the Python session was restarted: "
                    "variables from earlier runs are gone and the data will be loaded again as df.",
                )
                log.warning("sandbox_process_limit processes=%d", processes)
        return capture.execution()

    async def _collect(
        self, kernel: _Kernel, msg_id: str, capture: OutputCapture, deadline: float
    ) -> str:
        """Read iopub until our request is idle; return "idle", "timeout" or "died"."""
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return "timeout"
            try:
                msg = await kernel.client.get_iopub_msg(timeout=min(remaining, _POLL_S))
            except queue.Empty:
                if not await kernel.manager.is_alive():
                    return "died"
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                name = "stderr" if content.get("name") == "stderr" else "stdout"
                capture.stream(name, content.get("text", ""))
            elif kind in ("display_data", "execute_result"):
                capture.result(
                    result_from_bundle(
                        content.get("data", {}), is_main_result=kind == "execute_result"
                    )
                )
            elif kind == "error":
                capture.fail(
                    content.get("ename", "Error"),
                    content.get("evalue", ""),
                    trim_traceback("\n".join(content.get("traceback", []))),
                )
            elif kind == "status" and content.get("execution_state") == "idle":
                return "idle"

    # -- files -------------------------------------------------------------------------

    async def upload(self, path: Path) -> str:
        """Make a file readable in the sandbox; return its path relative to the kernel's cwd.

        A file of ``uploads/`` is shared read-only where it is; any other file
        is copied into scratch.
        """
        source = path.resolve()
        if source.is_relative_to(self.uploads) or source.is_relative_to(self.scratch):
            if not source.is_file():
                raise SandboxFileError(f"There is no file named {path.name} in the workspace.")
            if self.report.own_user and source.is_relative_to(self.uploads):
                await asyncio.to_thread(share_read_only, self.uploads, kernel_uid(self.workspace))
            return os.path.relpath(source, self.scratch)
        if not source.is_file():
            raise SandboxFileError(
                f"The file {path.name} does not exist, so it cannot be uploaded."
            )
        await asyncio.to_thread(self._prepare_folders)
        target = self.scratch / source.name
        await asyncio.to_thread(shutil.copyfile, source, target)
        if self.report.own_user:
            await asyncio.to_thread(chown_tree, target, kernel_uid(self.workspace))
        return target.name

    async def download(self, name: str) -> Path:
        """The host path of a file the code wrote in scratch (the kernel already writes there)."""
        target = (self.scratch / name).resolve()
        if not target.is_relative_to(self.scratch):
            raise SandboxFileError(f"{name} is outside the conversation's workspace.")
        if not target.is_file():
            raise SandboxFileError(
                f"The sandbox has no file named {name}. Save it in the working folder first "
                "(for example df.to_csv('result.csv'))."
            )
        return target
