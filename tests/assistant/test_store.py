from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from assistant.store import SCHEMA_VERSION, ConversationStore, Database, RunStore, now


def test_fresh_database_is_at_the_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    db = Database(tmp_path / "sub" / "mlchat.db")
    assert db.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert db.query("PRAGMA journal_mode")[0][0] == "wal"
    tables = {r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "threads",
        "messages",
        "datasets",
        "runs",
        "trials",
        "llm_calls",
        "response_cache",
    } <= tables


def test_reopening_does_not_migrate_twice(tmp_path: Path) -> None:
    path = tmp_path / "mlchat.db"
    db = Database(path)
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO threads(id, created_at, updated_at) VALUES ('t1', ?, ?)", (now(), now())
        )
    db.close()
    again = Database(path)
    assert [r["id"] for r in again.query("SELECT id FROM threads")] == ["t1"]


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    db = Database(tmp_path / "mlchat.db")
    with pytest.raises(sqlite3.IntegrityError), db.transaction() as conn:
        conn.execute("INSERT INTO threads(id, created_at, updated_at) VALUES ('t1', 1, 1)")
        conn.execute("INSERT INTO threads(id, created_at, updated_at) VALUES ('t1', 1, 1)")
    assert db.query("SELECT count(*) FROM threads")[0][0] == 0


def test_a_database_from_a_newer_mlchat_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "mlchat.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer mlchat"):
        Database(path)


def test_a_run_keeps_its_leaderboard_when_it_fails(tmp_path: Path) -> None:
    from assistant.store import ConversationStore, RunStore

    db = Database(tmp_path / "mlchat.db")
    ConversationStore(db).ensure_thread("t1")
    runs = RunStore(db)
    runs.start("r1", thread_id="t1", dataset_id="d1", plan={"target": "churn"})
    runs.update_leaderboard("r1", [{"model": "ridge", "score": 0.8}])
    runs.finish("r1", status="failed", error="worker killed")
    run = runs.get("r1")
    assert run is not None
    assert (run.status, run.error, run.plan) == ("failed", "worker killed", {"target": "churn"})
    assert run.leaderboard == [{"model": "ridge", "score": 0.8}]
    assert runs.latest("t1") == run
    assert runs.latest("t1", with_model=True) is None


def test_messages_and_datasets_round_trip_per_thread(tmp_path: Path) -> None:
    from assistant.store import ConversationStore

    conversations = ConversationStore(Database(tmp_path / "mlchat.db"))
    conversations.ensure_thread("t1")
    conversations.ensure_thread("t2")
    conversations.add_messages(
        "t1",
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "name": "x", "arguments": "{}"}]},
        ],
        turn_id="u1",
    )
    first = conversations.add_dataset("t1", name="a.csv", path=tmp_path / "a.csv", sha256="aa")
    again = conversations.add_dataset("t1", name="a.csv", path=tmp_path / "a.csv", sha256="aa")
    other = conversations.add_dataset("t2", name="b.csv", path=tmp_path / "b.csv", sha256="bb")
    assert (first.id, again.id, other.id) == ("d1", "d1", "d1")
    stored = conversations.messages("t1")
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].tool_calls == ({"id": "c1", "name": "x", "arguments": "{}"},)
    assert conversations.messages("t2") == []


def test_a_version_1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    from assistant.store import _MIGRATIONS, _statements

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in _statements(_MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("INSERT INTO threads(id, created_at, updated_at) VALUES ('t1', 1, 1)")
    conn.execute(
        "INSERT INTO messages(thread_id, role, content, created_at) VALUES ('t1', 'user', 'hi', 1)"
    )
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    from assistant.store import ConversationStore

    db = Database(path)
    assert db.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    [message] = ConversationStore(db).messages("t1")
    assert (message.content, message.provider_state) == ("hi", {})


def test_runs_of_a_dead_owner_are_marked_interrupted_and_told_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "mlchat.db")
    for thread in ("t1", "t2"):
        ConversationStore(db).ensure_thread(thread)
    runs = RunStore(db)
    runs.start("dead", thread_id="t1", dataset_id="d1", plan={"target": "churn"}, owner="1:1")
    runs.start("live", thread_id="t2", dataset_id="d1", plan={"target": "y"}, owner="2:2")
    runs.start("old", thread_id="t1", dataset_id="d1", plan={"target": "churn"})

    marked = runs.mark_interrupted(is_alive=lambda owner: owner == "2:2")

    assert sorted(marked) == ["dead", "old"]
    assert [runs.get(r).status for r in ("dead", "live", "old")] == [  # type: ignore[union-attr]
        "interrupted",
        "running",
        "interrupted",
    ]
    told = runs.take_interrupted_notice("t1")
    assert told is not None and told.id == "old"  # the newest; the older one is told with it
    assert runs.take_interrupted_notice("t1") is None
    assert runs.take_interrupted_notice("t2") is None


def test_database_files_are_private(tmp_path: Path) -> None:
    db = Database(tmp_path / "mlchat.db")
    RunStore(db).start("r1", thread_id=None, dataset_id=None, plan={})
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"mlchat.db": 0o600, "mlchat.db-wal": 0o600, "mlchat.db-shm": 0o600}


def test_run_again_restores_the_interrupted_runs_plan_with_its_positive_class(
    tmp_path: Path,
) -> None:
    from assistant.session import RERUN_MESSAGE, Assistant
    from assistant.settings import Settings
    from assistant.store import thread_metadata

    settings = Settings.from_env({"MLCHAT_DATA_DIR": str(tmp_path)}, env_file=tmp_path / "none")
    assistant = Assistant(settings)
    assistant.conversations.ensure_thread("t1")
    plan = {"target": "churn", "metric": "f1", "positive_class": "yes", "seed": 7}
    assistant.runs.start("r1", thread_id="t1", dataset_id="d1", plan=plan, owner="1:1")
    assert assistant.prepare_rerun("t1", "r1") == RERUN_MESSAGE
    restored = thread_metadata(assistant.db, "t1")["plan_changes"]
    assert restored == {"target": "churn", "metric": "f1", "positive_class": "yes"}
