"""Chainlit's stored elements shared through an object store, for several app instances.

With an object-store ``MLCHAT_WORKSPACE_URL`` (``s3://bucket/mlchat``), each instance keeps
the elements it stores (attachments, figures, downloads) in its own data folder, as
:class:`~ui.data_layer.LocalStorageClient` does, and also writes them to
``<url>/.chat-files/<key>``. An instance asked for an element it does not have (the
conversation moved to it after a reload) fetches it from there first, so an older
message's figure or download is served by every instance.

Keys are the local client's normalised keys (safe segments only), so a remote name can
never point outside the local folder; a fetched file is size-checked and written
atomically, and only the app writes under ``.chat-files`` (the sandbox never sees it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
from pathlib import Path
from typing import Any

import fsspec

from ui.data_layer import FILE_ROUTE, LocalStorageClient

log = logging.getLogger(__name__)

MAX_FETCH_BYTES = 512 << 20
"""Largest element fetched from the object store (an upload is at most this big)."""
FOLDER = ".chat-files"


class MirroredStorageClient(LocalStorageClient):
    """A :class:`LocalStorageClient` whose files are also kept under an fsspec URL.

    Args:
        root: The local folder (this instance's copy).
        url: The workspace URL; elements go to ``<url>/.chat-files``.
        url_prefix: Path prefix of the read route.
    """

    def __init__(self, root: Path, url: str, *, url_prefix: str = FILE_ROUTE) -> None:
        super().__init__(root, url_prefix=url_prefix)
        self.fs, remote = fsspec.url_to_fs(url)
        self.remote = f"{remote.rstrip('/')}/{FOLDER}"

    async def upload_file(
        self,
        object_key: str,
        data: bytes | str,
        mime: str = "application/octet-stream",
        overwrite: bool = True,
        content_disposition: str | None = None,
    ) -> dict[str, Any]:
        """Store locally, then copy the file and its type to the object store."""
        stored = await super().upload_file(object_key, data, mime, overwrite, content_disposition)
        payload = data.encode("utf-8") if isinstance(data, str) else data
        await asyncio.to_thread(self._push, stored["object_key"], payload, mime)
        return stored

    async def delete_file(self, object_key: str) -> bool:
        """Remove the local copy and the object store's."""
        found = await super().delete_file(object_key)
        key = self.key_for(object_key)
        await asyncio.to_thread(self._remove, key)
        return found

    async def fetch(self, object_key: str) -> None:
        """Copy the element here from the object store if this instance lacks it."""
        try:
            path = self.path_for(object_key)
        except ValueError:
            return
        if not path.exists():
            await asyncio.to_thread(self._pull, self.key_for(object_key), path)

    def _push(self, key: str, payload: bytes, mime: str) -> None:
        target = f"{self.remote}/{key}"
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        self.fs.pipe_file(target, payload)
        self.fs.pipe_file(_mime_key(target), mime.encode("utf-8"))

    def _remove(self, key: str) -> None:
        for target in (f"{self.remote}/{key}", _mime_key(f"{self.remote}/{key}")):
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(target)

    def _pull(self, key: str, path: Path) -> None:
        source = f"{self.remote}/{key}"
        try:
            if self.fs.size(source) > MAX_FETCH_BYTES:
                log.warning("chat_file_fetch_refused reason=size")
                return
            payload = self.fs.cat_file(source)
            mime = self.fs.cat_file(_mime_key(source)) if self.fs.exists(_mime_key(source)) else b""
        except FileNotFoundError:
            return
        self._write(path, payload)
        if mime:
            self._write(self._mime_path(path), mime)
        log.info("chat_file_fetched bytes=%d", len(payload))


def _mime_key(target: str) -> str:
    folder, name = posixpath.split(target)
    return f"{folder}/.{name}.mime"
