"""SQLite persistence: threads, messages, datasets, runs, trials, LLM calls, response cache.

One database file in the data folder, opened in WAL mode with a busy timeout
so that the chat, training workers and the usage recorder can write side by
side. The schema is versioned with ``PRAGMA user_version``: each entry of
``_MIGRATIONS`` upgrades one version, so a fresh database and an older one
both open.

Callers in async code run these short, synchronous calls with
``asyncio.to_thread``; no transaction is ever held across an ``await``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_MIGRATIONS: tuple[str, ...] = (
    # 1: the initial schema
    """
    CREATE TABLE threads (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
        turn_id TEXT,
        role TEXT NOT NULL,
        content TEXT NOT NULL DEFAULT '',
        tool_calls TEXT NOT NULL DEFAULT '[]',
        tool_call_id TEXT,
        name TEXT,
        summary TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX messages_thread ON messages(thread_id, id);
    CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        n_rows INTEGER,
        n_columns INTEGER,
        profile TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX datasets_thread ON datasets(thread_id);
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        thread_id TEXT REFERENCES threads(id) ON DELETE CASCADE,
        dataset_id TEXT,
        status TEXT NOT NULL,
        plan TEXT,
        leaderboard TEXT NOT NULL DEFAULT '[]',
        metrics TEXT NOT NULL DEFAULT '{}',
        artifacts TEXT NOT NULL DEFAULT '{}',
        meta_features TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        created_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE INDEX runs_thread ON runs(thread_id, created_at);
    CREATE TABLE trials (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        family TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        score REAL,
        status TEXT NOT NULL DEFAULT 'ok',
        created_at REAL NOT NULL
    );
    CREATE TABLE llm_calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        thread_id TEXT,
        turn_id TEXT,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        tokens_estimated INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL,
        first_token_ms REAL,
        total_ms REAL,
        outcome TEXT NOT NULL,
        error_class TEXT,
        cache_hit INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE INDEX llm_calls_thread ON llm_calls(thread_id, created_at);
    CREATE INDEX llm_calls_day ON llm_calls(created_at);
    CREATE TABLE response_cache (
        key TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        response TEXT NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    """,
)

SCHEMA_VERSION = len(_MIGRATIONS)


class Database:
    """The project's SQLite database; one connection per thread, WAL mode.

    Args:
        path: The database file; its folder is created if missing.
        busy_timeout_s: How long a writer waits for another writer's lock.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection().execute("PRAGMA journal_mode=WAL")
        self._migrate()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (created on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=True,
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Run a read query and return every row."""
        return self.connection().execute(sql, params).fetchall()

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"The database {self.path.name} was written by a newer mlchat "
                    f"(schema {version}, this one knows {SCHEMA_VERSION}); upgrade mlchat."
                )
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")
                log.info("db_migrated version=%d", number)


def _statements(script: str) -> Iterator[str]:
    for statement in script.split(";"):
        if statement.strip():
            yield statement


def to_json(value: Any) -> str:
    """Serialise ``value`` for a JSON column (dataclasses and numpy scalars via ``default=str``)."""
    return json.dumps(value, default=str, separators=(",", ":"))


def now() -> float:
    """Wall-clock time as stored in ``created_at`` columns (seconds since the epoch)."""
    return time.time()
