"""Chainlit persistence for mlchat: the data layer, local file storage and the file route.

Part of :mod:`ui`, the only package that imports Chainlit.

Choice: we subclass Chainlit's own ``SQLAlchemyDataLayer`` rather than write a
``BaseDataLayer`` over ``assistant/store.py``. Its queries are the ones
Chainlit's frontend is tested against (history sidebar, resume, feedback,
search), it already runs on PostgreSQL through asyncpg and on SQLite through
aiosqlite, and what it lacks is small and fixable from outside:

- It creates no tables. :func:`create_schema` creates every column Chainlit
  2.12 writes (``Step.to_dict``/``Message.to_dict``/``Element.to_dict`` keys
  become column names), idempotently, for SQLite and PostgreSQL.
- SQLite cannot bind lists or dicts (thread and step ``tags``, ``modes``,
  ``playerConfig``). :meth:`MlchatDataLayer.execute_sql` JSON-encodes them
  per statement (lists stay lists on PostgreSQL, where ``tags`` is
  ``TEXT[]``); no process-wide ``sqlite3.register_adapter`` is needed.
- It swallows database errors and logs them with their bound parameters
  (message text). We log the error class and the statement's first words
  only, and count failures in ``failed_statements`` so tests can assert none.
- JSON columns come back as strings on SQLite (and from asyncpg). Threads are
  decoded before Chainlit hands them to the frontend or ``on_chat_resume``.
- ``create_element`` would fetch an element's ``url`` server-side (the SSRF of
  CVE-2026-22219) and read any ``path`` it is given (CVE-2026-22218). We
  persist only content or files inside the data folder.
- Thread ids come from the browser and are later pasted into an ``IN (...)``
  list by Chainlit; only UUID-shaped ids are written.

The Chainlit tables live in their own database file, ``chainlit.db`` in the
data folder, because ``store.py`` already has a ``threads`` table of its own
in ``mlchat.db``. ``MLCHAT_DATABASE_URL`` (``postgresql://...``) moves them to
PostgreSQL (schema ``public``; :mod:`assistant.database` puts mlchat's own tables in the
schema ``mlchat`` of the same database).

Elements and uploaded files are stored by :class:`LocalStorageClient` under
``<data>/files/`` and read back through :func:`ui.file_route.mount_file_route`, which checks
the login cookie and that the file belongs to the logged-in user, and which
cannot reach outside that folder.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.types import ThreadDict
from sqlalchemy import event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from assistant.connection_secrets import mask_urls
from tools.errors import UserFacingError
from tools.io import safe_files

log = logging.getLogger(__name__)

FILE_ROUTE = "/mlchat/files"
"""URL prefix under which stored elements and uploads are served."""

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    "id" TEXT PRIMARY KEY,
    "identifier" TEXT NOT NULL UNIQUE,
    "metadata" TEXT NOT NULL DEFAULT '{}',
    "createdAt" TEXT
);
CREATE TABLE IF NOT EXISTS threads (
    "id" TEXT PRIMARY KEY,
    "createdAt" TEXT,
    "name" TEXT,
    "userId" TEXT REFERENCES users("id") ON DELETE CASCADE,
    "userIdentifier" TEXT,
    "tags" TEXT,
    "metadata" TEXT
);
CREATE INDEX IF NOT EXISTS threads_user ON threads("userId");
CREATE TABLE IF NOT EXISTS steps (
    "id" TEXT PRIMARY KEY,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "threadId" TEXT NOT NULL,
    "parentId" TEXT,
    "streaming" BOOLEAN NOT NULL DEFAULT 0,
    "waitForAnswer" BOOLEAN,
    "isError" BOOLEAN,
    "metadata" TEXT,
    "tags" TEXT,
    "input" TEXT,
    "output" TEXT,
    "createdAt" TEXT,
    "command" TEXT,
    "start" TEXT,
    "end" TEXT,
    "generation" TEXT,
    "showInput" TEXT,
    "language" TEXT,
    "indent" INTEGER,
    "defaultOpen" BOOLEAN,
    "autoCollapse" BOOLEAN,
    "modes" TEXT,
    "icon" TEXT
);
CREATE INDEX IF NOT EXISTS steps_thread ON steps("threadId", "createdAt");
CREATE TABLE IF NOT EXISTS elements (
    "id" TEXT PRIMARY KEY,
    "threadId" TEXT,
    "type" TEXT,
    "url" TEXT,
    "chainlitKey" TEXT,
    "name" TEXT NOT NULL,
    "display" TEXT,
    "objectKey" TEXT,
    "size" TEXT,
    "page" INTEGER,
    "language" TEXT,
    "forId" TEXT,
    "mime" TEXT,
    "props" TEXT DEFAULT '{}',
    "autoPlay" BOOLEAN,
    "playerConfig" TEXT
);
CREATE INDEX IF NOT EXISTS elements_thread ON elements("threadId");
CREATE TABLE IF NOT EXISTS feedbacks (
    "id" TEXT PRIMARY KEY,
    "forId" TEXT NOT NULL,
    "threadId" TEXT NOT NULL,
    "value" INTEGER NOT NULL,
    "comment" TEXT
);
CREATE INDEX IF NOT EXISTS feedbacks_step ON feedbacks("forId");
"""
# Steps and elements carry no foreign key to threads: Chainlit sends a
# message's attachments in a task that can reach the database before the
# thread row exists, and deletes children itself in ``delete_thread``.

_POSTGRES_SCHEMA = (
    _SQLITE_SCHEMA.replace('"tags" TEXT', '"tags" TEXT[]')
    .replace("\"metadata\" TEXT NOT NULL DEFAULT '{}'", "\"metadata\" JSONB NOT NULL DEFAULT '{}'")
    .replace('"metadata" TEXT', '"metadata" JSONB')
    .replace('"generation" TEXT', '"generation" JSONB')
    .replace('"props" TEXT DEFAULT', '"props" JSONB DEFAULT')
    .replace('"playerConfig" TEXT', '"playerConfig" JSONB')
    .replace('"modes" TEXT', '"modes" JSONB')
    .replace("DEFAULT 0", "DEFAULT false")
)

_JSON_FIELDS_THREAD = ("metadata", "tags")
_JSON_FIELDS_STEP = ("metadata", "tags", "generation", "modes")
_JSON_FIELDS_ELEMENT = ("props", "playerConfig")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SAFE_CHARS = re.compile(r"[^A-Za-z0-9._()+ -]")


def chat_database_url(database_url: str | None, data_dir: Path) -> str:
    """The async SQLAlchemy URL for Chainlit's tables.

    Args:
        database_url: ``MLCHAT_DATABASE_URL``; ``None`` means SQLite in ``data_dir``.
            ``postgresql://``, ``postgres://`` and psycopg2 URLs are given the asyncpg driver.
        data_dir: The data folder holding ``chainlit.db`` when no URL is set.
    """
    if not database_url:
        return f"sqlite+aiosqlite:///{data_dir / 'chainlit.db'}"
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if database_url.startswith(prefix):
            return "postgresql+asyncpg://" + database_url[len(prefix) :]
    if database_url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + database_url[len("sqlite:///") :]
    return database_url


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _statements(url: str) -> list[str]:
    schema = _SQLITE_SCHEMA if _is_sqlite(url) else _POSTGRES_SCHEMA
    return [s.strip() for s in schema.split(";") if s.strip()]


async def create_schema(url: str) -> None:
    """Create Chainlit's tables at ``url`` if missing (safe to run on every start)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            if not _is_sqlite(url):  # instances starting together would race on CREATE TABLE
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext('chainlit.schema'))")
                )
            for statement in _statements(url):
                await conn.execute(text(statement))
    except ModuleNotFoundError as exc:
        raise UserFacingError(
            f"The database URL needs the Python package “{exc.name}”. "
            f"Install it with `pip install {exc.name}` and start mlchat again."
        ) from exc
    finally:
        await engine.dispose()


def _run_coroutine_sync(factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(factory())).result()


def _decode_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _safe_segment(segment: str) -> str:
    cleaned = _SAFE_CHARS.sub("_", segment.replace("\x00", "")).strip(" ")
    if cleaned in ("", ".", ".."):
        return "_"
    if cleaned.startswith("."):
        cleaned = "_" + cleaned[1:]
    return cleaned[:120]


class LocalStorageClient(BaseStorageClient):
    """Chainlit storage on the local disk, inside one folder.

    Object keys (Chainlit builds them as ``<user id>/<element id>/<file name>``)
    are mapped segment by segment to safe names, so no key can name a path
    outside ``root``. Read URLs point at :data:`FILE_ROUTE`.

    Args:
        root: The folder holding every stored file; created if missing.
        url_prefix: Path prefix of the read route (include Chainlit's root path
            when it is served under one).
    """

    def __init__(self, root: Path, *, url_prefix: str = FILE_ROUTE) -> None:
        self.root = root.resolve()
        self.url_prefix = url_prefix.rstrip("/")
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, object_key: str) -> Path:
        """The file for ``object_key``; raises ``ValueError`` if it would leave ``root``."""
        segments = [_safe_segment(s) for s in object_key.replace("\\", "/").split("/") if s]
        if not segments:
            raise ValueError("empty object key")
        path = self.root.joinpath(*segments)
        parent = path.parent.resolve()
        if parent != self.root and self.root not in parent.parents:
            raise ValueError("object key leaves the storage folder")
        return path

    def key_for(self, object_key: str) -> str:
        """The normalised key, as the file is stored."""
        return self.path_for(object_key).relative_to(self.root).as_posix()

    async def upload_file(
        self,
        object_key: str,
        data: bytes | str,
        mime: str = "application/octet-stream",
        overwrite: bool = True,
        content_disposition: str | None = None,
    ) -> dict[str, Any]:
        """Write ``data`` under ``object_key`` atomically; return its key and read URL."""
        path = self.path_for(object_key)
        if path.exists() and not overwrite:
            raise FileExistsError(f"object {self.key_for(object_key)} exists")
        payload = data.encode("utf-8") if isinstance(data, str) else data
        await asyncio.to_thread(self._write, path, payload)
        # Element keys often have no extension (a Plotly figure is named by its title), so
        # the type Chainlit gave is kept beside the file; the frontend parses JSON only when
        # it is served as application/json.
        await asyncio.to_thread(self._write, self._mime_path(path), mime.encode("utf-8"))
        key = self.key_for(object_key)
        return {"object_key": key, "url": await self.get_read_url(key)}

    def _write(self, path: Path, payload: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(payload)
        os.replace(temporary, path)

    async def delete_file(self, object_key: str) -> bool:
        """Remove the object; ``False`` when it did not exist."""
        path = self.path_for(object_key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    async def fetch(self, object_key: str) -> None:
        """Make ``object_key`` available here before it is served (everything is, locally)."""

    async def get_read_url(self, object_key: str) -> str:
        """The URL under :data:`FILE_ROUTE` that serves ``object_key``."""
        return f"{self.url_prefix}/{quote(self.key_for(object_key))}"

    async def close(self) -> None:
        """Nothing to release."""

    @staticmethod
    def _mime_path(path: Path) -> Path:
        return path.with_name(f".{path.name}.mime")

    def stored_mime(self, path: Path) -> str | None:
        """The MIME type the file was stored with, if it was recorded."""
        try:
            return self._mime_path(path).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def stored_file(self, object_key: str) -> Path | None:
        """The regular file stored under ``object_key``, or ``None``.

        Symlinks are never followed, and keys outside the folder give ``None``.
        """
        try:
            path = self.path_for(object_key)
        except ValueError:
            return None
        if path.is_symlink() or not path.is_file() or path.name.startswith("."):
            return None
        return path


class MlchatDataLayer(SQLAlchemyDataLayer):
    """Chainlit's SQLAlchemy data layer made safe and visible (see the module docstring).

    Args:
        url: Async SQLAlchemy URL (:func:`chat_database_url`); the schema must exist.
        storage: Where elements and uploaded files are written.
        readable_roots: Folders an element's ``path`` may point into: Chainlit's own
            upload folder. The app's files are sent as content, read through
            :func:`assistant.workspace.read_user_file`.
    """

    def __init__(
        self, url: str, *, storage: LocalStorageClient, readable_roots: tuple[Path, ...]
    ) -> None:
        connect_args: dict[str, Any] = {"timeout": 30} if _is_sqlite(url) else {}
        super().__init__(conninfo=url, connect_args=connect_args, storage_provider=storage)
        self.is_sqlite = _is_sqlite(url)
        self.readable_roots = tuple(
            dict.fromkeys(p for root in readable_roots for p in (root, root.resolve()))
        )
        self.failed_statements = 0
        if self.is_sqlite:
            # Chainlit's default pool (5 + 10 connections, 30 s wait) ran dry under 20 busy
            # sessions and statements were dropped; a SQLite connection is cheap to open, so
            # open one per session instead of queueing for a pooled one.
            self.engine = create_async_engine(url, connect_args=connect_args, poolclass=NullPool)
            self.async_session = sessionmaker(
                bind=self.engine, expire_on_commit=False, class_=AsyncSession
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    async def execute_sql(
        self, query: str, parameters: dict[str, Any]
    ) -> list[dict[str, Any]] | int | None:
        """Run one statement; JSON-encode what the driver cannot bind; log failures safely."""
        bound = {key: self._adapt(value) for key, value in parameters.items()}
        async with self.async_session() as session:
            try:
                await session.begin()
                result = await session.execute(text(query), bound)
                await session.commit()
                if result.returns_rows:
                    return self.clean_result([dict(row._mapping) for row in result.fetchall()])
                return result.rowcount
            except (SQLAlchemyError, ValueError, TypeError) as exc:
                await session.rollback()
                self.failed_statements += 1
                words = " ".join(query.split()[:4])
                log.error("chat_sql_failed statement=%r error=%s", words, type(exc).__name__)
                return None

    def _adapt(self, value: Any) -> Any:
        if isinstance(value, str) and "://" in value:
            return mask_urls(value)  # a database password typed in a message is not kept
        if isinstance(value, dict):
            return json.dumps(value)
        if isinstance(value, list | tuple) and self.is_sqlite:
            return json.dumps(list(value))
        return value

    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        """Create or update a thread row; ids that are not UUIDs are refused."""
        if not _UUID.match(thread_id):
            log.warning("chat_thread_refused reason=id_not_uuid")
            return
        await super().update_thread(thread_id, name, user_id, metadata, tags)

    async def get_all_user_threads(
        self, user_id: str | None = None, thread_id: str | None = None
    ) -> list[ThreadDict] | None:
        """Chainlit's thread query, with JSON columns decoded to lists and dicts."""
        threads = await super().get_all_user_threads(user_id=user_id, thread_id=thread_id)
        for thread in threads or []:
            for key in _JSON_FIELDS_THREAD:
                thread[key] = _decode_json(thread.get(key))  # type: ignore[literal-required]
            for step in thread.get("steps") or []:
                for key in _JSON_FIELDS_STEP:
                    if key in step:
                        step[key] = _decode_json(step[key])  # type: ignore[literal-required]
            for element in thread.get("elements") or []:
                for key in _JSON_FIELDS_ELEMENT:
                    if key in element:
                        element[key] = _decode_json(element[key])  # type: ignore[literal-required]
        return threads

    async def file_owner(self, object_key: str) -> str | None:
        """The user id owning the thread whose element is stored under ``object_key``."""
        rows = await self.execute_sql(
            'SELECT t."userId" AS owner FROM elements e JOIN threads t ON e."threadId" = t."id" '
            'WHERE e."objectKey" = :key',
            {"key": object_key},
        )
        if isinstance(rows, list) and rows:
            return rows[0]["owner"]
        return None

    async def create_element(self, element: Any) -> None:
        """Persist an element from its content or a file inside the data folder only.

        Elements that only carry a URL are shown but not persisted: fetching
        it server-side is the SSRF of CVE-2026-22219.
        """
        if element.path is not None:
            if not self._readable(Path(element.path)):
                log.warning("chat_element_refused reason=path_not_readable")
                return
        elif element.content is None and element.url:
            log.info("chat_element_not_persisted reason=url_only")
            return
        await self._claim_thread(element.thread_id)
        await super().create_element(element)

    async def _claim_thread(self, thread_id: str | None) -> None:
        """Give the thread row the session's user as owner if it has none (creating it).

        Chainlit persists a first message's attachments in a task that races the
        one creating the thread. When the attachment won, its file was keyed
        under ``unknown/`` and had no owner until the thread row landed, so the
        file route answered 404 for a file just uploaded (and forever, had that
        write failed). A thread that has an owner never gets another one.
        """
        from chainlit.context import ChainlitContextException, get_context

        try:
            user = get_context().session.user
        except ChainlitContextException:
            return
        user_id = getattr(user, "id", None)
        if not thread_id or user_id is None or not _UUID.match(thread_id):
            log.info("chat_thread_claim_skipped has_user_id=%s", user_id is not None)
            return
        await self.execute_sql(
            'INSERT INTO threads ("id", "createdAt", "userId", "userIdentifier") '
            "VALUES (:id, :created, :user_id, :identifier) "
            'ON CONFLICT ("id") DO UPDATE SET "userId" = excluded."userId", '
            '"userIdentifier" = excluded."userIdentifier" WHERE threads."userId" IS NULL',
            {
                "id": thread_id,
                "created": await self.get_current_timestamp(),
                "user_id": user_id,
                "identifier": getattr(user, "identifier", None),
            },
        )

    def _readable(self, path: Path) -> bool:
        """A path an element may be persisted from: a regular file, reached without links,
        inside one of the readable roots (Chainlit's own upload folder)."""
        lexical = Path(os.path.normpath(path))
        for root in self.readable_roots:
            if lexical.is_relative_to(root) and safe_files.is_regular_beneath(root, lexical):
                return True
        return False


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def build_data_layer(
    data_dir: Path,
    *,
    database_url: str | None = None,
    url_prefix: str = FILE_ROUTE,
    files_dir: Path | None = None,
    files_url: str | None = None,
) -> MlchatDataLayer:
    """Create the schema if needed and return the data layer for ``data_dir``.

    Safe to call from inside a running event loop (the schema is created on a
    helper thread with its own loop).

    Args:
        data_dir: The data folder (database file, ``files/`` storage).
        database_url: ``MLCHAT_DATABASE_URL``; ``None`` means SQLite in the data folder.
        url_prefix: Path of the file route, with Chainlit's root path if any.
        files_dir: Where stored elements live; ``<data>/files`` when omitted (a shared
            folder lets several app instances serve each other's elements).
        files_url: An object-store workspace URL: elements are also kept there, so every
            instance serves them (:class:`ui.mirrored_storage.MirroredStorageClient`).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    url = chat_database_url(database_url, data_dir)
    _run_coroutine_sync(lambda: create_schema(url))
    root = files_dir or data_dir / "files"
    storage = LocalStorageClient(root, url_prefix=url_prefix)
    if files_url:
        from ui.mirrored_storage import MirroredStorageClient

        storage = MirroredStorageClient(root, files_url, url_prefix=url_prefix)
    return MlchatDataLayer(url, storage=storage, readable_roots=(upload_folder(data_dir),))


def upload_folder(data_dir: Path) -> Path:
    """Where Chainlit keeps uploads in progress (see :func:`use_upload_folder`)."""
    return data_dir / "tmp" / "uploads"


def use_upload_folder(folder: Path) -> None:
    """Make Chainlit keep uploads in progress in ``folder`` (inside the data folder).

    Chainlit writes each upload to ``<FILES_DIRECTORY>/<session id>/`` before
    ``on_message`` sees it and reads the constant at call time; by default it
    is ``.files`` in the working directory, outside the data folder.
    """
    import chainlit.config

    folder.mkdir(parents=True, exist_ok=True)
    chainlit.config.FILES_DIRECTORY = folder
