"""Chainlit persistence: rows really exist, on SQLite and on a real PostgreSQL server.

Chainlit's data layer swallows database errors, so every test reads the rows
back with a separate connection (or counts ``failed_statements``) instead of
trusting that a call returned.
"""

from __future__ import annotations

import http.server
import shutil
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from chainlit.context import init_http_context
from chainlit.element import File, Text
from chainlit.message import Message
from chainlit.step import Step
from chainlit.types import Feedback, Pagination, ThreadFilter
from chainlit.user import User
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from ui.data_layer import (
    LocalStorageClient,
    MlchatDataLayer,
    build_data_layer,
    chat_database_url,
)

# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """The session's throwaway PostgreSQL server (each test creates its own database)."""
    try:
        import asyncpg  # noqa: F401
    except ModuleNotFoundError:
        pytest.skip("asyncpg is not installed (pip install asyncpg)")
    return postgres_server_url


@pytest.fixture(params=["sqlite", "postgres"])
async def layer(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MlchatDataLayer]:
    url = None
    if request.param == "postgres":
        server = request.getfixturevalue("postgres_url")
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_async_engine(
            chat_database_url(server, tmp_path), isolation_level="AUTOCOMMIT"
        )
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {name}"))
        await admin.dispose()
        url = server.rsplit("/", 1)[0] + "/" + name
    data_layer = build_data_layer(tmp_path, database_url=url)
    yield data_layer
    await data_layer.close()


async def _rows(layer: MlchatDataLayer, query: str, **params: object) -> list[dict]:
    """Read rows with a fresh engine, independent of the data layer under test."""
    engine = create_async_engine(layer._conninfo)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(query), params)
            return [dict(row._mapping) for row in result.fetchall()]
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- the conversation


async def test_a_conversation_leaves_thread_step_element_and_feedback_rows(
    layer: MlchatDataLayer, tmp_path: Path
) -> None:
    user = await layer.create_user(User(identifier="mlchat", metadata={"provider": "local"}))
    assert user is not None and user.metadata == {"provider": "local"}
    thread_id = str(uuid.uuid4())
    init_http_context(thread_id=thread_id, user=user)
    await layer.update_thread(thread_id, name="train on churn", user_id=user.id, tags=["csv"])

    question = Message(content="train a model to predict churn", type="user_message")
    answer = Message(content="Received churn.csv (12 B).", modes={"model": "offline"})
    tool = Step(name="profile_table", type="tool", parent_id=answer.id)
    tool.input, tool.output = '{"dataset_id": "d1"}', "3 columns"
    for step in (question, answer, tool):
        await layer.create_step(step.to_dict())

    upload = tmp_path / "tmp" / "uploads" / "churn.csv"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"a,churn\n1,0\n")
    attached = File(name="churn.csv", path=str(upload), for_id=question.id, mime="text/csv")
    note = Text(name="notes", content="leaky column: refund_id", for_id=answer.id)
    await layer.create_element(attached)
    await layer.create_element(note)
    feedback_id = await layer.upsert_feedback(
        Feedback(forId=answer.id, value=1, threadId=thread_id, comment="clear")
    )

    assert layer.failed_statements == 0
    threads = await _rows(
        layer, 'SELECT "name", "userId" FROM threads WHERE "id" = :id', id=thread_id
    )
    assert threads == [{"name": "train on churn", "userId": user.id}]
    steps = await _rows(
        layer,
        'SELECT "id", "type", "output", "parentId" FROM steps WHERE "threadId" = :id',
        id=thread_id,
    )
    assert {(s["type"], s["output"]) for s in steps} == {
        ("user_message", "train a model to predict churn"),
        ("assistant_message", "Received churn.csv (12 B)."),
        ("tool", "3 columns"),
    }
    assert next(s for s in steps if s["type"] == "tool")["parentId"] == answer.id
    elements = await _rows(
        layer,
        'SELECT "name", "objectKey", "forId" FROM elements WHERE "threadId" = :id',
        id=thread_id,
    )
    assert sorted(e["name"] for e in elements) == ["churn.csv", "notes"]
    stored = {e["name"]: tmp_path / "files" / e["objectKey"] for e in elements}
    assert stored["churn.csv"].read_bytes() == b"a,churn\n1,0\n"
    assert stored["notes"].read_text() == "leaky column: refund_id"
    assert stored["churn.csv"].is_relative_to(tmp_path / "files")
    feedbacks = await _rows(layer, 'SELECT "id", "value", "comment" FROM feedbacks')
    assert feedbacks == [{"id": feedback_id, "value": 1, "comment": "clear"}]

    # What the sidebar and resume read back: decoded JSON, the feedback, the files' URLs.
    page = await layer.list_threads(Pagination(first=20), ThreadFilter(userId=user.id))
    assert [t["id"] for t in page.data] == [thread_id]
    resumed = await layer.get_thread(thread_id)
    assert resumed is not None
    assert resumed["tags"] == ["csv"]
    assert isinstance(resumed["metadata"], dict)
    by_id = {s["id"]: s for s in resumed["steps"]}
    assert by_id[answer.id]["feedback"]["value"] == 1
    assert by_id[answer.id]["metadata"] == {}
    urls = sorted(e["url"] for e in resumed["elements"])
    assert all(u.startswith(f"/mlchat/files/{user.id}/") for u in urls)


async def test_a_database_password_typed_in_a_message_is_stored_masked(
    layer: MlchatDataLayer,
) -> None:
    user = await layer.create_user(User(identifier="mlchat", metadata={}))
    assert user is not None
    thread_id = str(uuid.uuid4())
    init_http_context(thread_id=thread_id, user=user)
    await layer.update_thread(thread_id, name="sql", user_id=user.id)
    typed = "train on the table orders of postgresql://ann:hunter2-x@db/sales to predict churn"
    await layer.create_step(Message(content=typed, type="user_message").to_dict())
    steps = await _rows(layer, 'SELECT "output" FROM steps WHERE "threadId" = :id', id=thread_id)
    assert steps == [{"output": typed.replace("hunter2-x", "***")}]


async def test_schema_has_a_column_for_every_key_chainlit_writes(layer: MlchatDataLayer) -> None:
    init_http_context()
    written = {
        "steps": set(Message(content="x").to_dict()) | set(Step(name="s").to_dict()),
        "elements": set(File(name="f", content=b"x").to_dict()),
        "feedbacks": {"id", "forId", "threadId", "value", "comment"},
        "threads": {"id", "createdAt", "name", "userId", "userIdentifier", "tags", "metadata"},
    }
    for table, keys in written.items():
        if layer.is_sqlite:
            rows = await _rows(layer, f"SELECT name FROM pragma_table_info('{table}')")
        else:
            rows = await _rows(
                layer,
                "SELECT column_name AS name FROM information_schema.columns WHERE table_name = :t",
                t=table,
            )
        assert keys - {r["name"] for r in rows} == set(), table


async def test_thread_ids_that_are_not_uuids_are_not_written(layer: MlchatDataLayer) -> None:
    await layer.update_thread("x') OR ('1'='1", name="injected")
    assert await _rows(layer, 'SELECT "id" FROM threads') == []


async def test_an_element_path_outside_the_data_folder_is_not_read(
    layer: MlchatDataLayer, tmp_path: Path
) -> None:
    secret = Path(tempfile.mkdtemp()) / "secret.env"
    secret.write_text("OPENAI_API_KEY=sk-canary")
    thread_id = str(uuid.uuid4())
    init_http_context(thread_id=thread_id)
    await layer.update_thread(thread_id, name="t")
    await layer.create_element(File(name="secret.env", path=str(secret), for_id=str(uuid.uuid4())))
    shutil.rmtree(secret.parent)
    assert await _rows(layer, 'SELECT "id" FROM elements') == []
    assert not any(p.is_file() for p in (tmp_path / "files").rglob("*"))


async def test_an_element_with_only_a_url_is_never_fetched(layer: MlchatDataLayer) -> None:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"metadata")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        init_http_context(thread_id=str(uuid.uuid4()))
        url = f"http://127.0.0.1:{server.server_port}/latest/meta-data"
        await layer.create_element(File(name="x", url=url, for_id=str(uuid.uuid4())))
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []
    assert await _rows(layer, 'SELECT "id" FROM elements') == []


# ---------------------------------------------------------------- files on disk


@pytest.mark.parametrize(
    "key",
    [
        "../../outside.txt",
        "/etc/passwd",
        "u1/../../x",
        "u1/..\\..\\x",
        "u1/a\x00b/c",
        "..",
        "u1/./.",
    ],
)
async def test_storage_keys_cannot_leave_the_storage_folder(tmp_path: Path, key: str) -> None:
    storage = LocalStorageClient(tmp_path / "files")
    result = await storage.upload_file(key, b"data")
    everything = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.is_relative_to(tmp_path / "files") for p in everything)
    written = [p for p in everything if not p.name.startswith(".")]  # .<name>.mime sidecars
    assert len(written) == 1 and len(everything) == 2
    assert storage.stored_file(result["object_key"]) == written[0]
    assert result["url"].startswith("/mlchat/files/")
    assert ".." not in result["url"].split("/")


async def test_storage_does_not_serve_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    storage = LocalStorageClient(tmp_path / "files")
    (tmp_path / "files" / "u1").mkdir()
    (tmp_path / "files" / "u1" / "link.txt").symlink_to(outside)
    assert storage.stored_file("u1/link.txt") is None
    assert await storage.delete_file("u1/missing") is False


# ---------------------------------------------------------------- URLs and errors


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (None, "sqlite+aiosqlite:///DATA/chainlit.db"),
        ("postgresql://u:p@db:5432/chat", "postgresql+asyncpg://u:p@db:5432/chat"),
        ("postgres://u@db/chat", "postgresql+asyncpg://u@db/chat"),
        ("sqlite:////var/chat.db", "sqlite+aiosqlite:////var/chat.db"),
        ("postgresql+asyncpg://u@db/chat", "postgresql+asyncpg://u@db/chat"),
        ("postgresql+psycopg2://u@db/chat", "postgresql+asyncpg://u@db/chat"),
    ],
)
def test_chat_database_url(configured: str | None, expected: str) -> None:
    assert chat_database_url(configured, Path("DATA")) == expected


async def test_sql_errors_are_counted_and_logged_without_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    layer = build_data_layer(tmp_path)
    try:
        result = await layer.execute_sql(
            "INSERT INTO no_such_table (x) VALUES (:x)", {"x": "row-secret-42"}
        )
    finally:
        await layer.close()
    assert result is None
    assert layer.failed_statements == 1
    assert "chat_sql_failed" in caplog.text
    assert "row-secret-42" not in caplog.text


async def test_the_sqlite_database_is_in_wal_mode(tmp_path: Path) -> None:
    layer = build_data_layer(tmp_path)
    assert await layer.execute_sql("SELECT 1 AS one", {}) == [{"one": 1}]
    await layer.close()
    with sqlite3.connect(tmp_path / "chainlit.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "threads", "steps", "elements", "feedbacks"} <= tables


async def test_the_stored_type_is_kept_for_keys_without_an_extension(tmp_path: Path) -> None:
    storage = LocalStorageClient(tmp_path / "files")
    result = await storage.upload_file("u1/e1/Confusion matrix", b"{}", mime="application/json")
    stored = storage.stored_file(result["object_key"])
    assert stored is not None and storage.stored_mime(stored) == "application/json"
    assert storage.stored_file("u1/e1/.Confusion matrix.mime") is None


async def test_a_first_attachment_is_owned_before_the_thread_task_runs(
    layer: MlchatDataLayer, tmp_path: Path
) -> None:
    """Chainlit persists a first message's attachment in a task racing the thread's creation;
    the file must be keyed under, and served to, its user from the moment its row exists."""
    user = await layer.create_user(User(identifier="mlchat", metadata={}))
    assert user is not None
    thread_id = str(uuid.uuid4())
    init_http_context(thread_id=thread_id, user=user)
    upload = tmp_path / "tmp" / "uploads" / "first.csv"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"a,b\n1,2\n")

    await layer.create_element(File(name="first.csv", path=str(upload), for_id=str(uuid.uuid4())))

    [row] = await _rows(
        layer, 'SELECT "objectKey" FROM elements WHERE "threadId" = :id', id=thread_id
    )
    assert row["objectKey"].split("/")[0] == user.id
    assert await layer.file_owner(row["objectKey"]) == user.id
    # Chainlit's own thread write still names the thread afterwards.
    await layer.update_thread(thread_id, name="first message", user_id=user.id)
    threads = await _rows(
        layer, 'SELECT "name", "userId" FROM threads WHERE "id" = :id', id=thread_id
    )
    assert threads == [{"name": "first message", "userId": user.id}]
    assert layer.failed_statements == 0


async def test_an_attachment_never_changes_who_owns_an_existing_thread(
    layer: MlchatDataLayer, tmp_path: Path
) -> None:
    owner = await layer.create_user(User(identifier="owner", metadata={}))
    other = await layer.create_user(User(identifier="other", metadata={}))
    assert owner is not None and other is not None
    thread_id = str(uuid.uuid4())
    init_http_context(thread_id=thread_id, user=owner)
    await layer.update_thread(thread_id, name="owned", user_id=owner.id)
    init_http_context(thread_id=thread_id, user=other)

    await layer.create_element(Text(name="note", content="hello", for_id=str(uuid.uuid4())))

    threads = await _rows(layer, 'SELECT "userId" FROM threads WHERE "id" = :id', id=thread_id)
    assert threads == [{"userId": owner.id}]


async def test_an_attachment_claims_a_thread_row_written_without_an_owner(
    layer: MlchatDataLayer,
) -> None:
    user = await layer.create_user(User(identifier="mlchat", metadata={}))
    assert user is not None
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, name="no owner yet")  # as Chainlit may, user_id=None
    init_http_context(thread_id=thread_id, user=user)

    await layer.create_element(Text(name="note", content="hello", for_id=str(uuid.uuid4())))

    [row] = await _rows(
        layer, 'SELECT "objectKey" FROM elements WHERE "threadId" = :id', id=thread_id
    )
    assert row["objectKey"].startswith(f"{user.id}/")
    threads = await _rows(
        layer, 'SELECT "name", "userId" FROM threads WHERE "id" = :id', id=thread_id
    )
    assert threads == [{"name": "no owner yet", "userId": user.id}]
