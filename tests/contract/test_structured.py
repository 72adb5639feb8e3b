"""Schema-constrained answers through each real adapter: native mode, validation, one retry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.providers._assembly import is_strict_schema
from assistant.providers.anthropic import has_json_outputs
from assistant.providers.base import ChatSettings, Message
from assistant.providers.openai_responses import OpenAIResponsesProvider
from assistant.providers.router import Route, Router
from assistant.providers.structured import StructuredAnswerError, ask_structured
from tests.contract.test_provider_contract import provider_for
from tests.fakes.llm_servers import FakeLLMServer, Turn, text, tool_call

PLAN = {
    "type": "object",
    "properties": {
        "metric": {"type": "string", "enum": ["accuracy", "f1", "roc_auc"]},
        "budget_s": {"type": "integer", "minimum": 5},
    },
    "required": ["metric"],
}
ASK = [Message("user", "use F1 and give it two minutes")]


@pytest.fixture(params=["openai", "anthropic", "gemini"])
def fake(request: pytest.FixtureRequest) -> FakeLLMServer:
    return request.getfixturevalue(f"fake_{request.param}")


def answer(fake: FakeLLMServer, value: dict[str, Any]) -> Turn:
    """The fake's reply carrying ``value`` the way the protocol returns a structured answer."""
    if fake.protocol == "anthropic":  # no JSON mode: the forced answer tool
        return tool_call("answer", value)
    return text(json.dumps(value))


async def ask(fake: FakeLLMServer, **options: Any) -> dict[str, Any]:
    router = Router([Route(provider_for(fake), "test-model")])
    return await ask_structured(
        router, ASK, schema=PLAN, settings=ChatSettings("test-model"), **options
    )


async def test_a_valid_answer_comes_back_in_each_apis_native_mode(fake: FakeLLMServer) -> None:
    fake.reply(answer(fake, {"metric": "f1", "budget_s": 120}))

    assert await ask(fake) == {"metric": "f1", "budget_s": 120}

    body = fake.requests[0].body
    if fake.protocol == "openai":
        assert body["response_format"]["json_schema"]["schema"] == PLAN
        assert body["response_format"]["json_schema"]["strict"] is False  # PLAN is open
    elif fake.protocol == "anthropic":
        assert body["tool_choice"] == {"type": "tool", "name": "answer"}
        assert body["tools"][-1]["input_schema"] == PLAN
    else:
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        assert body["generationConfig"]["responseJsonSchema"] == PLAN
    assert len(fake.requests) == 1


async def test_current_claude_models_get_json_outputs_instead_of_a_forced_tool(
    fake_anthropic: FakeLLMServer,
) -> None:
    fake_anthropic.reply(text(json.dumps({"metric": "roc_auc"})))
    router = Router([Route(provider_for(fake_anthropic), "claude-haiku-5-5")])

    answer = await ask_structured(
        router, ASK, schema=PLAN, settings=ChatSettings("claude-haiku-5-5")
    )

    assert answer == {"metric": "roc_auc"}
    body = fake_anthropic.requests[0].body
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": PLAN}}
    assert "tool_choice" not in body and "tools" not in body


@pytest.mark.parametrize(
    ("model", "native"),
    [
        ("claude-haiku-5-5", True),
        ("claude-haiku-4-5-20251001", True),
        ("claude-sonnet-5", True),
        ("claude-opus-4-1", False),
        ("claude-sonnet-4-20250514", False),
        ("claude-3-5-haiku-latest", False),
    ],
)
def test_json_outputs_are_used_from_claude_4_5_on(model: str, native: bool) -> None:
    assert has_json_outputs(model) is native


async def test_an_invalid_answer_is_asked_again_once_with_the_error(fake: FakeLLMServer) -> None:
    fake.reply(answer(fake, {"metric": "F-one"}), answer(fake, {"metric": "f1"}))

    assert await ask(fake) == {"metric": "f1"}
    assert len(fake.requests) == 2
    assert "is not one of" in json.dumps(fake.requests[1].body)


async def test_two_invalid_answers_fail_with_a_user_facing_error(
    fake_openai: FakeLLMServer,
) -> None:
    fake_openai.reply(text('{"budget_s": 60}'), text("not json"))

    with pytest.raises(StructuredAnswerError, match="not JSON"):
        await ask(fake_openai)
    assert "'metric' is a required property" in json.dumps(fake_openai.requests[1].body)


async def test_the_callers_check_counts_as_validation(fake_openai: FakeLLMServer) -> None:
    fake_openai.reply(
        text('{"metric": "f1", "budget_s": 5000}'), text('{"metric": "f1", "budget_s": 300}')
    )

    def at_most_ten_minutes(answer: dict[str, Any]) -> None:
        if answer.get("budget_s", 0) > 600:
            raise ValueError("budget_s must be at most 600")

    assert await ask(fake_openai, check=at_most_ten_minutes) == {"metric": "f1", "budget_s": 300}
    assert "budget_s must be at most 600" in json.dumps(fake_openai.requests[1].body)


async def test_the_responses_api_gets_a_strict_json_schema_when_the_schema_allows(
    fake_openai: FakeLLMServer,
) -> None:
    closed = {**PLAN, "required": ["metric", "budget_s"], "additionalProperties": False}
    fake_openai.reply(text('{"metric": "roc_auc", "budget_s": 60}'))
    provider = OpenAIResponsesProvider(api_key="sk-test", base_url=fake_openai.url)
    router = Router([Route(provider, "gpt-x")])

    result = await ask_structured(router, ASK, schema=closed, settings=ChatSettings("gpt-x"))

    assert result == {"metric": "roc_auc", "budget_s": 60}
    sent = fake_openai.requests[0].body["text"]["format"]
    assert (sent["type"], sent["strict"], sent["schema"]) == ("json_schema", True, closed)
    assert is_strict_schema(closed) and not is_strict_schema(PLAN)
