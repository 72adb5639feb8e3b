"""One database layer for mlchat's own tables: SQLite (the default) or PostgreSQL.

:class:`Database` wraps a SQLAlchemy Core engine. Callers write plain SQL
that both engines accept, with ``?`` placeholders and a tuple of values (or
``:name`` placeholders and a dict), and get back :class:`Row` objects that
read by column name or position. What differs between the engines stays
here:

- SQLite: one file, WAL mode, a busy timeout, ``BEGIN IMMEDIATE`` for writes
  (so two writers queue instead of failing on a lock upgrade), reads in
  autocommit, the schema version in ``PRAGMA user_version``.
- PostgreSQL (``postgresql://`` URLs, psycopg2 driver): the tables live in
  the schema ``mlchat`` (Chainlit's own ``threads`` table lives in
  ``public`` of the same database), the schema version in
  ``mlchat.schema_version``, and migrations run under an advisory lock so two
  app instances starting together migrate once.

Migrations are a versioned tuple of SQL scripts written for SQLite;
:func:`_for_postgres` turns their two engine-specific spellings (an
autoincrementing integer key, ``REAL`` timestamps) into PostgreSQL's.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection as _SAConnection
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine.url import make_url

log = logging.getLogger(__name__)

PG_SCHEMA = "mlchat"
"""The PostgreSQL schema holding mlchat's tables."""

Params = Sequence[Any] | dict[str, Any]


class Row(Sequence[Any]):
    """A result row: ``row["column"]``, ``row[0]``, ``dict(row)`` and iteration over values."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: tuple[Any, ...], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str | slice) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        """The column names, in order."""
        return list(self._index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return self._values == other._values
        return self._values == other

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._index, self._values, strict=True))!r})"


class Result:
    """The outcome of one statement: its rows (if any) and how many rows it changed."""

    def __init__(self, result: CursorResult[Any]) -> None:
        self.rowcount = result.rowcount
        self._rows: list[Row] = []
        if result.returns_rows:
            index = {name: i for i, name in enumerate(result.keys())}
            self._rows = [Row(tuple(values), index) for values in result.fetchall()]
        self._position = 0

    def fetchall(self) -> list[Row]:
        """The remaining rows."""
        rows, self._position = self._rows[self._position :], len(self._rows)
        return rows

    def fetchone(self) -> Row | None:
        """The next row, or ``None``."""
        if self._position >= len(self._rows):
            return None
        self._position += 1
        return self._rows[self._position - 1]

    def scalar(self) -> Any:
        """The first column of the first row, or ``None``."""
        return self._rows[0][0] if self._rows else None


class Connection:
    """A connection inside one transaction of :meth:`Database.transaction`."""

    def __init__(self, connection: _SAConnection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Params = ()) -> Result:
        """Run one statement (``?`` placeholders with a sequence, or ``:name`` with a dict)."""
        statement, bound = _bind(sql, params)
        return Result(self._connection.execute(statement, bound))


class Database:
    """mlchat's database: a SQLite file or a PostgreSQL URL, migrated to the latest schema.

    Args:
        target: A SQLite file (its folder is created if missing) or a SQLAlchemy URL
            (``postgresql://...``, ``sqlite:///...``).
        migrations: SQL scripts, one per schema version, written for SQLite.
        busy_timeout_s: How long a SQLite writer waits for another writer's lock.
    """

    def __init__(
        self, target: Path | str, *, migrations: Sequence[str], busy_timeout_s: float = 30.0
    ) -> None:
        self._migrations = tuple(migrations)
        url = sync_url(target)
        self.dialect: Literal["sqlite", "postgresql"] = (
            "sqlite" if url.startswith("sqlite") else "postgresql"
        )
        self.path: Path | None = None
        if self.dialect == "sqlite":
            self.path = Path(make_url(url).database or "")
            _prepare_sqlite_file(self.path)
            self.engine = _sqlite_engine(url, busy_timeout_s=busy_timeout_s)
        else:
            self.engine = create_engine(
                url,
                pool_pre_ping=True,
                connect_args={"options": f"-csearch_path={PG_SCHEMA}"},
            )
        self._migrate()

    @property
    def schema_version(self) -> int:
        """The schema version stored in the database."""
        with self.engine.connect() as conn:
            return _read_version(conn, self.dialect)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on error."""
        with self.engine.connect().execution_options(mlchat_write=True) as conn, conn.begin():
            yield Connection(conn)

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a read query and return every row."""
        statement, bound = _bind(sql, params)
        with self.engine.connect() as conn:
            return Result(conn.execute(statement, bound)).fetchall()

    def close(self) -> None:
        """Close every pooled connection (the object stays usable: it reconnects)."""
        self.engine.dispose()

    def _migrate(self) -> None:
        latest = len(self._migrations)
        with self.transaction() as conn:
            raw = conn._connection
            if self.dialect == "postgresql":
                raw.execute(text("SELECT pg_advisory_xact_lock(hashtext('mlchat.migrate'))"))
                raw.execute(text(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}"))
                raw.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)"))
            version = _read_version(raw, self.dialect)
            if version > latest:
                raise RuntimeError(
                    f"The database {self.describe()} was written by a newer mlchat "
                    f"(schema {version}, this one knows {latest}); upgrade mlchat."
                )
            for number, script in enumerate(self._migrations[version:], start=version + 1):
                if self.dialect == "postgresql":
                    script = _for_postgres(script)
                for statement in statements(script):
                    raw.execute(text(statement))
                _write_version(raw, self.dialect, number)
                log.info("db_migrated version=%d dialect=%s", number, self.dialect)

    def describe(self) -> str:
        """A name for messages: the file name, or the URL without its password."""
        if self.path is not None:
            return self.path.name
        return self.engine.url.render_as_string(hide_password=True)


def sync_url(target: Path | str) -> str:
    """The synchronous SQLAlchemy URL for ``target`` (a SQLite file or a database URL).

    ``postgres://``, ``postgresql://`` and ``postgresql+asyncpg://`` get the psycopg2 driver;
    an async SQLite URL loses its aiosqlite driver.
    """
    if isinstance(target, Path):
        return f"sqlite:///{target}"
    url = make_url(target)
    if url.drivername in ("postgres", "postgresql", "postgresql+asyncpg"):
        url = url.set(drivername="postgresql+psycopg2")
    elif url.drivername.startswith("sqlite"):
        url = url.set(drivername="sqlite")
    return url.render_as_string(hide_password=False)


def statements(script: str) -> Iterator[str]:
    """The statements of a migration script (split on ``;``)."""
    for statement in script.split(";"):
        if statement.strip():
            yield statement


def _for_postgres(script: str) -> str:
    script = script.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "SERIAL PRIMARY KEY")
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", script)  # epoch seconds need 8 bytes


_QMARK = re.compile(r"'[^']*'|\?")


def _bind(sql: str, params: Params) -> tuple[Any, dict[str, Any]]:
    if isinstance(params, dict):
        return text(sql), params
    values = list(params)
    names: list[str] = []

    def name_of(match: re.Match[str]) -> str:
        if match.group(0) != "?":
            return match.group(0)  # a string literal, kept as written
        names.append(f"p{len(names)}")
        return f":{names[-1]}"

    converted = _QMARK.sub(name_of, sql)
    if len(names) != len(values):
        raise ValueError(f"{len(names)} placeholders but {len(values)} values")
    return text(converted), dict(zip(names, values, strict=True))


def _prepare_sqlite_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Private: -wal and -shm files take the database file's mode when SQLite creates them.
    path.touch(mode=0o600, exist_ok=True)
    for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if existing.exists() and existing.stat().st_mode & 0o077:
            os.chmod(existing, 0o600)


def _sqlite_engine(url: str, *, busy_timeout_s: float) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
        pool_size=5,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver: we issue BEGIN ourselves (the SQLAlchemy pysqlite recipe).
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: _SAConnection) -> None:
        if conn.get_execution_options().get("mlchat_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _read_version(conn: _SAConnection, dialect: str) -> int:
    if dialect == "sqlite":
        return int(conn.execute(text("PRAGMA user_version")).scalar() or 0)
    return int(conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar() or 0)


def _write_version(conn: _SAConnection, dialect: str, version: int) -> None:
    if dialect == "sqlite":
        conn.execute(text(f"PRAGMA user_version={int(version)}"))
    else:
        conn.execute(text("DELETE FROM schema_version"))
        conn.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": version})
