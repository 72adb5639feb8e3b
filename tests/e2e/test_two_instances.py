"""Two app instances on one PostgreSQL and one shared workspace mount serve the same user.

A conversation started on the first continues on the second after a reload: the history
(Chainlit's and ours), the uploaded file and the trained model are all there (issue 20).
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ChainlitServer, log_in, screenshot
from tests.e2e.test_chat import _churn_csv, _cookie, _get, _reply_with, _send
from tests.postgres import new_database

# slow: two real app processes (about 60 s) are what this test is about
pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def instances(postgres_server_url: str) -> Iterator[tuple[ChainlitServer, ChainlitServer, str]]:
    """Two ``mlchat serve`` instances, each with its own data folder, sharing the database and
    the workspaces."""
    url = new_database(postgres_server_url)
    base = Path(tempfile.mkdtemp(prefix="mlchat-e2e-two-"))
    shared = {
        "MLCHAT_DATABASE_URL": url,
        "MLCHAT_WORKSPACE_URL": f"file://{base / 'shared-workspaces'}",
        "CHAINLIT_AUTH_SECRET": secrets.token_urlsafe(32),
    }
    # started as users do (mlchat serve), each from its own folder
    first = ChainlitServer(base / "a", base / "a.log", env=shared, serve=True)
    second = ChainlitServer(base / "b", base / "b.log", env=shared, serve=True)
    starting = threading.Thread(target=second.start)  # both at once: half the wait
    starting.start()
    try:
        first.start()
    finally:
        starting.join()
    try:
        yield first, second, url
    finally:
        second.stop()
        first.stop()
        shutil.rmtree(base, ignore_errors=True)


def _element_url(url: str, name: str) -> str:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text('SELECT "name", "url" FROM public.elements')).fetchall()
    engine.dispose()
    found = [url for stored, url in rows if stored == name]
    assert found, f"no element named {name}: {sorted(r[0] for r in rows)}"
    return str(found[0])


def _thread_ids(url: str) -> list[str]:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sqlalchemy.text('SELECT "id" FROM public.threads'))]
    engine.dispose()
    return ids


def test_a_conversation_started_on_one_instance_continues_on_the_other(
    instances: tuple[ChainlitServer, ChainlitServer, str], page: Page, tmp_path: Path
) -> None:
    first, second, url = instances
    log_in(page, first)
    upload = tmp_path / "churn.csv"
    upload.write_bytes(_churn_csv())
    _send(page, "train a model on this file to predict churn", upload)
    expect(_reply_with(page, "Best:")).to_be_visible(timeout=180_000)
    [thread_id] = _thread_ids(url)

    page.goto(f"{second.url}/thread/{thread_id}")  # the same browser, now on the other instance
    if page.locator("#email").is_visible():
        log_in(page, second)
        page.goto(f"{second.url}/thread/{thread_id}")
    user_messages = page.locator("[data-step-type='user_message']")
    expect(user_messages.first).to_contain_text("train a model on this file to predict churn")
    expect(_reply_with(page, "Best:")).to_be_visible()

    _send(page, "why is tenure important?")  # needs the model file and the data on this one
    expect(_reply_with(page, "The share of “yes”")).to_be_visible(timeout=60_000)
    expect(_reply_with(page, "tenure is")).to_be_visible()
    expect(page.locator(".js-plotly-plot").last).to_be_visible(timeout=30_000)
    screenshot(page, "two-instances", "continued")
    assert _thread_ids(url) == [thread_id]

    # The attachment the first instance stored is served by the second (shared element files).
    status, body = _get(second, _element_url(url, "churn.csv"), _cookie(page))
    assert (status, body) == (200, upload.read_bytes())
