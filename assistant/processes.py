"""Which process owns a run, whether it still lives, and children that die with their parent.

A run row records its owner as ``"<pid>:<start>"``, where ``start`` is the
process's start time in clock ticks since boot (``/proc/<pid>/stat``, field
22). A pid alone is not enough: after a crash the kernel may give the same pid
to an unrelated process, but never with the same start time. Where ``/proc``
is missing the start part is ``0`` and only the pid is checked.

:func:`die_with_parent` asks Linux to kill the calling process when its parent
ends (``PR_SET_PDEATHSIG``). A training worker's parent is multiprocessing's
forkserver, not the app, and the forkserver only exits once every worker has
let go of its pipe; so a worker also calls :func:`exit_with`, which watches the
app itself (a pidfd, else polling) and ends the worker the moment the app is
gone. A SIGKILLed server then leaves no worker (and so no forkserver) busy.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import socket
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; ``None`` if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return None
    except OSError:
        return 0
    # The command name (field 2) is in parentheses and may hold spaces or ")".
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[19])  # field 22 overall; fields[0] is field 3


def current_owner() -> str:
    """This process as a run owner: ``"<pid>:<start ticks>"``."""
    pid = os.getpid()
    return f"{pid}:{start_ticks(pid) or 0}"


def run_owner() -> str:
    """This process as a run's owner in a store several machines may share:
    ``"<pid>:<start ticks>@<host>"``."""
    return f"{current_owner()}@{socket.gethostname()}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process recorded as ``owner`` is still running (the same one, not a reuse).

    An owner on another host (``...@host``) counts as alive: only that machine can tell.
    """
    if not owner:
        return False
    owner, at, host = owner.partition("@")
    if at and host != socket.gethostname():
        return True
    pid_text, _, start_text = owner.partition(":")
    try:
        pid, start = int(pid_text), int(start_text or 0)
    except ValueError:
        return False
    if not Path("/proc").is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    ticks = start_ticks(pid)
    if ticks is None:
        return False
    return start == 0 or ticks == 0 or ticks == start


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """Have the kernel send ``signum`` to this process when its parent ends (Linux only).

    Call it first thing in a child process. If the parent is already gone by
    then (the child was re-parented), the child exits at once. Linux sends the
    signal when the *thread* that forked the child ends, so the parent must
    fork from a thread that lives as long as it does.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)  # this process's symbols: libc's prctl
    if libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        log.warning("pdeathsig_failed errno=%d", ctypes.get_errno())
        return
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the request took effect


def exit_with(owner: str, *, poll_s: float = 1.0) -> None:
    """End this process (SIGKILL) as soon as the process ``owner`` is gone.

    A daemon thread waits on a pidfd of ``owner`` (Linux 5.3+), or checks
    :func:`owner_alive` every ``poll_s`` seconds where pidfds are missing.
    """
    pid = int(owner.partition(":")[0])

    def end() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        end()
        return
    except (AttributeError, OSError):
        pidfd = None
    if not owner_alive(owner):  # gone, or the pid already belongs to someone else
        end()

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])  # readable once the process has exited
        else:
            while owner_alive(owner):
                threading.Event().wait(poll_s)
        end()

    threading.Thread(target=watch, name="exit-with-app", daemon=True).start()
