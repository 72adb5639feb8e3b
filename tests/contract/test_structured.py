"""Schema-constrained answers through each real adapter: forced tool, validation, one retry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.providers.base import ChatSettings, Message
from assistant.providers.router import Route, Router
from assistant.providers.structured import StructuredAnswerError, ask_structured
from tests.contract.test_provider_contract import provider_for
from tests.fakes.llm_servers import FakeLLMServer, tool_call

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


async def ask(fake: FakeLLMServer, **options: Any) -> dict[str, Any]:
    router = Router([Route(provider_for(fake), "test-model")])
    return await ask_structured(
        router,
        ASK,
        name="plan_fields",
        description="The plan the user asked for.",
        schema=PLAN,
        settings=ChatSettings("test-model"),
        **options,
    )


async def test_a_valid_answer_comes_back_as_a_dict_from_a_forced_tool(fake: FakeLLMServer) -> None:
    fake.reply(tool_call("plan_fields", {"metric": "f1", "budget_s": 120}))

    answer = await ask(fake)

    assert answer == {"metric": "f1", "budget_s": 120}
    body = json.dumps(fake.requests[0].body)
    assert "plan_fields" in body and len(fake.requests) == 1


async def test_an_invalid_answer_is_asked_again_once_with_the_error(fake: FakeLLMServer) -> None:
    fake.reply(
        tool_call("plan_fields", {"metric": "F-one"}),
        tool_call("plan_fields", {"metric": "f1"}),
    )

    answer = await ask(fake)

    assert answer == {"metric": "f1"}
    assert len(fake.requests) == 2
    assert "is not one of" in json.dumps(fake.requests[1].body)


async def test_two_invalid_answers_fail_with_a_user_facing_error(
    fake_openai: FakeLLMServer,
) -> None:
    fake_openai.reply(
        tool_call("plan_fields", {"budget_s": 60}), tool_call("plan_fields", {"budget_s": 60})
    )

    with pytest.raises(StructuredAnswerError, match="'metric' is a required property"):
        await ask(fake_openai)


async def test_the_callers_check_counts_as_validation(fake_openai: FakeLLMServer) -> None:
    fake_openai.reply(
        tool_call("plan_fields", {"metric": "f1", "budget_s": 5000}),
        tool_call("plan_fields", {"metric": "f1", "budget_s": 300}),
    )

    def at_most_ten_minutes(answer: dict[str, Any]) -> None:
        if answer.get("budget_s", 0) > 600:
            raise ValueError("budget_s must be at most 600")

    assert await ask(fake_openai, check=at_most_ten_minutes) == {"metric": "f1", "budget_s": 300}
    assert "budget_s must be at most 600" in json.dumps(fake_openai.requests[1].body)
