"""Run heavy work (training, tuning) in a child process, off the event loop.

The child gets a :class:`WorkerChannel` to send progress messages and to ask
whether it should stop. The parent awaits :func:`run_in_worker`, which relays
each message to a callback as it arrives. A stop request sets a flag the
child checks between units of work; a child that does not return within the
grace period is terminated. A child that dies (killed, out of memory) raises
:class:`WorkerDied` carrying the last messages it sent, so callers keep what
finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import queue
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

from assistant.processes import current_owner, die_with_parent, exit_with
from tools.errors import MlchatError, UserFacingError
from tools.threads import THREADS_ENV

log = logging.getLogger(__name__)

_POLL_S = 0.05
_CONTEXT = mp.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["numpy", "pandas", "sklearn", "tools.search.train"])


class WorkerDied(MlchatError):
    """The child process ended without a result (killed, crashed, out of memory)."""

    def __init__(self, message: str, *, exitcode: int | None, messages: list[Any]) -> None:
        super().__init__(message)
        self.exitcode = exitcode
        self.messages = messages


class WorkerStopped(MlchatError):
    """The child was terminated after a stop request because it did not return in time."""

    def __init__(self, messages: list[Any]) -> None:
        super().__init__("The work was stopped before it returned a result.")
        self.messages = messages


@dataclass
class WorkerChannel:
    """The child's side: send progress, check for a stop request."""

    _queue: Any
    _stop: MpEvent

    def send(self, message: Any) -> None:
        """Send a picklable progress message to the parent."""
        self._queue.put(("message", message))

    def should_stop(self) -> bool:
        """Whether the parent asked the work to stop."""
        return self._stop.is_set()


@dataclass
class WorkerHandle:
    """The parent's handle on a running child: ask it to stop."""

    _stop: MpEvent
    stop_requested_at: float | None = field(default=None)

    def request_stop(self) -> None:
        """Ask the child to stop at its next check."""
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
        self._stop.set()


_threads: int | None = None


def set_worker_threads(threads: int) -> None:
    """Threads each worker started from now on may use (``MLCHAT_THREADS`` in the child)."""
    global _threads
    _threads = max(1, int(threads))


def _child_main(
    fn: Callable[..., Any],
    channel: WorkerChannel,
    args: tuple[Any, ...],
    app: str,
    threads: int | None = None,
) -> None:
    # A worker outlives nobody: it ends with the app (``app`` is its owner token) and
    # with its parent, the forkserver; see assistant/processes.py.
    exit_with(app)
    die_with_parent()
    if threads is not None:
        os.environ[THREADS_ENV] = str(threads)
    try:
        result = fn(channel, *args)
    except UserFacingError as exc:
        channel._queue.put(("user_error", str(exc)))
    except BaseException as exc:  # reported to the parent, which logs it once
        channel._queue.put(("crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    else:
        channel._queue.put(("result", result))


async def run_in_worker(
    fn: Callable[..., Any],
    *args: Any,
    on_message: Callable[[Any], None] | None = None,
    handle_ready: Callable[[WorkerHandle], None] | None = None,
    on_cancelled_result: Callable[[Any], None] | None = None,
    grace_s: float = 1.5,
) -> Any:
    """Run ``fn(channel, *args)`` in a child process and return its result.

    ``fn`` and ``args`` must be picklable (a module-level function). If the
    awaiting task is cancelled, the child is asked to stop; if it returns
    within ``grace_s`` its result goes to ``on_cancelled_result`` (so the
    caller can keep what finished), otherwise it is terminated; the
    cancellation then propagates.

    Raises:
        UserFacingError: the child raised one (its message is kept).
        WorkerDied: the child ended without a result.
        WorkerStopped: a stop was requested and the child had to be terminated.
    """
    messages_queue = _CONTEXT.Queue()
    stop = _CONTEXT.Event()
    handle = WorkerHandle(stop)
    if handle_ready is not None:
        handle_ready(handle)
    channel = WorkerChannel(messages_queue, stop)
    process = _CONTEXT.Process(
        target=_child_main, args=(fn, channel, args, current_owner(), _threads), daemon=True
    )
    # Starting the forkserver (first time) and forking block for a second or two: not on the loop.
    await asyncio.to_thread(process.start)
    seen: list[Any] = []
    try:
        while True:
            try:
                kind, payload = messages_queue.get_nowait()
            except queue.Empty:
                if not process.is_alive():
                    with contextlib.suppress(queue.Empty):
                        kind, payload = messages_queue.get(timeout=0.2)
                        if kind != "message":
                            return _finish(kind, payload)
                        seen.append(payload)
                        continue
                    raise WorkerDied(
                        "The training process stopped unexpectedly"
                        f" (exit code {process.exitcode}).",
                        exitcode=process.exitcode,
                        messages=seen,
                    ) from None
                if (
                    handle.stop_requested_at is not None
                    and time.monotonic() - handle.stop_requested_at > grace_s
                ):
                    _terminate(process)
                    raise WorkerStopped(seen) from None
                await asyncio.sleep(_POLL_S)
                continue
            if kind == "message":
                seen.append(payload)
                if on_message is not None:
                    on_message(payload)
                continue
            return _finish(kind, payload)
    except asyncio.CancelledError:
        handle.request_stop()
        late = await asyncio.shield(
            asyncio.to_thread(_wait_for_result, messages_queue, process, grace_s)
        )
        if late is not None and on_cancelled_result is not None:
            on_cancelled_result(late)
        raise
    finally:
        if process.is_alive():
            _terminate(process)
        messages_queue.close()


def warm_up() -> None:
    """Start the forkserver (importing the ML stack once) so the first training starts fast.

    Call it from a background thread at application start.
    """
    from multiprocessing import forkserver

    forkserver.ensure_running()


def _finish(kind: str, payload: Any) -> Any:
    if kind == "result":
        return payload
    if kind == "user_error":
        raise UserFacingError(payload)
    log.error("worker_crashed detail=%s", payload)
    raise WorkerDied("The training process failed unexpectedly.", exitcode=None, messages=[])


def _wait_for_result(messages_queue: Any, process: Any, grace_s: float) -> Any:
    """The child's result if it returns within ``grace_s``; the child is ended either way."""
    deadline = time.monotonic() + grace_s
    result = None
    while (left := deadline - time.monotonic()) > 0:
        try:
            kind, payload = messages_queue.get(timeout=min(left, 0.1))
        except queue.Empty:
            if not process.is_alive():
                break
            continue
        if kind == "result":
            result = payload
            break
        if kind != "message":
            break
    _terminate(process)
    return result


def _terminate(process: Any) -> None:
    process.terminate()
    process.join(0.5)
    if process.is_alive():
        process.kill()
        process.join(1.0)
