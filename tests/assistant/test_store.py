"""The store's suite: every test taking ``target`` runs on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy.exc

from assistant.store import SCHEMA_VERSION, ConversationStore, Database, RunStore, now
from tests.postgres import new_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's database lives: a SQLite file, or a fresh database on the session's server."""
    if request.param == "sqlite":
        return tmp_path / "mlchat.db"
    return new_database(request.getfixturevalue("postgres_server_url"))


def test_fresh_database_is_at_the_latest_schema(target: Path | str) -> None:
    db = Database(target)
    assert db.schema_version == SCHEMA_VERSION
    if db.dialect == "sqlite":
        listed = "SELECT name FROM sqlite_master WHERE type='table'"
    else:
        listed = (
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'mlchat'"
        )
    tables = {r["name"] for r in db.query(listed)}
    assert {
        "threads",
        "messages",
        "datasets",
        "runs",
        "trials",
        "llm_calls",
        "response_cache",
    } <= tables


def test_postgres_tables_live_in_their_own_schema_beside_chainlits(
    postgres_server_url: str,
) -> None:
    url = new_database(postgres_server_url)
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.begin() as conn:  # Chainlit's table of the same name, in the public schema
        conn.execute(sqlalchemy.text('CREATE TABLE threads ("id" TEXT PRIMARY KEY, "name" TEXT)'))
    engine.dispose()
    db = Database(url)
    ConversationStore(db).ensure_thread("t1", title="ours")
    assert [tuple(r) for r in db.query("SELECT id, title FROM threads")] == [("t1", "ours")]
    assert db.query("SELECT COUNT(*) FROM public.threads")[0][0] == 0
    db.close()


def test_fresh_sqlite_database_is_in_wal_mode(tmp_path: Path) -> None:
    db = Database(tmp_path / "sub" / "mlchat.db")
    assert db.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert db.query("PRAGMA journal_mode")[0][0] == "wal"


def test_reopening_does_not_migrate_twice(target: Path | str) -> None:
    db = Database(target)
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO threads(id, created_at, updated_at) VALUES ('t1', ?, ?)", (now(), now())
        )
    db.close()
    again = Database(target)
    assert [r["id"] for r in again.query("SELECT id FROM threads")] == ["t1"]


def test_a_failed_transaction_leaves_nothing_behind(target: Path | str) -> None:
    db = Database(target)
    with pytest.raises(sqlalchemy.exc.IntegrityError), db.transaction() as conn:
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


def test_a_postgres_database_from_a_newer_mlchat_is_refused(postgres_server_url: str) -> None:
    url = new_database(postgres_server_url)
    Database(url).close()
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(f"UPDATE mlchat.schema_version SET version = {SCHEMA_VERSION + 1}")
        )
    engine.dispose()
    with pytest.raises(RuntimeError, match="newer mlchat"):
        Database(url)


def test_a_run_keeps_its_leaderboard_when_it_fails(target: Path | str) -> None:
    db = Database(target)
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


def test_messages_and_datasets_round_trip_per_thread(target: Path | str, tmp_path: Path) -> None:
    conversations = ConversationStore(Database(target))
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
    from assistant.database import statements as _statements
    from assistant.store import _MIGRATIONS

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
    assert db.schema_version == SCHEMA_VERSION
    [message] = ConversationStore(db).messages("t1")
    assert (message.content, message.provider_state) == ("hi", {})


def test_runs_of_a_dead_owner_are_marked_interrupted_and_told_once(target: Path | str) -> None:
    db = Database(target)
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
    target: Path | str, tmp_path: Path
) -> None:
    from assistant.session import RERUN_MESSAGE, Assistant
    from assistant.settings import Settings
    from assistant.store import thread_metadata

    env = {"MLCHAT_DATA_DIR": str(tmp_path)}
    if isinstance(target, str):
        env["MLCHAT_DATABASE_URL"] = target
    settings = Settings.from_env(env, env_file=tmp_path / "none")
    assistant = Assistant(settings)
    assistant.conversations.ensure_thread("t1")
    plan = {"target": "churn", "metric": "f1", "positive_class": "yes", "seed": 7}
    assistant.runs.start("r1", thread_id="t1", dataset_id="d1", plan=plan, owner="1:1")
    assert assistant.prepare_rerun("t1", "r1") == RERUN_MESSAGE
    restored = thread_metadata(assistant.db, "t1")["plan_changes"]
    assert restored == {"target": "churn", "metric": "f1", "positive_class": "yes"}


def test_usage_cache_and_spend_queries_run_on_both_engines(target: Path | str) -> None:
    from assistant.providers.base import StreamEnd, StreamText, StreamUsage
    from assistant.providers.cache import ResponseCache
    from assistant.providers.usage import CallRecord, record_call, summarise_usage
    from assistant.spend.anomalies import provider_error_rates, turn_spend_spikes
    from assistant.spend.caps import SpendLedger, thread_spend_usd

    db = Database(target)
    costs = [0.01, 0.01, 0.01, 0.5]
    ids = [
        record_call(
            db,
            CallRecord(
                "openai",
                "m",
                "ok",
                input_tokens=10,
                cost_usd=cost,
                cache_hit=False,
                thread_id="t1",
                turn_id=f"u{i}",
            ),
        )
        for i, cost in enumerate(costs)
    ]
    record_call(db, CallRecord("openai", "m", "error", thread_id="t1", turn_id="u4"))
    assert ids == [1, 2, 3, 4]
    assert thread_spend_usd(db, "t1") == pytest.approx(0.53)
    assert SpendLedger(db).thread_usd("t1") == pytest.approx(0.53)
    summary = summarise_usage(db, thread_id="t1")
    assert [group.key for group in summary.by_model] == ["openai/m"]
    [spike] = turn_spend_spikes(db, factor=5, min_turns=3)
    assert (spike.turn_id, spike.unit) == ("u3", "usd")
    [rate] = provider_error_rates(db, threshold=0.2, window=5, min_calls=5)
    assert rate.subject == "openai"

    cache = ResponseCache(db, max_rows=1)
    cache.put("k1", "openai", "m", [StreamText("one"), StreamEnd("stop")], thread_id="t1")
    cache.put("k1", "openai", "m", [StreamText("again"), StreamEnd("stop")], thread_id="t1")
    cache.put("k2", "openai", "m", [StreamText("two"), StreamEnd("stop")], thread_id="t1")
    assert cache.get("k1") is None  # the oldest went when the row bound was passed
    assert cache.get("k2") == (StreamText("two"), StreamUsage(0, 0), StreamEnd("stop"))
    db.close()


@pytest.mark.postgres
async def test_a_training_turn_on_postgres_keeps_everything_there(
    postgres_server_url: str, tmp_path: Path
) -> None:
    import pandas as pd

    from assistant.session import Assistant
    from assistant.settings import Settings

    url = new_database(postgres_server_url)
    env = {"MLCHAT_DATA_DIR": str(tmp_path / "data"), "MLCHAT_DATABASE_URL": url}
    env["MLCHAT_BUDGET_S"] = "3"
    frame = pd.DataFrame(
        {
            "tenure": [(i * 7) % 72 for i in range(80)],
            "contract": [("monthly", "yearly")[i % 2] for i in range(80)],
            "churn": ["yes" if (i * 7) % 72 < 20 else "no" for i in range(80)],
        }
    )
    frame.to_csv(tmp_path / "churn.csv", index=False)
    assistant = Assistant(Settings.from_env(env, env_file=tmp_path / "none.env"))
    assistant.attach_file("t1", tmp_path / "churn.csv")
    [_ async for _ in assistant.run_turn("t1", "train a model to predict churn")]
    await assistant.close()

    db = Database(url)
    counts = {
        table: db.query(f"SELECT COUNT(*) FROM {table}")[0][0]
        for table in ("threads", "messages", "datasets", "runs", "llm_calls", "warmstart_run")
    }
    assert counts["threads"] == counts["datasets"] == counts["runs"] == 1
    assert counts["warmstart_run"] == 0  # created by the worker; a run this short tunes nothing
    assert counts["messages"] >= 3 and counts["llm_calls"] >= 1
    assert not (tmp_path / "data" / "mlchat.db").exists()
    assert not (tmp_path / "data" / "optuna" / "warmstart.db").exists()
    db.close()
