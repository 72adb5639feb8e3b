"""The settings panel in a real browser: switching provider reaches (or stops reaching) the LLM.

The server has an OpenAI key whose base URL is the fake OpenAI server, but
starts offline (``MLCHAT_PROVIDER=offline``), so which of the two answered is
visible both in the chat and in the requests the fake server recorded.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ChainlitServer, log_in, screenshot, send_message
from tests.fakes.llm_servers import FakeLLMServer, text

pytestmark = pytest.mark.e2e

FAKE_ANSWER = "Hello from the fake model."
OFFLINE_ANSWER = "I'm running offline"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer("openai") as server:
        server.default = text(FAKE_ANSWER)
        yield server


@pytest.fixture(scope="module")
def server(fake: FakeLLMServer) -> Iterator[ChainlitServer]:
    base = Path(tempfile.mkdtemp(prefix="mlchat-e2e-settings-"))
    chainlit_server = ChainlitServer(
        base / "data",
        base / "server.log",
        env={"OPENAI_API_KEY": "sk-e2e-fake", "OPENAI_BASE_URL": fake.url},
    )
    chainlit_server.start()
    yield chainlit_server
    chainlit_server.stop()
    shutil.rmtree(base, ignore_errors=True)


def _last_reply(page: Page) -> object:
    return page.locator("[data-step-type='assistant_message']").last


def _expect_answers(page: Page, answer: str, count: int) -> None:
    """Wait until ``count`` assistant messages contain ``answer`` (a cost line may follow them)."""
    replies = page.locator("[data-step-type='assistant_message']").filter(has_text=answer)
    expect(replies).to_have_count(count)


def _choose_provider(page: Page, label: str) -> None:
    page.click("#chat-settings-open-modal")
    page.click("#provider")
    page.get_by_role("option", name=label).click()
    page.click("#confirm")


def test_switching_provider_in_the_panel_changes_who_answers_and_is_kept_on_resume(
    server: ChainlitServer, fake: FakeLLMServer, page: Page
) -> None:
    log_in(page, server)
    send_message(page, "hello there")
    _expect_answers(page, OFFLINE_ANSWER, 1)
    assert fake.requests == []

    _choose_provider(page, "OpenAI (or OpenAI-compatible)")
    expect(_last_reply(page)).to_contain_text("From your next message this conversation uses")
    expect(_last_reply(page)).to_contain_text("gpt-6-luna")
    expect(_last_reply(page)).to_contain_text("no network")  # the sandbox status line
    assert fake.requests == []  # applied from the next turn, not before
    send_message(page, "say hello through the model")
    _expect_answers(page, FAKE_ANSWER, 1)
    assert len(fake.requests) == 1
    assert fake.requests[0].body["model"] == "gpt-6-luna"
    assert fake.requests[0].body["messages"][-1]["content"] == "say hello through the model"
    screenshot(page, "settings", "1-openai")

    # the usage view shows each turn's prompt as recorded, split by model
    page.get_by_role("button", name="Usage and cost").first.click()
    usage = page.locator("[data-step-type='assistant_message']").filter(
        has_text="Usage of this conversation"
    )
    expect(usage).to_contain_text("per turn (prompt = system + history + tool results sent")
    expect(usage).to_contain_text("openai/gpt-6-luna")
    expect(usage).to_contain_text("offline/rules")
    shown = usage.inner_text()
    with sqlite3.connect(server.data_dir / "mlchat.db") as conn:
        recorded = conn.execute(
            "SELECT turn_id, MAX(prompt_tokens) FROM llm_calls GROUP BY turn_id ORDER BY MIN(id)"
        ).fetchall()
    assert len(recorded) == 2  # the offline turn, then the model's
    turn_lines = [line.split() for line in shown.splitlines() if line.strip().startswith("turn ")]
    assert [(cells[2].strip("()"), int(cells[-1])) for cells in turn_lines] == [
        (turn_id[:8], tokens) for turn_id, tokens in recorded
    ]
    screenshot(page, "settings", "3-usage")

    # reopen the conversation: the panel shows, and the turn uses, the stored choice
    page.reload()
    page.locator("#thread-history").get_by_text("hello there").first.click()
    expect(page.locator("[data-step-type='user_message']").last).to_contain_text("say hello")
    page.click("#chat-settings-open-modal")
    expect(page.locator("#provider")).to_contain_text("OpenAI")
    expect(page.locator("#model")).to_have_value("gpt-6-luna")
    page.keyboard.press("Escape")
    send_message(page, "still the model?")
    _expect_answers(page, FAKE_ANSWER, 2)
    assert len(fake.requests) == 2

    _choose_provider(page, "Offline (built-in rules, no key)")
    expect(_last_reply(page)).to_contain_text("built-in offline rules")
    send_message(page, "and now offline")
    _expect_answers(page, OFFLINE_ANSWER, 2)
    assert len(fake.requests) == 2  # nothing more reached the fake server
    screenshot(page, "settings", "2-offline-again")


def test_regenerate_on_the_last_reply_asks_the_model_again_past_the_cache(
    server: ChainlitServer, fake: FakeLLMServer, page: Page
) -> None:
    log_in(page, server)
    _choose_provider(page, "OpenAI (or OpenAI-compatible)")
    fake.reply(text("First answer."), text("Second answer."))
    before = len(fake.requests)
    send_message(page, "answer me twice")
    _expect_answers(page, "First answer.", 1)
    regenerate = page.get_by_role("button", name="Regenerate")
    expect(regenerate).to_have_count(1)

    regenerate.click()

    _expect_answers(page, "Second answer.", 1)
    _expect_answers(page, "First answer.", 0)  # the replaced answer left the chat
    expect(page.get_by_role("button", name="Regenerate")).to_have_count(1)  # on the new one
    assert len(fake.requests) == before + 2  # the same request again, not the cached answer
    assert fake.requests[-1].body["messages"] == fake.requests[-2].body["messages"]
    with sqlite3.connect(server.data_dir / "mlchat.db") as conn:
        stored = conn.execute(
            "SELECT content FROM messages WHERE role = 'assistant' AND content LIKE '%answer.'"
        ).fetchall()
    assert stored == [("Second answer.",)]
    screenshot(page, "settings", "4-regenerated")
