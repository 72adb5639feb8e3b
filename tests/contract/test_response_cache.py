"""The response cache stays in its conversation and endpoint, is bounded, and can be bypassed."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.providers import cache as cache_module
from assistant.providers.base import ChatSettings, Delta, Message, StreamText, ToolCall, ToolSpec
from assistant.providers.openai import OpenAIProvider
from assistant.providers.router import Route, Router
from assistant.providers.usage import CallContext
from assistant.store import Database
from tests.fakes.llm_servers import FakeLLMServer, text

TOOLS = [ToolSpec("train_candidates", "Train.", {"type": "object", "properties": {}})]
QUESTION = [Message("system", "You train models."), Message("user", "train on iris")]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "mlchat.db")


def route(fake: FakeLLMServer) -> Route:
    return Route(OpenAIProvider(api_key="sk-test", base_url=fake.url, timeout_s=5.0), "same-model")


async def ask(
    router: Router,
    thread: str = "t1",
    messages: list[Message] = QUESTION,
    *,
    fresh: bool = False,
) -> str:
    context = CallContext(thread, "turn", fresh=fresh)
    deltas: list[Delta] = [
        d async for d in router.stream(messages, TOOLS, ChatSettings("x"), context=context)
    ]
    return "".join(d.text for d in deltas if isinstance(d, StreamText))


def count(db: Database) -> int:
    return int(db.query("SELECT COUNT(*) AS n FROM response_cache")[0]["n"])


async def test_the_same_request_to_another_endpoint_is_not_answered_from_the_cache(
    fake_openai: FakeLLMServer, db: Database
) -> None:
    with FakeLLMServer("openai") as local:
        fake_openai.reply(text("from the cloud"))
        local.reply(text("from the local server"))

        assert await ask(Router([route(fake_openai)], db=db)) == "from the cloud"
        assert await ask(Router([route(local)], db=db)) == "from the local server"

        assert (len(fake_openai.requests), len(local.requests)) == (1, 1)
        endpoints = {r["endpoint"] for r in db.query("SELECT endpoint FROM response_cache")}
        assert endpoints == {fake_openai.url, local.url}


async def test_another_conversation_never_gets_this_ones_answer(
    fake_openai: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(text("for t1"), text("for t2"))
    router = Router([route(fake_openai)], db=db)

    assert await ask(router, "t1") == "for t1"
    assert await ask(router, "t2") == "for t2"
    assert await ask(router, "t1") == "for t1"  # replayed within its own conversation

    assert len(fake_openai.requests) == 2


async def test_a_tool_turn_is_replayed_only_when_arguments_and_results_are_identical(
    fake_openai: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(text("accuracy 0.9"), text("accuracy 0.7"))
    router = Router([route(fake_openai)], db=db)

    def after_tool(result: str) -> list[Message]:
        call = ToolCall("c1", "train_candidates", '{"target": "y"}')
        return [
            *QUESTION,
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", result, tool_call_id="c1", name="train_candidates"),
        ]

    assert await ask(router, messages=after_tool('{"accuracy": 0.9}')) == "accuracy 0.9"
    assert await ask(router, messages=after_tool('{"accuracy": 0.7}')) == "accuracy 0.7"
    assert await ask(router, messages=after_tool('{"accuracy": 0.9}')) == "accuracy 0.9"

    assert len(fake_openai.requests) == 2


async def test_the_cache_keeps_at_most_its_row_bound(
    fake_openai: FakeLLMServer, db: Database
) -> None:
    fake_openai.default = text("answer")
    router = Router([route(fake_openai)], db=db, cache_rows=3)

    for number in range(6):
        await ask(router, f"t{number}")

    assert count(db) == 3
    kept = {r["thread_id"] for r in db.query("SELECT thread_id FROM response_cache")}
    assert kept == {"t3", "t4", "t5"}  # the newest


async def test_an_answer_older_than_the_age_bound_is_not_replayed_and_is_deleted(
    fake_openai: FakeLLMServer, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.reply(text("old"), text("new"), text("other"))
    router = Router([route(fake_openai)], db=db, cache_age_s=60)
    clock = [1_000_000.0]
    monkeypatch.setattr(cache_module, "now", lambda: clock[0])

    assert await ask(router) == "old"
    clock[0] += 61
    assert await ask(router) == "new"
    clock[0] += 30
    await ask(router, "t2")

    assert len(fake_openai.requests) == 3
    assert count(db) == 2  # "old" was replaced; nothing older than 60 s is kept


async def test_a_regenerate_skips_the_cache_and_replaces_the_answer(
    fake_openai: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(text("first"), text("second"))
    router = Router([route(fake_openai)], db=db)

    assert await ask(router) == "first"
    assert await ask(router, fresh=True) == "second"
    assert await ask(router) == "second"

    assert len(fake_openai.requests) == 2
    assert count(db) == 1


async def test_zero_rows_turns_the_cache_off(fake_openai: FakeLLMServer, db: Database) -> None:
    fake_openai.reply(text("one"), text("two"))
    router = Router([route(fake_openai)], db=db, cache_rows=0)

    assert [await ask(router), await ask(router)] == ["one", "two"]
    assert count(db) == 0
