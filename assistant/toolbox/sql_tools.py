"""The tool that reads a table from a database into the conversation as a dataset."""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

from assistant.connection_secrets import remember, unmask
from assistant.context import ToolContext
from assistant.errors import ToolError
from assistant.events import Table
from assistant.toolbox._format import for_model, truncate
from assistant.toolkit import ToolResult, changes_state
from assistant.untrusted import cap
from tools.errors import DataError
from tools.io.load import file_sha256
from tools.sql_source import read_sql

log = logging.getLogger(__name__)

_PREVIEW_ROWS = 10


@changes_state
def load_sql_table(
    ctx: ToolContext,
    table: str | None = None,
    query: str | None = None,
    source: str | None = None,
) -> ToolResult:
    """Read a table (or the rows of one SELECT query) from a database, read-only, and attach
    it to the conversation as a new dataset; shows a preview. Train on it afterwards as on
    any attached file.

    Args:
        table: Table name such as "orders" or "sales.orders".
        query: One SELECT statement, instead of a table name.
        source: Database URL as the user wrote it (the password appears as ***); the
            configured database (MLCHAT_SQL_URL) when omitted.
    """
    url = source or ctx.settings.sql_url
    if not url:
        raise ToolError(
            "No database is named: ask the user for its address (postgresql://user@host/db)."
        )
    shown = remember(url)  # a URL with a real password never goes further than this line
    try:
        read = read_sql(unmask(shown), table=table, query=query, max_rows=ctx.settings.sql_max_rows)
    except DataError as exc:
        raise ToolError(str(exc)) from None
    name = _file_name(table)
    ctx.progress(f"Read {len(read.frame):,} rows from the {read.source}")
    with tempfile.TemporaryDirectory(dir=ctx.settings.data_dir, prefix=".sql-") as folder:
        staged = Path(folder) / name
        read.frame.to_parquet(staged, index=False)
        path = ctx.files.add_upload(staged, name)
    conversations = ctx.services.conversations
    conversations.ensure_thread(ctx.thread_id)
    record = conversations.add_dataset(
        ctx.thread_id,
        name=path.name,
        path=path,
        sha256=file_sha256(path),
        n_rows=len(read.frame),
        n_columns=read.frame.shape[1],
    )
    preview = read.frame.head(_PREVIEW_ROWS).map(lambda value: truncate(str(value)))
    user_table = Table(
        f"Preview of {record.name} ({len(read.frame):,} rows x {read.frame.shape[1]} columns)",
        tuple(cap(str(c)) for c in preview.columns),
        tuple(tuple(row) for row in preview.itertuples(index=False)),
        name=f"preview-{record.id}",
    )
    summary = (
        f"Read {len(read.frame):,} rows x {read.frame.shape[1]} columns from the {read.source}"
        f" into dataset {record.id} ({record.name})."
    )
    if read.is_truncated:
        summary += f" Only the first {ctx.settings.sql_max_rows:,} rows were read (the row limit)."
    payload = {
        "summary": summary,
        "dataset": record.id,
        "file": record.name,
        "rows": len(read.frame),
        "columns": [cap(str(c)) for c in read.frame.columns][:60],
        "truncated": read.is_truncated,
    }
    return ToolResult(for_model=for_model(payload), for_user=(user_table,), facts=payload)


def _file_name(table: str | None) -> str:
    stem = re.sub(r"[^\w-]+", "_", table.split(".")[-1]).strip("_") if table else ""
    return f"{stem or 'query'}.parquet"
