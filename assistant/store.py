"""Persistence: threads, messages, datasets, runs, trials, LLM calls, response cache.

By default one SQLite file in the data folder (WAL mode, a busy timeout, so
that the chat, training workers and the usage recorder can write side by
side); with ``MLCHAT_DATABASE_URL=postgresql://...`` the same tables on
PostgreSQL (see :mod:`assistant.database`, which owns what differs between
the two). Each entry of ``_MIGRATIONS`` upgrades one schema version, so a
fresh database and an older one both open. The SQL here is the subset both
engines accept.

Callers in async code run these short, synchronous calls with
``asyncio.to_thread``; no transaction is ever held across an ``await``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.database import Connection, Row
from assistant.database import Database as _Database

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
    # 2: opaque provider data echoed back with assistant messages (thought signatures)
    """
    ALTER TABLE messages ADD COLUMN provider_state TEXT NOT NULL DEFAULT '{}';
    """,
    # 3: the prompt (system + history + tool results) the agent sent, counted by us
    """
    ALTER TABLE llm_calls ADD COLUMN prompt_tokens INTEGER;
    """,
    # 4: the process that runs a training ("<pid>:<start ticks>"), and when the user was told
    # that a run was interrupted (crash recovery)
    """
    ALTER TABLE runs ADD COLUMN owner TEXT;
    ALTER TABLE runs ADD COLUMN notified_at REAL;
    """,
    # 5: the response cache is scoped to a conversation and an endpoint, and bounded by age
    # (its rows are only a cache: dropping the old, unscoped ones loses nothing)
    """
    DROP TABLE response_cache;
    CREATE TABLE response_cache (
        key TEXT PRIMARY KEY,
        thread_id TEXT,
        provider TEXT NOT NULL,
        endpoint TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL,
        response TEXT NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE INDEX response_cache_age ON response_cache(created_at);
    """,
    # 6: the structured facts of a tool result, which the grounding check reads
    """
    ALTER TABLE messages ADD COLUMN facts TEXT NOT NULL DEFAULT '{}';
    """,
    # 7: prompt-cache writes (Anthropic bills them above the input rate)
    """
    ALTER TABLE llm_calls ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
    """,
    # 8: a tool result that reports an error (flagged on the wire: Anthropic is_error, Gemini error)
    """
    ALTER TABLE messages ADD COLUMN is_error INTEGER NOT NULL DEFAULT 0;
    """,
)

SCHEMA_VERSION = len(_MIGRATIONS)


class Database(_Database):
    """The project's database (SQLite file or PostgreSQL URL) at the latest schema.

    Args:
        target: A SQLite file (the default, in the data folder) or a database URL
            (``MLCHAT_DATABASE_URL``, e.g. ``postgresql://...``).
        busy_timeout_s: How long a SQLite writer waits for another writer's lock.
    """

    def __init__(self, target: Path | str, *, busy_timeout_s: float = 30.0) -> None:
        super().__init__(target, migrations=_MIGRATIONS, busy_timeout_s=busy_timeout_s)


def to_json(value: Any) -> str:
    """Serialise ``value`` for a JSON column (dataclasses and numpy scalars via ``default=str``)."""
    return json.dumps(value, default=str, separators=(",", ":"))


def now() -> float:
    """Wall-clock time as stored in ``created_at`` columns (seconds since the epoch)."""
    return time.time()


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message row as the agent reads it back."""

    id: int
    role: str
    content: str
    tool_calls: tuple[dict[str, str], ...]
    tool_call_id: str | None
    name: str | None
    summary: str | None
    turn_id: str | None
    provider_state: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    """Structured facts of a tool result (``ToolResult.facts``), for the grounding check."""
    is_error: bool = False
    """A tool result that reports a failure."""


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    """A file attached to a conversation."""

    id: str
    thread_id: str
    name: str
    path: Path
    sha256: str
    n_rows: int | None
    n_columns: int | None
    created_at: float


class ConversationStore:
    """Threads, messages and datasets of conversations, on a :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_thread(self, thread_id: str, *, title: str = "") -> None:
        """Create the thread if it does not exist yet."""
        stamp = now()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO threads(id, title, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO NOTHING",
                (thread_id, title, stamp, stamp),
            )

    def thread_exists(self, thread_id: str) -> bool:
        """Whether ``thread_id`` names a stored conversation."""
        return bool(self.db.query("SELECT 1 FROM threads WHERE id = ?", (thread_id,)))

    def add_messages(
        self,
        thread_id: str,
        messages: list[dict[str, Any]],
        *,
        turn_id: str | None = None,
        also: Callable[[Connection], object] | None = None,
    ) -> list[int]:
        """Append messages atomically; each dict has ``role`` and optional ``content``,
        ``tool_calls``, ``tool_call_id``, ``name``, ``summary``, ``provider_state``, ``facts``,
        ``is_error``."""
        stamp = now()
        ids: list[int] = []
        with self.db.transaction() as conn:
            for message in messages:
                cursor = conn.execute(
                    "INSERT INTO messages(thread_id, turn_id, role, content, tool_calls, tool_call_id,"
                    " name, summary, provider_state, facts, is_error, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        thread_id,
                        turn_id,
                        message["role"],
                        message.get("content", ""),
                        to_json(list(message.get("tool_calls", ()))),
                        message.get("tool_call_id"),
                        message.get("name"),
                        message.get("summary"),
                        to_json(message.get("provider_state") or {}),
                        to_json(message.get("facts") or {}),
                        int(bool(message.get("is_error"))),
                        stamp,
                    ),
                )
                ids.append(int(cursor.scalar()))
            conn.execute("UPDATE threads SET updated_at = ? WHERE id = ?", (stamp, thread_id))
            if also is not None:
                also(conn)  # e.g. the usage rows of the model call that wrote these messages
        return ids

    def messages(self, thread_id: str) -> list[StoredMessage]:
        """Every message of the thread, oldest first."""
        rows = self.db.query(
            "SELECT id, role, content, tool_calls, tool_call_id, name, summary, turn_id, provider_state,"
            " facts, is_error FROM messages WHERE thread_id = ? ORDER BY id",
            (thread_id,),
        )
        return [
            StoredMessage(
                id=row["id"],
                role=row["role"],
                content=row["content"],
                tool_calls=tuple(json.loads(row["tool_calls"] or "[]")),
                tool_call_id=row["tool_call_id"],
                name=row["name"],
                summary=row["summary"],
                turn_id=row["turn_id"],
                provider_state=json.loads(row["provider_state"] or "{}"),
                facts=json.loads(row["facts"] or "{}"),
                is_error=bool(row["is_error"]),
            )
            for row in rows
        ]

    def drop_last_replies(self, thread_id: str) -> tuple[str, str] | None:
        """Delete everything after the thread's last message from the user (for a regenerate).

        Returns that message's ``(turn_id, content)``, or ``None`` when there is none.
        Check messages the loop stores under the user role carry a ``name``; the
        user's own messages do not.
        """
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT id, turn_id, content FROM messages WHERE thread_id = ? AND role = 'user'"
                " AND name IS NULL ORDER BY id DESC LIMIT 1",
                (thread_id,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "DELETE FROM messages WHERE thread_id = ? AND id > ?", (thread_id, row["id"])
            )
        return str(row["turn_id"] or ""), str(row["content"])

    def add_dataset(
        self,
        thread_id: str,
        *,
        name: str,
        path: Path,
        sha256: str,
        n_rows: int | None = None,
        n_columns: int | None = None,
        profile: dict[str, Any] | None = None,
    ) -> DatasetRecord:
        """Record an attached file; the same content attached twice keeps one record."""
        existing = [d for d in self.datasets(thread_id) if d.sha256 == sha256 and d.name == name]
        if existing:
            return existing[0]
        dataset_id = f"d{len(self.datasets(thread_id)) + 1}"
        stamp = now()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO datasets(id, thread_id, name, path, sha256, n_rows, n_columns, profile,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    f"{thread_id}:{dataset_id}",
                    thread_id,
                    name,
                    str(path),
                    sha256,
                    n_rows,
                    n_columns,
                    to_json(profile) if profile is not None else None,
                    stamp,
                ),
            )
        return DatasetRecord(dataset_id, thread_id, name, path, sha256, n_rows, n_columns, stamp)

    def datasets(self, thread_id: str) -> list[DatasetRecord]:
        """The thread's datasets, oldest first; ids are ``d1``, ``d2``, ... within the thread."""
        rows = self.db.query(
            "SELECT id, name, path, sha256, n_rows, n_columns, created_at FROM datasets "
            "WHERE thread_id = ? ORDER BY created_at, LENGTH(id), id",
            (thread_id,),
        )
        return [
            DatasetRecord(
                id=row["id"].split(":", 1)[1],
                thread_id=thread_id,
                name=row["name"],
                path=Path(row["path"]),
                sha256=row["sha256"],
                n_rows=row["n_rows"],
                n_columns=row["n_columns"],
                created_at=row["created_at"],
            )
            for row in rows
        ]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A training run of a conversation."""

    id: str
    thread_id: str | None
    dataset_id: str | None
    status: str
    """``running``, ``finished``, ``stopped``, ``failed`` or ``interrupted`` (the app died)."""
    plan: dict[str, Any]
    leaderboard: list[dict[str, Any]]
    metrics: dict[str, Any]
    artifacts: dict[str, Any]
    meta_features: dict[str, Any]
    error: str | None
    created_at: float
    finished_at: float | None


class RunStore:
    """Training runs and their trials."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def start(
        self,
        run_id: str,
        *,
        thread_id: str | None,
        dataset_id: str | None,
        plan: dict[str, Any],
        owner: str | None = None,
    ) -> None:
        """Record a run that is starting in the process ``owner`` (see :mod:`assistant.processes`)."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO runs(id, thread_id, dataset_id, status, plan, owner, created_at) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?)",
                (run_id, thread_id, dataset_id, to_json(plan), owner, now()),
            )

    def mark_interrupted(self, *, is_alive: Callable[[str | None], bool]) -> list[str]:
        """Mark ``running`` runs whose owner process is gone as ``interrupted``; return their ids.

        A run owned by a process that ``is_alive`` says still runs (another live
        server on the same data folder, or this one) is left alone.
        """
        rows = self.db.query("SELECT id, owner FROM runs WHERE status = 'running'")
        dead = [row["id"] for row in rows if not is_alive(row["owner"])]
        if not dead:
            return []
        with self.db.transaction() as conn:
            for run_id in dead:
                conn.execute(
                    "UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? "
                    "WHERE id = ? AND status = 'running'",
                    (now(), "The app stopped while this run was training.", run_id),
                )
        log.info("runs_interrupted count=%d", len(dead))
        return dead

    def take_interrupted_notice(self, thread_id: str) -> RunRecord | None:
        """The thread's newest interrupted run the user was not told about yet, now marked told.

        Each interrupted run is returned once; older untold ones are marked told with it.
        """
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT * FROM runs WHERE thread_id = ? AND status = 'interrupted' "
                "AND notified_at IS NULL ORDER BY created_at DESC, id DESC",
                (thread_id,),
            ).fetchall()
            stamp = now()
            for row in rows:
                conn.execute("UPDATE runs SET notified_at = ? WHERE id = ?", (stamp, row["id"]))
        return _run_from_row(rows[0]) if rows else None

    def update_leaderboard(self, run_id: str, leaderboard: list[dict[str, Any]]) -> None:
        """Replace the run's leaderboard so far (kept if the run dies)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE runs SET leaderboard = ? WHERE id = ?", (to_json(leaderboard), run_id)
            )

    def finish(
        self,
        run_id: str,
        *,
        status: str,
        plan: dict[str, Any] | None = None,
        leaderboard: list[dict[str, Any]] | None = None,
        metrics: dict[str, Any] | None = None,
        artifacts: dict[str, Any] | None = None,
        meta_features: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Mark the run finished / stopped / failed; ``None`` fields keep their stored value."""
        assignments = ["status = ?", "finished_at = ?", "error = ?"]
        values: list[Any] = [status, now(), error]
        for column, value in (
            ("plan", plan),
            ("leaderboard", leaderboard),
            ("metrics", metrics),
            ("artifacts", artifacts),
            ("meta_features", meta_features),
        ):
            if value is not None:
                assignments.append(f"{column} = ?")
                values.append(to_json(value))
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE runs SET {', '.join(assignments)} WHERE id = ?", (*values, run_id)
            )

    def get(self, run_id: str) -> RunRecord | None:
        """The run with ``run_id``, if any."""
        rows = self.db.query("SELECT * FROM runs WHERE id = ?", (run_id,))
        return _run_from_row(rows[0]) if rows else None

    def latest(self, thread_id: str, *, with_model: bool = False) -> RunRecord | None:
        """The thread's newest run (with ``with_model``, the newest one that saved a model)."""
        rows = self.db.query(
            "SELECT * FROM runs WHERE thread_id = ? ORDER BY created_at DESC, id DESC",
            (thread_id,),
        )
        for row in rows:
            run = _run_from_row(row)
            if not with_model or run.artifacts.get("model"):
                return run
        return None

    def all(self, *, status: str | None = None) -> list[RunRecord]:
        """Every run (optionally only those with ``status``), oldest first."""
        if status is None:
            rows = self.db.query("SELECT * FROM runs ORDER BY created_at")
        else:
            rows = self.db.query(
                "SELECT * FROM runs WHERE status = ? ORDER BY created_at", (status,)
            )
        return [_run_from_row(r) for r in rows]


def _run_from_row(row: Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        thread_id=row["thread_id"],
        dataset_id=row["dataset_id"],
        status=row["status"],
        plan=json.loads(row["plan"] or "{}"),
        leaderboard=json.loads(row["leaderboard"] or "[]"),
        metrics=json.loads(row["metrics"] or "{}"),
        artifacts=json.loads(row["artifacts"] or "{}"),
        meta_features=json.loads(row["meta_features"] or "{}"),
        error=row["error"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )


def thread_metadata(db: Database, thread_id: str) -> dict[str, Any]:
    """The thread's metadata (e.g. the plan changes the user asked for)."""
    rows = db.query("SELECT metadata FROM threads WHERE id = ?", (thread_id,))
    return json.loads(rows[0]["metadata"]) if rows else {}


def update_thread_metadata(db: Database, thread_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge ``changes`` into the thread's metadata and return the result."""
    with db.transaction() as conn:
        row = conn.execute("SELECT metadata FROM threads WHERE id = ?", (thread_id,)).fetchone()
        merged = {**(json.loads(row["metadata"]) if row else {}), **changes}
        conn.execute(
            "UPDATE threads SET metadata = ?, updated_at = ? WHERE id = ?",
            (to_json(merged), now(), thread_id),
        )
    return merged
