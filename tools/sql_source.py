"""Tables read straight from a database, read-only, through SQLAlchemy.

A table is named (``orders``, ``sales.orders``) or given as one ``SELECT``
(or ``WITH ... SELECT``) statement. Either way the read

- runs in a read-only transaction (PostgreSQL ``SET TRANSACTION READ ONLY``
  through psycopg2's ``readonly`` session, SQLite ``PRAGMA query_only``), so
  even a statement that slipped past the ``SELECT`` check cannot write;
- is capped at ``max_rows`` rows (one more is asked for, to tell the caller
  the table was cut);
- never shows the connection URL's password: :func:`masked_url` is the only
  form of the URL this module logs or puts in a message, and driver errors are
  scrubbed of it before they are raised as :class:`~tools.errors.DataError`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchTableError, SQLAlchemyError

from tools.errors import DataError

log = logging.getLogger(__name__)

MASK = "***"
"""What stands for a password in a URL that is shown or stored."""

_URL = re.compile(
    r"\b(?:postgres(?:ql)?|sqlite|mysql|mariadb|mssql|oracle)(?:\+\w+)?://[^\s`'\"<>]+",
    re.IGNORECASE,
)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_NAME = re.compile(r"^[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?$")


@dataclass(frozen=True, slots=True)
class SqlTable:
    """Rows read from a database."""

    frame: pd.DataFrame
    source: str
    """What was read, for people and models: ``table orders of postgresql://u:***@host/db``."""
    is_truncated: bool
    """More rows than ``max_rows`` matched; only the first ``max_rows`` were read."""


def find_database_urls(text: str) -> list[str]:
    """Database URLs written in ``text`` (``postgresql://...``, ``sqlite:///...``), in order."""
    return [match.group(0).rstrip(".,;:)") for match in _URL.finditer(text)]


def parse_url(url: str) -> URL:
    """``url`` parsed, or a :class:`DataError` that does not repeat it (it may hold a password)."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise DataError(
            "That database address is not one I can read. Write it like "
            "postgresql://user@host:5432/dbname."
        ) from None


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (unchanged when it has none)."""
    return parse_url(url).render_as_string(hide_password=True)  # the password shows as ***


def url_password(url: str) -> str | None:
    """The password in ``url``, if any."""
    return parse_url(url).password


def check_select(query: str) -> str:
    """``query`` without comments or a trailing ``;`` if it is one SELECT, else a DataError."""
    cleaned = _COMMENT.sub(" ", query).strip().rstrip(";").strip()
    if ";" in cleaned:
        raise DataError("Give me one SELECT statement at a time (no ';' between statements).")
    first = cleaned.split(None, 1)[0].lower() if cleaned else ""
    if first not in ("select", "with"):
        raise DataError(
            "I only read data from a database: the query must be a SELECT (or WITH ... SELECT)."
        )
    return cleaned


def read_sql(
    url: str,
    *,
    table: str | None = None,
    query: str | None = None,
    max_rows: int,
) -> SqlTable:
    """Read a table or the rows of one SELECT from ``url``, read-only, at most ``max_rows`` rows.

    Args:
        url: A SQLAlchemy database URL, password included (used to connect, never shown).
        table: A table name, optionally ``schema.table``.
        query: One SELECT statement (instead of ``table``).
        max_rows: Most rows read; more matching rows set ``is_truncated``.
    """
    if (table is None) == (query is None):
        raise DataError("Name either a table or a SELECT query to read, not both or neither.")
    parsed = _driver_url(parse_url(url))
    shown = masked_url(url)
    password = parsed.password
    what = f"table {table}" if table is not None else "query"
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise DataError(f"There is no SQLite database at {shown}.")  # connecting would create one
    try:
        engine = sqlalchemy.create_engine(parsed, poolclass=sqlalchemy.pool.NullPool)
    except (ArgumentError, ImportError, SQLAlchemyError):
        raise DataError(
            f"I cannot connect to databases of the kind “{parsed.get_backend_name()}”: "
            "PostgreSQL and SQLite are supported."
        ) from None
    try:
        with _read_only(engine) as conn:
            statement = _statement(conn, table=table, query=query, limit=max_rows + 1)
            frame = pd.read_sql(statement, conn)
    except DataError:
        raise
    except NoSuchTableError:
        raise DataError(f"There is no table “{table}” in {shown}.") from None
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        driver_error = getattr(exc.__cause__ or exc, "orig", None) or exc
        detail = _scrub(str(driver_error).strip().splitlines()[0], password)
        log.info("sql_read_failed source=%s error=%s", shown, type(exc).__name__)
        raise DataError(f"Reading the {what} from {shown} failed: {detail}") from None
    finally:
        engine.dispose()
    is_truncated = len(frame) > max_rows
    frame = frame.iloc[:max_rows].reset_index(drop=True)
    source = f"{what} of {shown}"
    log.info(
        "sql_read source=%s rows=%d columns=%d truncated=%s",
        shown,
        len(frame),
        frame.shape[1],
        is_truncated,
    )
    return SqlTable(frame=frame, source=source, is_truncated=is_truncated)


def _driver_url(url: URL) -> URL:
    if url.drivername in ("postgres", "postgresql", "postgresql+asyncpg"):
        return url.set(drivername="postgresql+psycopg2")
    if url.drivername == "sqlite+aiosqlite":
        return url.set(drivername="sqlite")
    return url


@contextmanager
def _read_only(engine: sqlalchemy.Engine) -> Iterator[sqlalchemy.Connection]:
    """A connection in a read-only transaction, rolled back at the end."""
    dialect = engine.dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise DataError(f"I can read from PostgreSQL and SQLite, not “{dialect}” databases yet.")
    with engine.connect() as conn:
        if dialect == "postgresql":
            conn = conn.execution_options(postgresql_readonly=True)
        else:
            conn.exec_driver_sql("PRAGMA query_only = ON")
        with conn.begin() as transaction:
            try:
                yield conn
            finally:
                transaction.rollback()


def _statement(
    conn: sqlalchemy.Connection, *, table: str | None, query: str | None, limit: int
) -> sqlalchemy.Select | sqlalchemy.TextClause:
    if table is not None:
        name = table.strip().strip('`"')
        if not _NAME.match(name):
            raise DataError(f"“{table}” is not a table name I can read (letters, digits, _).")
        schema, _, bare = name.rpartition(".")
        reflected = sqlalchemy.Table(
            bare, sqlalchemy.MetaData(), schema=schema or None, autoload_with=conn
        )
        return sqlalchemy.select(reflected).limit(limit)
    assert query is not None
    return sqlalchemy.text(f"SELECT * FROM ({check_select(query)}) AS mlchat_rows LIMIT {limit}")


def _scrub(text: str, password: str | None) -> str:
    return text.replace(password, MASK) if password else text
