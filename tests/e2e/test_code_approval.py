"""Asking before code runs, in a real browser: Skip keeps the code from running, Run runs it.

The server talks to the fake OpenAI server, which asks for ``run_code``
twice; the test clicks Skip on the first question and Run on the second,
and reads what the model was sent back each time.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ChainlitServer, log_in, screenshot, send_message
from tests.fakes.llm_servers import FakeLLMServer, text, tool_call

pytestmark = pytest.mark.e2e

SKIPPED = "print('skipped-' + 'marker')"
RAN = "print('ran-' + 'marker')"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer("openai") as server:
        yield server


@pytest.fixture(scope="module")
def server(fake: FakeLLMServer) -> Iterator[ChainlitServer]:
    base = Path(tempfile.mkdtemp(prefix="mlchat-e2e-approval-"))
    chainlit_server = ChainlitServer(
        base / "data",
        base / "server.log",
        env={
            "OPENAI_API_KEY": "sk-e2e-fake",
            "OPENAI_BASE_URL": fake.url,
            "MLCHAT_PROVIDER": "openai",
            "MLCHAT_CODE_APPROVAL": "ask",
        },
    )
    chainlit_server.start()
    yield chainlit_server
    chainlit_server.stop()
    shutil.rmtree(base, ignore_errors=True)


def _answers(page: Page, answer: str) -> object:
    return page.locator("[data-step-type='assistant_message']").filter(has_text=answer)


def test_skip_then_run_in_the_browser(
    server: ChainlitServer, fake: FakeLLMServer, page: Page
) -> None:
    fake.reply(
        tool_call("run_code", {"code": SKIPPED}),
        text("You skipped it."),
        tool_call("run_code", {"code": RAN}),
        text("It ran."),
    )
    log_in(page, server)

    send_message(page, "run something")
    question = _answers(page, "The model wants to run this code").last
    expect(question).to_contain_text("skipped-' + 'marker")
    screenshot(page, "approval", "1-asked")
    page.get_by_role("button", name="Skip").click()
    expect(_answers(page, "You skipped it.")).to_have_count(1)
    sent_back = fake.requests[1].body["messages"][-1]
    assert (sent_back["role"], sent_back["content"]) == (
        "tool",
        "The user declined to run this code.",
    )

    send_message(page, "run something else")
    expect(_answers(page, "Selected: Skip")).to_have_count(1)  # the answered question
    expect(_answers(page, "The model wants to run this code").last).to_contain_text(
        "ran-' + 'marker"
    )
    page.get_by_role("button", name="Run", exact=True).click()
    expect(_answers(page, "It ran.")).to_have_count(1)
    screenshot(page, "approval", "2-ran")
    assert "ran-marker" in fake.requests[3].body["messages"][-1]["content"]
    assert all("skipped-marker" not in str(r.body) for r in fake.requests)
