"""Write a file all at once: a temporary file in the same folder, then a rename.

A reader (or a server restarted after a crash) sees the old file or the new
one, never half of one. The temporary file is created with ``O_EXCL |
O_NOFOLLOW`` (mode 0600) and ``fsync``-ed before :func:`os.replace`; a link
planted at the final name is replaced, never written through. The folder
itself is trusted (the caller made it); for files below a workspace root,
:func:`tools.io.safe_files.write_atomic` also refuses links on the way there.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tools.io import safe_files


@contextlib.contextmanager
def open_atomic(path: Path, *, text: bool = False) -> Iterator[IO[Any]]:
    """A file to write ``path`` through; it replaces ``path`` only when the block succeeds.

    Args:
        path: The file to (re)write; its folder is created when missing.
        text: Yield a UTF-8 text file (``newline=""``, as the csv module wants) instead of bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    temporary = f".{path.name[:100]}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        fd = os.open(
            temporary,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=folder,
        )
        try:
            with os.fdopen(fd, "wb") as raw:
                if text:
                    wrapper = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                    yield wrapper
                    wrapper.flush()
                    wrapper.detach()
                else:
                    yield raw
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(temporary, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=folder)
            raise
    finally:
        os.close(folder)


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`tools.io.safe_files.write_atomic`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return safe_files.write_atomic(path.parent, path.name, data)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))
