"""A disk quota for the sandbox's scratch folder: a loop-mounted ext4 image of fixed size.

Used when mlchat runs as root and ``mkfs.ext4`` and ``mount`` exist (and the
kernel allows loop mounts); otherwise the quota is not enforced and the welcome
message says so. The image lives beside ``scratch/`` in the workspace (the
sandbox never sees it) and is sparse; it is mounted while a kernel runs and
unmounted when the executor closes, so files in scratch persist between kernels.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

IMAGE_NAME = ".scratch.ext4"


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


@functools.cache
def disk_quota_supported() -> bool:
    """True when a scratch image can be made and mounted here (probed once)."""
    if os.geteuid() != 0 or not (shutil.which("mkfs.ext4") and shutil.which("mount")):
        return False
    probe = Path(tempfile.mkdtemp(prefix="mlchat-disk-probe-"))
    try:
        mount_scratch(probe / "scratch", size_mb=8, owner=None)
        unmount_scratch(probe / "scratch")
        return True
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("sandbox_disk_quota_unavailable error=%s", exc)
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def mount_scratch(scratch: Path, *, size_mb: int, owner: int | None) -> None:
    """Mount ``scratch`` from its image (made on first use), owned by ``owner`` when given."""
    if os.path.ismount(scratch):
        return
    image = scratch.parent / IMAGE_NAME
    scratch.mkdir(mode=0o700, exist_ok=True)
    if not image.exists():
        with open(image, "xb") as handle:
            handle.truncate(size_mb * 2**20)
        os.chmod(image, 0o600)
        _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "root_owner=0:0", str(image)])
    _run(["mount", "-o", "loop,nosuid,nodev", str(image), str(scratch)])
    lost = scratch / "lost+found"
    if lost.is_dir() and not any(lost.iterdir()):
        lost.rmdir()
    if owner is not None:
        os.chown(scratch, owner, owner)
    os.chmod(scratch, 0o700)


def unmount_scratch(scratch: Path) -> None:
    """Unmount ``scratch`` if it is mounted (the loop device goes with it)."""
    if os.path.ismount(scratch):
        try:
            _run(["umount", str(scratch)])
        except subprocess.CalledProcessError:
            _run(["umount", "-l", str(scratch)])
