"""Provider faults through the whole assistant: the router over a real SDK and a fake server.

Each protocol's fake server (tests/fakes/llm_servers.py) answers with a fault,
then a tool call, then text. The Assistant is built from settings alone (key +
base URL), so the retry policy, the adapters and the agent loop are the
product's own. Asserted: the exact number of HTTP requests (retries happen in
the router only, never again in the agent), the tool runs exactly once, the
user gets an honest message when the fault is final, and the next message in
the thread works.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from assistant.events import Failed, ToolStarted, TurnFinished
from assistant.session import Assistant
from assistant.settings import Settings
from tests.fakes.llm_servers import FakeLLMServer, Stall, Turn, error, text, tool_call
from tests.reliability.common import assert_one_clear_message, reply, small_table, turn

PROTOCOLS = ["openai", "anthropic", "gemini"]
_ENV = {
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "sk-test-faults"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "sk-ant-test-faults"),
    "gemini": ("GEMINI_API_KEY", "GEMINI_BASE_URL", "AIza-test-faults"),
}


def settings_for(protocol: str, fake: FakeLLMServer, root: Path, **extra: str) -> Settings:
    key_name, url_name, key = _ENV[protocol]
    env = {
        "MLCHAT_DATA_DIR": str(root / "data"),
        "MLCHAT_PROVIDER": protocol,
        key_name: key,
        url_name: fake.url,
        # The spend guard's per-minute limits are tested in test_spend.py; here they would
        # only wait (a 429 tightens Gemini's default 10 requests a minute to 5).
        f"MLCHAT_RPM_{protocol.upper()}": "100000",
        f"MLCHAT_TPM_{protocol.upper()}": "100000000",
        **extra,
    }
    return Settings.from_env(env, env_file=root / "none.env")


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> FakeLLMServer:
    return request.getfixturevalue(f"fake_{request.param}")


@pytest_asyncio.fixture
async def rig(
    fake: FakeLLMServer, tmp_path: Path
) -> AsyncIterator[tuple[Assistant, FakeLLMServer]]:
    protocol = fake.protocol if hasattr(fake, "protocol") else "openai"
    helper = Assistant(settings_for(protocol, fake, tmp_path))
    small_table().to_csv(tmp_path / "good.csv", index=False)
    helper.files = tmp_path  # type: ignore[attr-defined]
    yield helper, fake
    await helper.close()


def tool_rows(assistant: Assistant, thread: str) -> list[str]:
    return [m.content for m in assistant.conversations.messages(thread) if m.role == "tool"]


async def next_message_works(assistant: Assistant, fake: FakeLLMServer, thread: str) -> None:
    before = len(fake.requests)
    fake.reply(text("Still here."))
    events = await turn(assistant, thread, "are you there?")
    assert "Still here." in reply(events)
    assert not [e for e in events if isinstance(e, Failed)]
    assert len(fake.requests) == before + 1


RETRIED = {
    "429": lambda: error(429, "rate limited", retry_after="0"),
    "500": lambda: error(500, "internal error"),
    "529": lambda: error(529, "overloaded"),
    "cut_mid_tool_call": lambda: None,  # built per protocol by _cut_mid_tool_call
}
_CUT_AFTER = {"openai": 2, "anthropic": 3, "gemini": 0}
"""SSE events sent before the cut: inside the call's argument fragments for OpenAI and
Anthropic; Gemini sends a function call as one event, so its cut comes before it."""


def _cut_mid_tool_call(protocol: str) -> Turn:
    return Turn(
        tool_calls=tool_call("profile_dataset", {"dataset_id": "d1"}).tool_calls,
        args_chunks=4,
        cut_after_events=_CUT_AFTER[protocol],
    )


@pytest.mark.parametrize("fake", PROTOCOLS, indirect=True)
@pytest.mark.parametrize("fault", sorted(RETRIED))
async def test_a_transient_fault_is_retried_once_and_the_tool_runs_once(
    rig: tuple[Assistant, FakeLLMServer], fault: str
) -> None:
    assistant, fake = rig
    thread = "faults"
    record = assistant.attach_file(thread, assistant.files / "good.csv")  # type: ignore[attr-defined]
    fake.reply(
        _cut_mid_tool_call(fake.protocol) if fault == "cut_mid_tool_call" else RETRIED[fault](),
        tool_call("profile_dataset", {"dataset_id": record.id}),
        text("The table has 120 rows."),
    )
    events = await turn(assistant, thread, "profile it", [record])
    assert len(fake.requests) == 3, [r.path for r in fake.requests]  # fault, retry, after the tool
    assert [e.tool for e in events if isinstance(e, ToolStarted)] == ["profile_dataset"]
    assert len(tool_rows(assistant, thread)) == 1
    assert "120 rows" in reply(events)
    assert isinstance(events[-1], TurnFinished) and not events[-1].stopped
    await next_message_works(assistant, fake, thread)


@pytest.mark.parametrize("fake", PROTOCOLS, indirect=True)
async def test_a_fault_that_persists_gives_one_honest_message_after_three_requests(
    rig: tuple[Assistant, FakeLLMServer],
) -> None:
    assistant, fake = rig
    fake.reply(error(500), error(500), error(500))
    events = await turn(assistant, "persist", "hello")
    assert len(fake.requests) == 3  # the router's three attempts; the agent does not add more
    failures = [e for e in events if isinstance(e, Failed)]
    assert len(failures) == 1
    assert_one_clear_message(
        failures[0].message, mentions=r"could not answer|try again|unavailable"
    )
    await next_message_works(assistant, fake, "persist")


@pytest.mark.parametrize("fake", PROTOCOLS, indirect=True)
async def test_malformed_tool_arguments_never_run_the_tool(
    rig: tuple[Assistant, FakeLLMServer],
) -> None:
    assistant, fake = rig
    thread = "malformed"
    record = assistant.attach_file(thread, assistant.files / "good.csv")  # type: ignore[attr-defined]
    if fake.protocol == "gemini":  # Gemini reports a malformed call instead of sending it
        broken = Turn(finish_reason="MALFORMED_FUNCTION_CALL")
    else:
        broken = tool_call("profile_dataset", '{"dataset_id": "d1", oops')
    fake.reply(broken, text("Fixed."))
    events = await turn(assistant, thread, "profile it", [record])
    # asked again once, with the error in context; the broken call never runs
    assert len(fake.requests) == 2
    assert "could not be used" in json.dumps(fake.requests[1].body)
    assert not [e for e in events if isinstance(e, ToolStarted)]
    assert tool_rows(assistant, thread) == []
    assert not [e for e in events if isinstance(e, Failed)]
    assert events[-1] == TurnFinished("Fixed.")
    fake.reset()
    await next_message_works(assistant, fake, thread)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_stalled_provider_is_stopped_by_the_turn_deadline(
    protocol: str, tmp_path: Path
) -> None:
    with FakeLLMServer(protocol) as fake:  # type: ignore[arg-type]
        helper = Assistant(settings_for(protocol, fake, tmp_path, MLCHAT_TURN_DEADLINE_S="2"))
        try:
            fake.reply(Stall())
            started = time.monotonic()
            events = await turn(helper, "stall", "hello")
            elapsed = time.monotonic() - started
            assert elapsed < 4.0
            failures = [e for e in events if isinstance(e, Failed)]
            assert len(failures) == 1
            assert_one_clear_message(failures[0].message, mentions=r"longer than 2 s")
            assert len(fake.requests) == 1
            await next_message_works(helper, fake, "stall")
        finally:
            await helper.close()
