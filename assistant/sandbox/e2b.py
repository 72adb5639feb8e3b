"""The E2B executor: the same contract, run in an E2B cloud sandbox (a Firecracker microVM).

Wraps ``e2b_code_interpreter.AsyncSandbox`` (2.x). The sandbox is created on
first use with no host environment variables and internet access off unless
asked for; the dataset is uploaded to ``/home/user`` and loaded as ``df``.

E2B has no interrupt call. On a timeout (or :meth:`E2BExecutor.interrupt`)
the code context (the Jupyter kernel inside the sandbox) is restarted, so
variables are lost and the data is loaded again. When the sandbox itself has
expired (its lifetime ran out) a new one is created on the next call.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from pathlib import Path, PurePosixPath
from typing import Any

from e2b import AuthenticationException, SandboxException, TimeoutException
from e2b_code_interpreter import AsyncSandbox, Context
from e2b_code_interpreter import Result as E2BResult

from assistant.sandbox.base import Execution, OutputCallback, Result, clamp_timeout
from assistant.sandbox.capture import (
    DEFAULT_MAX_OUTPUT_CHARS,
    PLOTLY_MIME,
    OutputCapture,
    trim_traceback,
)
from assistant.sandbox.errors import SandboxFileError, SandboxStartError
from assistant.sandbox.preamble import preamble_code

log = logging.getLogger(__name__)

SANDBOX_HOME = PurePosixPath("/home/user")
_KERNEL_RESTARTED = {"ContextRestarting", "UnexpectedEndOfExecution"}


def result_from_e2b(result: E2BResult) -> Result:
    """Map an E2B result (base64 PNG, extra MIME types) to ours."""
    plotly = (result.extra or {}).get(PLOTLY_MIME)
    if plotly is None and isinstance(result.json, dict) and "data" in result.json:
        plotly = result.json
    return Result(
        text=result.text,
        png=base64.b64decode(result.png) if result.png else None,
        html=result.html,
        plotly=plotly if isinstance(plotly, dict) else None,
        is_main_result=bool(result.is_main_result),
    )


class E2BExecutor:
    """Runs code in an E2B sandbox; implements :class:`~assistant.sandbox.base.Executor`.

    Args:
        workspace: The conversation's folder; downloads land here.
        api_key: The E2B key (``e2b_...``); never passed into the sandbox.
        dataset_path: A workspace file uploaded and loaded as ``df`` on every (re)start.
        timeout_s: Wall-clock limit of one ``run``: the default and the ceiling.
        sandbox_timeout_s: Lifetime of the sandbox; extended while it is used.
        allow_internet: Let the sandbox reach the internet (off by default).
        template: E2B template; the SDK's code-interpreter template when ``None``.
        api_url: E2B API address (tests point it at a local fake).
        sandbox_url: Address of the sandbox's envd/code servers (tests).
        request_timeout_s: Limit of each control request (create, upload, restart).
        extend_every_s: At most this often, a run pushes the sandbox's expiry back
            to ``sandbox_timeout_s`` from now.
        max_output_chars: stdout+stderr kept per run; the rest is cut with a note.
    """

    def __init__(
        self,
        workspace: Path,
        *,
        api_key: str,
        dataset_path: Path | None = None,
        timeout_s: float = 120.0,
        sandbox_timeout_s: float = 1800.0,
        allow_internet: bool = False,
        template: str | None = None,
        api_url: str | None = None,
        sandbox_url: str | None = None,
        request_timeout_s: float = 30.0,
        extend_every_s: float = 60.0,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    ) -> None:
        self.workspace = workspace.resolve()
        self.dataset_path = dataset_path
        self.timeout_s = timeout_s
        self.sandbox_timeout_s = sandbox_timeout_s
        self.allow_internet = allow_internet
        self.template = template
        self.max_output_chars = max_output_chars
        self.extend_every_s = extend_every_s
        self._connection: dict[str, Any] = {
            "api_key": api_key,
            "request_timeout": request_timeout_s,
        }
        if api_url:
            self._connection["api_url"] = api_url
        if sandbox_url:
            self._connection["sandbox_url"] = sandbox_url
        self._sandbox: AsyncSandbox | None = None
        self._context: Context | None = None
        self._needs_preamble = True
        self._extended_at = 0.0
        self._run_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        self._current: asyncio.Task[Any] | None = None
        self._interrupted = False
        self._closed = False

    @property
    def sandbox_id(self) -> str | None:
        return self._sandbox.sandbox_id if self._sandbox else None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Create the sandbox now instead of on the first call."""
        await self._ensure_ready()

    async def _ensure_ready(self) -> tuple[AsyncSandbox, Context]:
        async with self._start_lock:
            if self._closed:
                raise SandboxStartError(
                    "This code sandbox was closed; start a new conversation turn."
                )
            if self._sandbox is None or self._context is None:
                await self._create()
            assert self._sandbox is not None and self._context is not None
            if self._needs_preamble:
                await self._load_preamble(self._sandbox, self._context)
            return self._sandbox, self._context

    async def _create(self) -> None:
        started = time.perf_counter()
        try:
            sandbox = await AsyncSandbox.create(
                template=self.template,
                timeout=int(self.sandbox_timeout_s),
                envs={},
                allow_internet_access=self.allow_internet,
                **self._connection,
            )
        except AuthenticationException as exc:
            raise SandboxStartError(
                "E2B did not accept the API key. Check E2B_API_KEY, or unset it to use "
                "the local sandbox."
            ) from exc
        except (SandboxException, OSError) as exc:
            log.warning("e2b_create_failed error=%s", type(exc).__name__)
            raise SandboxStartError(
                "Could not start an E2B sandbox. Try again in a moment, or unset "
                "E2B_API_KEY to use the local sandbox."
            ) from exc
        try:
            context = await sandbox.create_code_context(cwd=str(SANDBOX_HOME))
            if self.dataset_path is not None:
                await self._put(sandbox, self.dataset_path)
        except BaseException:
            with contextlib.suppress(Exception):
                await sandbox.kill()
            raise
        self._sandbox, self._context = sandbox, context
        self._needs_preamble = True
        self._extended_at = time.monotonic()
        log.info(
            "e2b_sandbox_created id=%s ms=%d internet=%s",
            sandbox.sandbox_id,
            (time.perf_counter() - started) * 1000,
            self.allow_internet,
        )

    async def _load_preamble(self, sandbox: AsyncSandbox, context: Context) -> None:
        dataset = self.dataset_path.name if self.dataset_path is not None else None
        execution = await sandbox.run_code(preamble_code(dataset), context=context, timeout=60.0)
        if execution.error is not None:
            log.warning("e2b_preamble_failed error=%s", execution.error.name)
        self._needs_preamble = False

    async def _forget_sandbox(self, *, kill: bool) -> None:
        sandbox, self._sandbox, self._context = self._sandbox, None, None
        if kill and sandbox is not None:
            with contextlib.suppress(Exception):
                await sandbox.kill()

    async def _restart_context(self) -> None:
        sandbox, context = self._sandbox, self._context
        self._needs_preamble = True
        if sandbox is None or context is None:
            return
        try:
            await sandbox.restart_code_context(context)
        except Exception:
            log.warning("e2b_context_restart_failed; recreating the sandbox", exc_info=True)
            await self._forget_sandbox(kill=True)

    async def restart(self) -> None:
        """Restart the interpreter (state is lost; the dataset is reloaded)."""
        async with self._run_lock:
            await self._restart_context()
            await self._ensure_ready()

    async def close(self) -> None:
        """Kill the sandbox."""
        async with self._start_lock:
            self._closed = True
            await self._forget_sandbox(kill=True)

    async def interrupt(self) -> None:
        """Stop the running code. E2B has no interrupt, so the session is restarted."""
        if self._current is not None and not self._current.done():
            self._interrupted = True
            self._current.cancel()

    # -- running code ----------------------------------------------------------------

    async def run(
        self, code: str, *, timeout_s: float | None = None, on_output: OutputCallback | None = None
    ) -> Execution:
        """Run ``code``; stream stdout/stderr chunks to ``on_output`` as they arrive."""
        timeout = clamp_timeout(timeout_s, self.timeout_s)
        async with self._run_lock:
            capture = OutputCapture(on_output, max_chars=self.max_output_chars)
            sandbox, context = await self._ensure_ready()
            await self._extend(sandbox)
            if await self._run_once(sandbox, context, code, timeout, capture) == "expired":
                capture.stream(
                    "stderr",
                    "[The E2B sandbox had expired; a new one was started. Variables from "
                    "earlier runs are gone; the data was loaded again as df.]\n",
                )
                sandbox, context = await self._ensure_ready()
                await self._run_once(sandbox, context, code, timeout, capture)
            return capture.execution()

    async def _sandbox_alive(self, sandbox: AsyncSandbox) -> bool:
        try:
            return await sandbox.is_running()
        except Exception:
            return False

    async def _extend(self, sandbox: AsyncSandbox) -> None:
        if time.monotonic() - self._extended_at < self.extend_every_s:
            return
        try:
            await sandbox.set_timeout(int(self.sandbox_timeout_s))
            self._extended_at = time.monotonic()
        except Exception:
            log.warning("e2b_set_timeout_failed", exc_info=True)

    async def _run_once(
        self,
        sandbox: AsyncSandbox,
        context: Context,
        code: str,
        timeout_s: float,
        capture: OutputCapture,
    ) -> str:
        """Run once; return "expired" when the sandbox was gone before anything ran, else "done"."""

        def on_error(error: Any) -> None:
            capture.fail(error.name, error.value, trim_traceback(error.traceback or ""))

        self._interrupted = False
        self._current = asyncio.ensure_future(
            sandbox.run_code(
                code,
                context=context,
                on_stdout=lambda message: capture.stream("stdout", message.line),
                on_stderr=lambda message: capture.stream("stderr", message.line),
                on_result=lambda result: capture.result(result_from_e2b(result)),
                on_error=on_error,
                timeout=timeout_s,
            )
        )
        try:
            await self._current
        except asyncio.CancelledError:
            if not self._interrupted:
                raise
            await self._restart_context()
            capture.error = None
            capture.fail(
                "KeyboardInterrupt",
                "The run was interrupted. The E2B session was restarted: variables from "
                "earlier runs are gone and the data will be loaded again as df.",
            )
            return "done"
        except (TimeoutException, SandboxException) as exc:
            if await self._sandbox_alive(sandbox):
                await self._restart_context()
                capture.error = None
                capture.fail(
                    "TimeoutError",
                    f"The code ran longer than {timeout_s:g} s and was stopped. The E2B session "
                    "was restarted: variables from earlier runs are gone and the data will be "
                    "loaded again as df.",
                )
                log.info("e2b_run_timeout timeout_s=%g", timeout_s)
            else:
                await self._forget_sandbox(kill=False)
                if capture.is_empty:
                    log.info("e2b_sandbox_expired_before_run id=%s", sandbox.sandbox_id)
                    return "expired"
                capture.error = None
                capture.fail(
                    "SandboxExpired",
                    "The E2B sandbox expired while the code was running. The next run starts "
                    "a new sandbox with the data loaded again as df.",
                )
                log.info("e2b_sandbox_expired error=%s", type(exc).__name__)
            return "done"
        finally:
            self._current = None
        if capture.error is not None and capture.error.name in _KERNEL_RESTARTED:
            self._needs_preamble = True
            capture.error = None
            capture.fail(
                "KernelDied",
                "The Python session stopped (it crashed or ran out of memory). The next run "
                "starts a fresh session with the data loaded again as df; variables from "
                "earlier runs are gone.",
            )
        return "done"

    # -- files -------------------------------------------------------------------------

    async def _put(self, sandbox: AsyncSandbox, path: Path) -> str:
        if not path.is_file():
            raise SandboxFileError(
                f"The file {path.name} does not exist, so it cannot be uploaded."
            )
        data = await asyncio.to_thread(path.read_bytes)
        await sandbox.files.write(str(SANDBOX_HOME / path.name), data)
        return path.name

    async def upload(self, path: Path) -> str:
        """Copy a workspace file to ``/home/user`` in the sandbox; return its name there."""
        sandbox, _ = await self._ensure_ready()
        return await self._put(sandbox, path)

    async def download(self, name: str) -> Path:
        """Copy ``/home/user/<name>`` from the sandbox into the workspace's scratch; return its path.

        Scratch is the sandbox's folder: the app copies what the user gets out of it.
        """
        scratch = self.workspace / "scratch"
        target = (scratch / name).resolve()
        if not target.is_relative_to(scratch.resolve()) or PurePosixPath(name).is_absolute():
            raise SandboxFileError(f"{name} is outside the conversation's workspace.")
        sandbox, _ = await self._ensure_ready()
        try:
            data = await sandbox.files.read(str(SANDBOX_HOME / name), format="bytes")
        except SandboxException as exc:
            raise SandboxFileError(
                f"The sandbox has no file named {name}. Save it in the working folder first "
                "(for example df.to_csv('result.csv'))."
            ) from exc
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(target.write_bytes, bytes(data))
        return target
