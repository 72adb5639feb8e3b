"""Workspaces under a URL: a conversation's app files mirrored to any fsspec file system.

``MLCHAT_WORKSPACE_URL`` names where workspaces live for every app instance:

- unset: ``<data>/workspaces`` on this machine (the default);
- a folder or ``file://`` URL (a shared mount, at the same path on every machine): the
  workspaces are there directly (:meth:`assistant.settings.Settings.workspace_for`);
- any other fsspec URL (``s3://bucket/mlchat``, ``gcs://...``, ``memory://...``): each
  instance works in its local folder, and :class:`WorkspaceMirror` pulls a conversation's
  files before a turn and pushes them after it.

The trust boundary holds on both sides. Only the app folders travel
(:data:`~assistant.workspace.APP_FOLDERS`; never ``scratch/``, which the sandbox
writes), and only regular files reached without links. A manifest of sha256
digests says what changed. Pulled bytes are written through
:func:`tools.io.safe_files.write_atomic` to a checked relative path inside an app folder,
so a remote name with ``..``, a link, or a file of ``scratch/`` is never written; a
model is still loaded only if its sha256 matches what the worker recorded.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import re
from pathlib import Path, PurePosixPath

import fsspec

from assistant.workspace import APP_FOLDERS
from tools.io import safe_files

log = logging.getLogger(__name__)

MANIFEST = ".mlchat-manifest.json"
"""Relative path -> sha256 of every mirrored file of one workspace."""


class WorkspaceMirror:
    """Copies one conversation's app files between its local folder and ``url``/<thread>.

    Args:
        url: An fsspec URL (``memory://mlchat``, ``s3://bucket/mlchat``).
        max_file_bytes: Largest file pulled (a bigger remote file is skipped and logged).
    """

    def __init__(self, url: str, *, max_file_bytes: int = 2 << 30) -> None:
        self.fs, root = fsspec.url_to_fs(url)
        self.root = root.rstrip("/")
        self.max_file_bytes = max_file_bytes

    def push(self, thread_folder: Path) -> int:
        """Upload the app files that changed since the last push; return how many."""
        remote = self._remote(thread_folder)
        manifest = self._manifest(remote)
        local = _local_files(thread_folder)
        sent = 0
        for relative, digest in local.items():
            if manifest.get(relative) == digest:
                continue
            data = safe_files.read_bytes(thread_folder, relative)
            if safe_files.sha256_hex(data) != digest:
                continue  # changed while we looked: the next push takes it
            target = f"{remote}/{relative}"
            self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
            self.fs.pipe_file(target, data)
            manifest[relative] = digest
            sent += 1
        if sent:
            self.fs.pipe_file(f"{remote}/{MANIFEST}", json.dumps(manifest, sort_keys=True).encode())
        log.info("workspace_pushed files=%d", sent)
        return sent

    def pull(self, thread_folder: Path) -> int:
        """Download the files the remote manifest lists that differ here; return how many."""
        remote = self._remote(thread_folder)
        manifest = self._manifest(remote)
        local = _local_files(thread_folder) if thread_folder.exists() else {}
        thread_folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        taken = 0
        for relative, digest in manifest.items():
            if not _is_app_path(relative):
                log.warning("workspace_pull_refused reason=path")
                continue
            if local.get(relative) == digest:
                continue
            target = f"{remote}/{relative}"
            if self.fs.size(target) > self.max_file_bytes:
                log.warning("workspace_pull_refused reason=size")
                continue
            data = self.fs.cat_file(target)
            if safe_files.sha256_hex(data) != digest:
                log.warning("workspace_pull_refused reason=digest")
                continue
            safe_files.write_atomic(thread_folder, relative, data)
            taken += 1
        log.info("workspace_pulled files=%d", taken)
        return taken

    def _remote(self, thread_folder: Path) -> str:
        return f"{self.root}/{thread_folder.name}"

    def _manifest(self, remote: str) -> dict[str, str]:
        path = f"{remote}/{MANIFEST}"
        if not self.fs.exists(path):
            return {}
        loaded = json.loads(self.fs.cat_file(path))
        return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


_SEGMENT = re.compile(r"[^/\x00]{1,255}")


def _is_app_path(relative: str) -> bool:
    parts = PurePosixPath(relative).parts
    return (
        len(parts) >= 2
        and parts[0] in APP_FOLDERS
        and all(_SEGMENT.fullmatch(p) and p not in (".", "..") for p in parts)
        and not relative.startswith("/")
    )


def _local_files(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of the regular files of the app folders (no links followed)."""
    found: dict[str, str] = {}
    for folder in APP_FOLDERS:
        base = root / folder
        if base.is_symlink() or not base.is_dir():
            continue
        for directory, subfolders, files in os.walk(base, followlinks=False):
            subfolders[:] = [d for d in subfolders if not Path(directory, d).is_symlink()]
            for name in files:
                relative = Path(directory, name).relative_to(root).as_posix()
                if not safe_files.is_regular_beneath(root, relative):
                    continue  # a link or a special file: never mirrored
                found[relative] = safe_files.sha256_hex(safe_files.read_bytes(root, relative))
    return found
