"""Guarded file access below a trusted folder: no links, no escapes, no special files.

Every component of a path below ``root`` is opened with ``O_NOFOLLOW`` relative
to its parent's descriptor, so a symlink planted anywhere on the way (a
folder turned into a link, a file replaced by one) is refused instead of
followed, and ``..`` can never leave ``root``. The file itself must be a
regular file (``fstat`` after opening, so there is no gap between the check
and the use). Writes go to a temporary file in the same folder and are
renamed into place, so a reader never sees half a file.

``root`` itself is trusted (the app chose it); it is resolved once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from tools.errors import UserFacingError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


class UnsafePathError(UserFacingError):
    """A path below a guarded folder is a link, a special file, or leaves the folder."""


def _parts(root: Path, path: Path | str) -> tuple[Path, list[str]]:
    base = Path(os.path.realpath(root))
    candidate = Path(path)
    if candidate.is_absolute():
        # Compare lexically first: resolving would follow the very links we refuse.
        absolute = Path(os.path.normpath(candidate))
        if not absolute.is_relative_to(base):
            absolute = Path(
                os.path.normpath(Path(os.path.realpath(candidate.parent)) / candidate.name)
            )
            if not absolute.is_relative_to(base):
                raise UnsafePathError(f"“{candidate.name}” is outside the folder it must be in.")
        relative = absolute.relative_to(base)
    else:
        relative = PurePosixPath(candidate.as_posix())
    parts = [p for p in relative.parts if p not in ("", ".")]
    if any(p == ".." or "/" in p or "\x00" in p for p in parts):
        raise UnsafePathError(f"“{candidate.name}” is outside the folder it must be in.")
    return base, parts


@contextlib.contextmanager
def _dir_fd(root: Path, parts: list[str], *, create: bool = False) -> Iterator[int]:
    """A descriptor of ``root/parts...``, every step opened without following links."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o700, dir_fd=fd)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise _refusal(part, exc) from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _refusal(name: str, exc: OSError) -> UserFacingError:
    import errno

    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return UnsafePathError(f"“{name}” is a link or not a regular file; refusing to use it.")
    if exc.errno == errno.ENOENT:
        return UserFacingError(f"There is no file named “{name}”.")
    return UserFacingError(f"“{name}” cannot be opened ({os.strerror(exc.errno or 0)}).")


@contextlib.contextmanager
def open_regular(root: Path, path: Path | str) -> Iterator[int]:
    """A read-only descriptor of the regular file ``path`` below ``root`` (refusing links)."""
    base, parts = _parts(root, path)
    if not parts:
        raise UnsafePathError("A file name is needed.")
    with _dir_fd(base, parts[:-1]) as parent:
        try:
            fd = os.open(
                parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=parent
            )
        except OSError as exc:
            raise _refusal(parts[-1], exc) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePathError(f"“{parts[-1]}” is not a regular file; refusing to use it.")
        yield fd
    finally:
        os.close(fd)


def read_bytes(root: Path, path: Path | str, *, max_bytes: int | None = None) -> bytes:
    """The content of the regular file ``path`` below ``root``; refuses links and big files."""
    with open_regular(root, path) as fd:
        size = os.fstat(fd).st_size
        if max_bytes is not None and size > max_bytes:
            raise UserFacingError(
                f"“{Path(path).name}” is {size / 2**20:,.1f} MB, over the "
                f"{max_bytes / 2**20:,.1f} MB allowed here."
            )
        chunks = []
        while chunk := os.read(fd, _CHUNK):
            chunks.append(chunk)
            if max_bytes is not None and sum(map(len, chunks)) > max_bytes:
                raise UserFacingError(f"“{Path(path).name}” grew past the size allowed here.")
        return b"".join(chunks)


def read_text(root: Path, path: Path | str, *, max_bytes: int | None = None) -> str:
    """The UTF-8 text of the regular file ``path`` below ``root``."""
    return read_bytes(root, path, max_bytes=max_bytes).decode("utf-8", errors="replace")


def sha256_hex(data: bytes) -> str:
    """The hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def make_dirs(root: Path, path: Path | str) -> Path:
    """Create ``path`` (and its parents) below ``root``, mode 0700, refusing links on the way."""
    base, parts = _parts(root, path)
    with _dir_fd(base, parts, create=True):
        pass
    return base.joinpath(*parts)


def write_atomic(root: Path, path: Path | str, data: bytes, *, mode: int = 0o600) -> Path:
    """Write ``data`` to ``path`` below ``root``: a temporary file, then a rename.

    The folders on the way are created when missing and must not be links; an
    existing link at ``path`` is replaced by the file, never followed.
    """
    base, parts = _parts(root, path)
    if not parts:
        raise UnsafePathError("A file name is needed.")
    with _dir_fd(base, parts[:-1], create=True) as parent:
        temporary = f".{parts[-1][:100]}.{uuid.uuid4().hex[:8]}.tmp"
        fd = os.open(
            temporary,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            mode,
            dir_fd=parent,
        )
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(temporary, dir_fd=parent)
            raise
        os.close(fd)
        os.replace(temporary, parts[-1], src_dir_fd=parent, dst_dir_fd=parent)
    return base.joinpath(*parts)


def write_new(root: Path, path: Path | str, source: Path, *, mode: int = 0o600) -> Path | None:
    """Copy ``source`` to ``path`` below ``root`` only if no file is there yet; else ``None``.

    ``O_EXCL | O_NOFOLLOW``: an existing file or a planted link is never written through.
    """
    base, parts = _parts(root, path)
    with _dir_fd(base, parts[:-1], create=True) as parent:
        try:
            fd = os.open(
                parts[-1],
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                mode,
                dir_fd=parent,
            )
        except FileExistsError:
            return None
        try:
            with open(source, "rb") as src, os.fdopen(fd, "wb", closefd=False) as out:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
        except BaseException:
            os.close(fd)
            os.unlink(parts[-1], dir_fd=parent)
            raise
        os.close(fd)
    return base.joinpath(*parts)


def is_regular_beneath(root: Path, path: Path | str) -> bool:
    """True when ``path`` is a regular file below ``root`` reached without any link."""
    try:
        with open_regular(root, path):
            return True
    except UserFacingError:
        return False
