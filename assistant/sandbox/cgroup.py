"""A control group per kernel: memory of the whole process tree and a process count, capped.

rlimits cap each process; four forked children each get the full allowance.
A cgroup caps the tree. cgroup v2 is used where the machine offers its
``memory`` and ``pids`` controllers at ``/sys/fs/cgroup``; else cgroup v1
(``memory`` with ``memsw`` when swap is accounted, and ``pids``). Creating one
needs write access to the hierarchy (mlchat running as root, or a delegated
subtree); when it cannot be created, :func:`cgroup_support` says ``None`` and
the welcome message says the tree is not capped.

The kernel joins its group through a ``/bin/sh`` wrapper that writes ``$$``
into each ``cgroup.procs`` and then execs the confined command, so bubblewrap
and everything it starts are inside from the first instruction.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

CgroupVersion = Literal["v2", "v1"]
_ROOT = Path("/sys/fs/cgroup")
_GROUP = "mlchat"


@dataclass(frozen=True, slots=True)
class KernelCgroup:
    """The folders of one kernel's control group (one for v2, one per controller for v1)."""

    version: CgroupVersion
    folders: tuple[Path, ...]

    @classmethod
    def create(cls, *, memory_mb: int, processes: int) -> KernelCgroup | None:
        """A new group with the caps set, or ``None`` when the machine does not allow one."""
        version = cgroup_support()
        if version is None:
            return None
        name = f"k-{secrets.token_hex(6)}"
        try:
            return _create(version, name, memory_mb=memory_mb, processes=processes)
        except OSError as exc:
            log.warning("sandbox_cgroup_failed version=%s error=%s", version, exc)
            return None

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` started through ``/bin/sh`` that first moves itself into this group."""
        joins = " && ".join(f"echo $$ > '{folder / 'cgroup.procs'}'" for folder in self.folders)
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "mlchat-kernel", *argv]

    def memory_peak_mb(self) -> float | None:
        """The most memory the tree used so far (for tests and logs)."""
        name = "memory.peak" if self.version == "v2" else "memory.max_usage_in_bytes"
        for folder in self.folders:
            with contextlib.suppress(OSError, ValueError):
                return int((folder / name).read_text()) / 2**20
        return None

    def remove(self) -> None:
        """Kill what is left in the group and delete it."""
        for folder in self.folders:
            with contextlib.suppress(OSError):
                for pid in (folder / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), 9)
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _create(version: CgroupVersion, name: str, *, memory_mb: int, processes: int) -> KernelCgroup:
    limit = str(memory_mb * 2**20)
    if version == "v2":
        parent = _ROOT / _GROUP
        parent.mkdir(exist_ok=True)
        (parent / "cgroup.subtree_control").write_text("+memory +pids")
        folder = parent / name
        folder.mkdir()
        (folder / "memory.max").write_text(limit)
        with contextlib.suppress(OSError):
            (folder / "memory.swap.max").write_text("0")
        (folder / "pids.max").write_text(str(processes))
        return KernelCgroup("v2", (folder,))
    memory = _ROOT / "memory" / _GROUP / name
    pids = _ROOT / "pids" / _GROUP / name
    memory.mkdir(parents=True)
    try:
        (memory / "memory.limit_in_bytes").write_text(limit)
        with contextlib.suppress(OSError):  # only when swap is accounted
            (memory / "memory.memsw.limit_in_bytes").write_text(limit)
        pids.mkdir(parents=True)
        (pids / "pids.max").write_text(str(processes))
    except OSError:
        KernelCgroup("v1", (memory, pids)).remove()
        raise
    return KernelCgroup("v1", (memory, pids))


@functools.cache
def cgroup_support() -> CgroupVersion | None:
    """Which cgroup version can cap a kernel here (probed once), or ``None``."""
    v2 = _ROOT / "cgroup.controllers"
    if v2.is_file() and {"memory", "pids"} <= set(v2.read_text().split()):
        candidates: tuple[CgroupVersion, ...] = ("v2",)
    elif (_ROOT / "memory" / "cgroup.procs").is_file() and (_ROOT / "pids").is_dir():
        candidates = ("v1",)
    else:
        return None
    for version in candidates:
        try:
            group = _create(version, f"probe-{os.getpid()}", memory_mb=64, processes=8)
        except OSError as exc:
            log.info("sandbox_cgroup_unavailable version=%s error=%s", version, exc)
            continue
        group.remove()
        return version
    return None
