"""Tables read from a real PostgreSQL: read-only, capped, and the password kept out (issue 20)."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy

from assistant.cli import main
from assistant.events import ToolFinished, ToolStarted
from assistant.session import Assistant
from assistant.settings import Settings
from tests.postgres import new_database
from tools.errors import DataError
from tools.sql_source import check_select, masked_url, read_sql

pytestmark = pytest.mark.postgres

PASSWORD = f"pw-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def orders_url(postgres_server_url: str) -> str:
    """A database with a 200-row ``orders`` table, as a URL with the analyst's password in it."""
    url = new_database(postgres_server_url)
    rng = np.random.default_rng(5)
    n = 200
    tenure = rng.integers(1, 72, n)
    frame = pd.DataFrame(
        {
            "tenure": tenure,
            "monthly": rng.normal(60, 15, n).round(2),
            "plan": rng.choice(["basic", "pro"], n),
            "churn": np.where(tenure + rng.normal(0, 8, n) < 24, "yes", "no"),
        }
    )
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    frame.to_sql("orders", engine, index=False)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE ROLE analyst LOGIN PASSWORD '{PASSWORD}'"))
        conn.execute(sqlalchemy.text("GRANT ALL ON orders TO analyst"))
        conn.execute(sqlalchemy.text("CREATE SEQUENCE counter"))
        conn.execute(sqlalchemy.text("GRANT ALL ON counter TO analyst"))
    engine.dispose()
    return url.replace("postgres@", f"analyst:{PASSWORD}@", 1)


def test_a_table_is_read_up_to_the_row_limit(orders_url: str) -> None:
    read = read_sql(orders_url, table="orders", max_rows=50)
    assert (read.frame.shape, read.is_truncated) == ((50, 4), True)
    assert read.source == f"table orders of {masked_url(orders_url)}"
    assert PASSWORD not in read.source and ":***@" in read.source
    full = read_sql(orders_url, query="SELECT churn FROM orders WHERE tenure < 24", max_rows=500)
    assert not full.is_truncated and set(full.frame["churn"]) <= {"yes", "no"}


def test_only_selects_are_read_and_the_transaction_is_read_only(orders_url: str) -> None:
    for statement in (
        "DELETE FROM orders",
        "SELECT 1; DROP TABLE orders",
        "UPDATE orders SET plan='x'",
    ):
        with pytest.raises(DataError, match="SELECT"):
            check_select(statement)
    sneaky = "SELECT nextval('counter')"  # a SELECT that writes
    with pytest.raises(DataError, match="read-only transaction") as caught:
        read_sql(orders_url, query=sneaky, max_rows=10)
    assert PASSWORD not in str(caught.value)
    assert len(read_sql(orders_url, table="orders", max_rows=1_000).frame) == 200


async def test_train_on_a_database_table_keeps_the_password_out_of_logs_and_the_store(
    orders_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"MLCHAT_DATA_DIR": str(tmp_path / "data"), "MLCHAT_BUDGET_S": "4"}
    assistant = Assistant(Settings.from_env(env, env_file=tmp_path / "none.env"))
    assert assistant.is_offline
    message = f"train on the table `orders` of {orders_url} to predict churn"
    events = [event async for event in assistant.run_turn("t1", message)]
    await assistant.close()

    started = [(e.tool, e.arguments) for e in events if isinstance(e, ToolStarted)]
    assert [tool for tool, _ in started] == ["load_sql_table", "train_models"]
    assert started[0][1]["source"] == masked_url(orders_url)
    assert started[1][1]["target"] == "churn"
    [dataset] = assistant.conversations.datasets("t1")
    assert (dataset.name, dataset.n_rows, dataset.n_columns) == ("orders.parquet", 200, 4)
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert "200 rows" in finished[0].summary and PASSWORD not in finished[0].summary
    assert assistant.runs.latest("t1", with_model=True) is not None

    assert PASSWORD not in caplog.text
    with sqlite3.connect(tmp_path / "data" / "mlchat.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [str(row) for t in tables for row in db.execute(f'SELECT * FROM "{t}"')]
    assert any(masked_url(orders_url) in row for row in rows)  # the masked URL is what is kept
    assert not [row for row in rows if PASSWORD in row]


def test_cli_trains_on_a_database_table(
    orders_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLCHAT_SQL_MAX_ROWS", "150")
    status = main(
        [
            "train",
            "--sql",
            orders_url,
            "--table",
            "orders",
            "--target",
            "churn",
            "--budget",
            "3",
            "--out",
            "run",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "Read 150 rows from the table orders" in out and "row limit" in out
    assert PASSWORD not in out
    assert (tmp_path / "run" / "orders.parquet").is_file()
    assert len(pd.read_parquet(tmp_path / "run" / "orders.parquet")) == 150
