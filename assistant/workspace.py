"""The one door for a conversation's workspace files, and its trust boundary.

Layout of ``<data>/workspaces/<thread>/`` (the folder is the app's, mode 0700)::

    uploads/       attached files; the sandbox sees them read-only
    scratch/       the sandbox's own folder (its working directory): untrusted
    runs/<id>/     models, reports, model cards, training scripts, run figures
    figures/       figures the app drew from sandbox output
    predictions/   prediction CSVs
    outputs/       files the app copied out of scratch for the user

The sandbox can write only to ``scratch/``. Everything the app loads, serves
or unpickles lives in the other folders, and every read and write below the
workspace goes through :class:`Workspace`, which refuses links, escapes and
special files (:mod:`tools.io.safe_files`). What the sandbox made for the user
is copied out of scratch by :meth:`Workspace.copy_out`: regular files only,
size-capped, of an allowed type.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tools.errors import DataError, UserFacingError
from tools.io import safe_files
from tools.io.csv_safety import neutralise_csv_bytes
from tools.io.load import file_sha256

log = logging.getLogger(__name__)

APP_FOLDERS = ("uploads", "runs", "figures", "predictions", "outputs")
"""Folders only the app writes; ``scratch`` is the sandbox's."""

MAX_NAME_BYTES = 200
"""Longest stored file name in UTF-8 bytes (file systems allow 255)."""

COPY_OUT_SUFFIXES = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".txt": "text/plain",
    ".json": "application/json",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".parquet": "application/octet-stream",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
"""What may be copied out of scratch for the user, and its media type."""

_MAGIC = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".parquet": (b"PAR1",),
    ".xlsx": (b"PK\x03\x04",),
}


@dataclass(frozen=True, slots=True)
class Workspace:
    """One conversation's folder; every file operation below it is guarded."""

    root: Path

    @classmethod
    def at(cls, root: Path) -> Workspace:
        """The workspace at ``root``, created (0700) with its app folders when missing."""
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        real = Path(os.path.realpath(root))
        info = os.lstat(real)
        if not stat.S_ISDIR(info.st_mode):
            raise UserFacingError("The conversation's workspace is not a folder.")
        if info.st_mode & 0o067:  # group search (0o010) is how a local kernel reaches scratch
            os.chmod(real, 0o700 | (info.st_mode & 0o010))
        workspace = cls(real)
        for name in APP_FOLDERS:
            safe_files.make_dirs(real, name)
        return workspace

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    def run_dir(self, run_id: str) -> Path:
        """``runs/<run_id>``, created; refuses a planted link on the way."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", run_id):
            raise UserFacingError(f"“{run_id}” is not a run id.")
        return safe_files.make_dirs(self.root, Path("runs") / run_id)

    def folder(self, name: str) -> Path:
        """One of the app folders (``figures``, ``predictions``, ``outputs``), created."""
        if name not in APP_FOLDERS:
            raise ValueError(f"not an app folder: {name}")
        return safe_files.make_dirs(self.root, name)

    # -- guarded reads and writes ----------------------------------------------------

    def read_bytes(self, path: Path | str, *, max_bytes: int | None = None) -> bytes:
        """Read a regular file of an app folder (never scratch); refuses links."""
        self._app_part(path)
        return safe_files.read_bytes(self.root, path, max_bytes=max_bytes)

    def read_text(self, path: Path | str, *, max_bytes: int | None = None) -> str:
        """Read a UTF-8 text file of an app folder (never scratch); refuses links."""
        return self.read_bytes(path, max_bytes=max_bytes).decode("utf-8", errors="replace")

    def write_bytes(self, path: Path | str, data: bytes) -> Path:
        """Write a file of an app folder atomically (temporary file, then rename)."""
        self._app_part(path)
        return safe_files.write_atomic(self.root, path, data)

    def servable(self, path: Path | str) -> bool:
        """True when ``path`` is a regular file of an app folder reached without links."""
        try:
            self._app_part(path)
        except UserFacingError:
            return False
        return safe_files.is_regular_beneath(self.root, path)

    def _app_part(self, path: Path | str) -> None:
        candidate = Path(path)
        if candidate.is_absolute():
            lexical = Path(os.path.normpath(candidate))
            if not lexical.is_relative_to(self.root):
                raise safe_files.UnsafePathError(
                    f"“{candidate.name}” is outside this conversation's files."
                )
            candidate = lexical.relative_to(self.root)
        first = candidate.parts[0] if candidate.parts else ""
        if first not in APP_FOLDERS:
            raise safe_files.UnsafePathError(
                f"“{candidate.name}” is not one of this conversation's files."
            )

    # -- the doors in and out ------------------------------------------------------

    def add_upload(self, source: Path, name: str) -> Path:
        """Copy an uploaded file into ``uploads/`` under a safe, unused name; return its path.

        ``name`` is untrusted (the browser's or the terminal's): it is reduced by
        :func:`safe_file_name`. The copy never follows a link at the destination and
        never overwrites: ``data.csv`` becomes ``data-2.csv`` when taken, unless the
        file there has the same content, which is then reused.
        """
        safe = safe_file_name(name)
        stem, dot, suffix = safe.rpartition(".")
        if not dot:
            stem, suffix = safe, ""
        digest = None
        for index in range(1, 1000):
            candidate = safe if index == 1 else f"{stem}-{index}{dot}{suffix}"
            written = safe_files.write_new(self.root, Path("uploads") / candidate, source)
            if written is not None:
                return written
            if digest is None:
                digest = file_sha256(source)
            if safe_files.is_regular_beneath(self.root, Path("uploads") / candidate):
                existing = safe_files.read_bytes(self.root, Path("uploads") / candidate)
                if safe_files.sha256_hex(existing) == digest:
                    return self.uploads / candidate
        raise DataError(f"There are too many files named “{safe}” in this conversation.")

    def copy_out(self, name: str, *, max_bytes: int) -> Path:
        """Copy a file the sandbox wrote in ``scratch/`` into ``outputs/``; return the copy.

        Only a regular file reached without links, at most ``max_bytes``, with an
        allowed suffix whose content matches its type, is copied.
        """
        relative = Path(name)
        suffix = relative.suffix.lower()
        if suffix not in COPY_OUT_SUFFIXES:
            allowed = ", ".join(sorted(COPY_OUT_SUFFIXES))
            raise UserFacingError(f"“{relative.name}” is not a file type I hand out ({allowed}).")
        data = safe_files.read_bytes(self.scratch, relative, max_bytes=max_bytes)
        magic = _MAGIC.get(suffix)
        if magic is not None and not data.startswith(magic):
            raise UserFacingError(f"“{relative.name}” is not really a {suffix} file.")
        if magic is None and b"\x00" in data[:8192]:
            raise UserFacingError(f"“{relative.name}” is not a text file.")
        if suffix in (".csv", ".tsv"):  # formula cells written by sandboxed code stay text
            data = neutralise_csv_bytes(data, delimiter="\t" if suffix == ".tsv" else None)
        target = Path("outputs") / safe_file_name(relative.name)
        return safe_files.write_atomic(self.root, target, data)


def safe_file_name(name: str, *, max_bytes: int = MAX_NAME_BYTES) -> str:
    """A file name that cannot leave its folder: base name only, no control characters,
    at most ``max_bytes`` bytes of UTF-8 with its suffix kept."""
    name = unicodedata.normalize("NFC", name.replace("\x00", "")).replace("\\", "/")
    base = name.rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable())
    base = re.sub(r"\s+", " ", base).strip().lstrip(".")
    if not base:
        base = "upload.csv"
    stem, dot, suffix = base.rpartition(".")
    if not dot or len(suffix.encode()) > 16:
        stem, dot, suffix = base, "", ""
    room = max_bytes - len((dot + suffix).encode())
    stem = stem.encode()[:room].decode("utf-8", errors="ignore").rstrip() or "file"
    return stem + dot + suffix


def read_user_file(data_dir: Path, path: Path, *, max_bytes: int | None = None) -> bytes:
    """The bytes of an app-made file (figure, model, report, predictions) to show a person.

    ``path`` must lie in an app folder of some conversation's workspace under
    ``data_dir`` and be reached without links; anything else (scratch, the login
    secrets, the databases, a planted link) is refused with
    :class:`~tools.io.safe_files.UnsafePathError`.
    """
    lexical = Path(os.path.normpath(path))
    for workspaces in (data_dir / "workspaces", Path(os.path.realpath(data_dir / "workspaces"))):
        if lexical.is_relative_to(workspaces) and lexical != workspaces:
            thread = lexical.relative_to(workspaces).parts[0]
            root = Path(os.path.realpath(workspaces / thread))
            inside = root / lexical.relative_to(workspaces / thread)
            return Workspace(root).read_bytes(inside, max_bytes=max_bytes)
    raise safe_files.UnsafePathError(f"“{lexical.name}” is not one of the conversation's files.")
