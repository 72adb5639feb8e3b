"""Which confinement mechanisms work on this machine, and the kernel command that uses them.

Layers, strongest first (see ``../shared/notes/reliability.md`` section 2):

- **bubblewrap** (``bwrap``): new network, pid, IPC and UTS namespaces; the
  system mounted read-only; a private ``/tmp``; the data folder and home
  folders hidden; only the workspace and the kernel's socket folder writable.
- **unshare -n**: a new network namespace only, when bubblewrap is missing.
- **Landlock**: filesystem rules without namespaces (works in unprivileged
  containers), used when bubblewrap cannot run.
- **own user id**: when mlchat runs as root, each kernel runs under its own
  unprivileged uid, so ``RLIMIT_NPROC`` counts that kernel's processes only and
  root-only files (``/etc/shadow``) are unreadable.
- **rlimits**: memory (address space), CPU time, file size, open files,
  processes; always on.

:func:`detect_confinement` probes once per process and logs the result once;
:class:`ConfinementReport` is what the status view shows.
"""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from assistant.sandbox.cgroup import CgroupVersion, cgroup_support
from assistant.sandbox.scratch_disk import disk_quota_supported

log = logging.getLogger(__name__)

NetworkMechanism = Literal["bubblewrap", "unshare"]
FilesystemMechanism = Literal["bubblewrap", "landlock"]
Mechanism = Literal["auto", "bubblewrap", "unshare", "landlock", "none"]

_LAUNCHER_SOURCE = (Path(__file__).with_name("_launcher.py")).read_text(encoding="utf-8")
_FIRST_KERNEL_UID = 200_000
_KERNEL_UID_SPAN = 60_000
_SYSTEM_READ_ONLY = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt", "/proc")


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits applied to every kernel process (rlimits)."""

    memory_mb: int = 4096
    cpu_s: int = 600
    file_mb: int = 1024
    open_files: int = 1024
    processes: int = 256
    """Processes and threads of the kernel's user; per kernel when it has its own uid.
    Also the cgroup's ``pids.max`` when the kernel has a cgroup."""
    tmpfs_mb: int = 512
    """Size of each private tmpfs (``/tmp``, ``/dev/shm``) under bubblewrap."""
    disk_mb: int = 2048
    """Size of the scratch folder when it is a mounted image (root only)."""

    def rlimits(self) -> dict[str, int]:
        """The values the launcher passes to ``setrlimit``."""
        return {
            "as": self.memory_mb * 2**20,
            "cpu": self.cpu_s,
            "fsize": self.file_mb * 2**20,
            "nofile": self.open_files,
            "nproc": self.processes,
            "core": 0,
        }

    def describe(self) -> str:
        return (
            f"memory {self.memory_mb} MB, CPU {self.cpu_s} s, files up to {self.file_mb} MB, "
            f"{self.open_files} open files, {self.processes} processes"
        )

    def describe_whole(self, report: ConfinementReport) -> str:
        parts = []
        if report.cgroup:
            parts.append(
                f"memory of the whole process tree {self.memory_mb} MB and "
                f"{self.processes} processes (cgroup {report.cgroup})"
            )
        if report.filesystem == "bubblewrap":
            parts.append(f"/tmp and /dev/shm {self.tmpfs_mb} MB each")
        if report.disk_quota:
            parts.append(f"scratch folder {self.disk_mb} MB")
        return ", ".join(parts)


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class ConfinementReport:
    """Which protections are active for local kernels; shown once in logs and the status view."""

    network: NetworkMechanism | None
    """How the kernel is cut off from the network, or ``None`` when it is not."""
    filesystem: FilesystemMechanism | None
    """How writes outside the workspace are blocked, or ``None`` when they are not."""
    own_user: bool
    """The kernel runs under its own unprivileged user id."""
    limits: Limits
    cgroup: CgroupVersion | None = None
    """The cgroup version capping the kernel's whole process tree, or ``None``."""
    disk_quota: bool = False
    """The scratch folder is a mounted image of ``limits.disk_mb``."""

    @property
    def active(self) -> tuple[str, ...]:
        items = []
        if self.network:
            items.append(f"no network ({self.network})")
        if self.filesystem:
            items.append(
                "read-only system, the uploads read-only, only its scratch folder writable "
                f"({self.filesystem})"
            )
        if self.own_user:
            items.append("own unprivileged user")
        items.append(f"limits: {self.limits.describe()}")
        whole = self.limits.describe_whole(self)
        if whole:
            items.append(f"caps on the sandbox as a whole: {whole}")
        return tuple(items)

    @property
    def inactive(self) -> tuple[str, ...]:
        items = []
        if not self.network:
            items.append("network isolation (install bubblewrap, or allow user namespaces)")
        if not self.filesystem:
            items.append(
                "filesystem confinement (install bubblewrap, or use a kernel with Landlock)"
            )
        if not self.own_user:
            items.append(
                "own user id (needs mlchat running as root and Python readable by other users)"
            )
        if not self.cgroup:
            items.append(
                "a memory cap on the whole process tree (no cgroup could be created: "
                "needs root or a delegated cgroup); each process is still capped"
            )
        if not self.disk_quota:
            items.append("a disk quota on the scratch folder (needs root, mkfs.ext4 and mount)")
        return tuple(items)

    @property
    def summary(self) -> str:
        """One line for people: what protects the code sandbox and what does not."""
        text = "Code sandbox: " + "; ".join(self.active) + "."
        if self.inactive:
            text += " Not active: " + "; ".join(self.inactive) + "."
        return text


@dataclass(frozen=True, slots=True)
class _Probe:
    bubblewrap: bool
    unshare: bool
    landlock_abi: int
    is_root: bool


def _runs(argv: list[str]) -> bool:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _landlock_abi() -> int:
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(abi, 0)


@functools.cache
def _probe() -> _Probe:
    is_root = os.geteuid() == 0
    bwrap = shutil.which("bwrap")
    bubblewrap = bool(bwrap) and _runs(
        [
            bwrap or "bwrap",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--unshare-net", "--unshare-pid", "--die-with-parent",
            *([] if is_root else ["--unshare-user"]),
            "--", sys.executable, "-c", "pass",
        ]
    )  # fmt: skip
    unshare = bool(shutil.which("unshare")) and _runs(
        ["unshare", "-n" if is_root else "-rn", "--", sys.executable, "-c", "pass"]
    )
    return _Probe(bubblewrap, unshare, _landlock_abi(), is_root)


def _python_dirs() -> list[Path]:
    paths = {
        Path(sys.prefix),
        Path(sys.base_prefix).resolve(),
        Path(sys.executable).resolve().parent,
    }
    return sorted(paths)


def _world_traversable(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents] if p.exists())


_LOGGED = False


def detect_confinement(
    limits: Limits = DEFAULT_LIMITS, *, mechanism: Mechanism = "auto"
) -> ConfinementReport:
    """Probe (once per process) and report the protections a local kernel will get.

    ``mechanism`` forces a weaker layer for tests or when the strongest one
    misbehaves: ``"unshare"`` (network only, plus Landlock when available),
    ``"landlock"`` (filesystem only), ``"none"`` (rlimits only).
    """
    global _LOGGED
    probe = _probe()
    use_bwrap = probe.bubblewrap and mechanism in ("auto", "bubblewrap")
    use_unshare = not use_bwrap and probe.unshare and mechanism in ("auto", "unshare")
    use_landlock = (
        not use_bwrap and probe.landlock_abi > 0 and mechanism in ("auto", "unshare", "landlock")
    )
    own_user = probe.is_root
    if own_user and not use_bwrap:
        own_user = all(_world_traversable(p) for p in _python_dirs())
    report = ConfinementReport(
        network="bubblewrap" if use_bwrap else "unshare" if use_unshare else None,
        filesystem="bubblewrap" if use_bwrap else "landlock" if use_landlock else None,
        own_user=own_user,
        limits=limits,
        cgroup=cgroup_support(),
        disk_quota=disk_quota_supported(),
    )
    if not _LOGGED:
        _LOGGED = True
        log.info("sandbox_confinement %s", report.summary)
        if report.network is None:
            log.warning("sandbox_confinement network isolation is NOT active for local kernels")
        if report.cgroup is None:
            log.warning(
                "sandbox_confinement no cgroup: the kernel's process tree has no total memory cap"
            )
    return report


def kernel_uid(workspace: Path) -> int:
    """A stable unprivileged uid (and gid) for the kernels of one workspace."""
    return _FIRST_KERNEL_UID + zlib.crc32(str(workspace).encode()) % _KERNEL_UID_SPAN


def chown_tree(root: Path, uid: int) -> None:
    """Give ``root`` and everything below it (not following links) to ``uid``."""
    for path in [root, *root.rglob("*")]:
        stat = path.lstat()
        if stat.st_uid != uid:
            os.lchown(path, uid, uid)


def share_read_only(folder: Path, gid: int) -> None:
    """Let group ``gid`` read ``folder`` and its regular files, and write nothing there.

    The files stay the app's (owner unchanged); links and special files are left alone.
    """
    for path in [folder, *folder.rglob("*")]:
        info = path.lstat()
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            continue
        if info.st_gid != gid:
            os.lchown(path, -1, gid)
        mode = 0o750 if path.is_dir() else 0o640
        if info.st_mode & 0o7777 != mode:
            os.chmod(path, mode, follow_symlinks=False)


def _tasks_of_user(uid: int) -> int:
    """Processes and threads the user runs now (what RLIMIT_NPROC counts)."""
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        if int(fields.get("Uid", "-1 0").split()[0]) == uid:
            count += int(fields.get("Threads", "1"))
    return count


@dataclass(frozen=True, slots=True)
class KernelLayout:
    """Host folders one kernel uses.

    Of the workspace the kernel sees ``uploads/`` (read-only) and ``scratch/``
    (read-write, its working directory and home), at their host paths; the app's
    folders beside them (runs, figures, predictions, outputs) are not visible.
    """

    workspace: Path
    runtime_dir: Path
    """Private folder holding the ipc sockets, the connection file and (without bubblewrap) tmp."""
    hidden: tuple[Path, ...] = ()
    """Folders and files the kernel must not see (data folder, ``.env``); bubblewrap only."""

    @property
    def uploads(self) -> Path:
        return self.workspace / "uploads"

    @property
    def scratch(self) -> Path:
        return self.workspace / "scratch"

    @property
    def socket_dir(self) -> Path:
        return self.runtime_dir / "sock"

    @property
    def tmp_dir(self) -> Path:
        return self.runtime_dir / "tmp"


def kernel_command(report: ConfinementReport, layout: KernelLayout) -> list[str]:
    """The argv (with ``{connection_file}`` left for jupyter_client) that starts a confined kernel."""
    uid = kernel_uid(layout.workspace) if report.own_user else None
    rlimits = report.limits.rlimits()
    if uid is None:
        # RLIMIT_NPROC counts every task of the user: leave room for the ones already running.
        rlimits["nproc"] += _tasks_of_user(os.getuid())
    spec: dict[str, object] = {"rlimits": rlimits}
    if uid is not None:
        spec |= {
            "uid": uid,
            "gid": uid,
            "chown": [
                str(layout.runtime_dir),
                str(layout.socket_dir),
                str(layout.tmp_dir),
                "{connection_file}",
            ],
        }
    if report.filesystem == "landlock":
        spec["landlock"] = {
            "read_only": [
                *_SYSTEM_READ_ONLY,
                "/dev",
                *map(str, _python_dirs()),
                str(layout.uploads),
            ],
            "writable": [
                str(layout.scratch),
                str(layout.runtime_dir),
                "/dev/null",
                "/dev/zero",
                "/dev/tty",
            ],
        }
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    launcher = [sys.executable, "-c", _LAUNCHER_SOURCE, json.dumps(spec), "--", *kernel]
    if report.network == "bubblewrap":
        return [*_bwrap_prefix(report, layout), *launcher]
    if report.network == "unshare":
        return ["unshare", "-n" if os.geteuid() == 0 else "-rn", "--", *launcher]
    return launcher


def _bwrap_prefix(report: ConfinementReport, layout: KernelLayout) -> list[str]:
    size = ["--size", str(report.limits.tmpfs_mb * 2**20)]
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    argv += ["--perms", "1777", *size, "--tmpfs", "/tmp"]
    argv += ["--perms", "1777", *size, "--tmpfs", "/dev/shm"]
    hidden_dirs = [p for p in layout.hidden if p.is_dir() and p != Path("/")]
    home = Path.home()
    if home != Path("/") and home.is_dir():
        hidden_dirs.append(home)
    python_dirs = _python_dirs()
    for path in python_dirs:
        closed = [a for a in reversed([path, *path.parents]) if not os.stat(a).st_mode & 0o001]
        hidden_dirs += closed[:1]
    for path in hidden_dirs:
        argv += ["--size", str(2**20), "--tmpfs", str(path)]
    for path in layout.hidden:
        if path.is_file():
            argv += ["--ro-bind", "/dev/null", str(path)]

    def mount_point(path: Path) -> list[str]:
        # Folders bwrap creates inside a tmpfs are 0700; the kernel's user must pass them.
        tmpfs = [Path("/tmp"), *hidden_dirs, layout.workspace]
        dirs = [a for a in reversed(path.parents) if any(a.is_relative_to(t) for t in tmpfs)]
        return [arg for a in dirs for arg in ("--perms", "0755", "--dir", str(a))]

    for path in python_dirs:
        # The interpreter may live under a folder the sandbox hides or replaces, /tmp included
        # (a checkout or virtualenv in /tmp): mount it back, read-only.
        if any(path.is_relative_to(h) for h in [Path("/tmp"), *hidden_dirs]):
            argv += [*mount_point(path), "--ro-bind", str(path), str(path)]
    # The workspace itself is hidden: only uploads (read-only) and scratch come back.
    argv += [*mount_point(layout.workspace), "--perms", "0755", "--size", str(2**20)]
    argv += ["--tmpfs", str(layout.workspace)]
    argv += [*mount_point(layout.uploads), "--ro-bind", str(layout.uploads), str(layout.uploads)]
    for path in (layout.scratch, layout.runtime_dir):
        argv += [*mount_point(path), "--bind", str(path), str(path)]
    argv += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    if os.geteuid() != 0:
        argv += ["--unshare-user"]
    argv += ["--chdir", str(layout.scratch), "--"]
    return argv


def kernel_env(report: ConfinementReport, layout: KernelLayout) -> dict[str, str]:
    """The allow-listed environment of a kernel: nothing from the parent's environment."""
    tmp = "/tmp" if report.filesystem == "bubblewrap" else str(layout.tmp_dir)
    threads = str(min(os.cpu_count() or 1, 4))
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(layout.scratch),
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        # Kept in the workspace so matplotlib's font cache is built once per conversation.
        "MPLCONFIGDIR": str(layout.scratch / ".cache" / "matplotlib"),
        "PLOTLY_RENDERER": "plotly_mimetype",
        "IPYTHONDIR": f"{tmp}/ipython",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MALLOC_ARENA_MAX": "2",
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
