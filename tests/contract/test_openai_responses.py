"""OpenAI's Responses API through the real SDK against the fake: text, tool calls, reasoning items."""

from __future__ import annotations

import json

from assistant.providers._assembly import CUT_CALL
from assistant.providers.base import (
    ChatSettings,
    Message,
    StreamEnd,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolCall,
    ToolSpec,
)
from assistant.providers.openai_responses import OpenAIResponsesProvider
from assistant.providers.router import Route, Router
from tests.fakes.llm_servers import FakeCall, FakeLLMServer, Turn, error, text, tool_call

HISTORY = [Message("system", "You train models."), Message("user", "train on iris")]
TOOLS = [ToolSpec("train_candidates", "Train.", {"type": "object", "properties": {}})]


def provider(fake: FakeLLMServer) -> OpenAIResponsesProvider:
    return OpenAIResponsesProvider(api_key="sk-test", base_url=fake.url, timeout_s=5.0)


async def collect(fake: FakeLLMServer, messages: list[Message] = HISTORY, model: str = "gpt-x"):  # type: ignore[no-untyped-def]
    return [d async for d in provider(fake).stream(messages, TOOLS, ChatSettings(model))]


async def test_text_streams_and_the_request_is_a_stateless_responses_request(
    fake_openai: FakeLLMServer,
) -> None:
    fake_openai.reply(text("Iris has 150 rows.", text_chunks=3, usage=(40, 9), cached_tokens=32))

    deltas = await collect(fake_openai)

    assert "".join(d.text for d in deltas if isinstance(d, StreamText)) == "Iris has 150 rows."
    assert deltas[-2:] == [StreamUsage(40, 9, 32), StreamEnd("stop")]
    request = fake_openai.requests[0]
    assert request.path == "/v1/responses"
    body = request.body
    assert body["instructions"] == "You train models."
    assert body["input"] == [{"role": "user", "content": "train on iris"}]
    assert (body["store"], body["include"]) == (False, ["reasoning.encrypted_content"])
    assert body["tools"][0]["name"] == "train_candidates"


async def test_a_reasoning_model_refusing_temperature_is_sent_without_it_from_then_on(
    fake_openai: FakeLLMServer,
) -> None:
    refusal = "Unsupported parameter: 'temperature' is not supported with this model."
    fake_openai.reply(error(400, refusal), text("hi"), text("again"))
    luna = provider(fake_openai)

    first = [d async for d in luna.stream(HISTORY, TOOLS, ChatSettings("gpt-6-luna"))]
    [d async for d in luna.stream(HISTORY, TOOLS, ChatSettings("gpt-6-luna"))]

    assert [d.text for d in first if isinstance(d, StreamText)] == ["hi"]
    assert ["temperature" in r.body for r in fake_openai.requests] == [True, False, False]


async def test_tool_calls_and_reasoning_items_are_kept_and_replayed_in_order(
    fake_openai: FakeLLMServer,
) -> None:
    fake_openai.reply(
        Turn(
            tool_calls=(FakeCall("train_candidates", {"target": "species"}, "call_9"),),
            thought_signature="ENCRYPTED",
            args_chunks=3,
        ),
        text("Done."),
    )

    deltas = await collect(fake_openai)
    calls = [d.call for d in deltas if isinstance(d, StreamToolCall)]
    end = deltas[-1]
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_9", "train_candidates", {"target": "species"})
    ]
    assert isinstance(end, StreamEnd) and end.reason == "tool_calls"
    assert end.provider_state["openai_reasoning"][0]["encrypted_content"] == "ENCRYPTED"

    history = [
        *HISTORY,
        Message("assistant", "", tool_calls=tuple(calls), provider_state=end.provider_state),
        Message("tool", '{"accuracy": 0.95}', tool_call_id="call_9", name="train_candidates"),
    ]
    await collect(fake_openai, history)

    sent = fake_openai.requests[1].body["input"]
    assert [item.get("type", item.get("role")) for item in sent] == [
        "user",
        "reasoning",
        "function_call",
        "function_call_output",
    ]
    assert sent[1]["encrypted_content"] == "ENCRYPTED"
    assert sent[2] == {
        "type": "function_call",
        "call_id": "call_9",
        "name": "train_candidates",
        "arguments": '{"target": "species"}',
    }


async def test_reasoning_is_not_replayed_to_another_model(fake_openai: FakeLLMServer) -> None:
    fake_openai.reply(text("ok"))
    call = ToolCall("call_1", "train_candidates", "{}")
    state = {"model": "gpt-a", "openai_reasoning": [{"type": "reasoning", "id": "rs_1"}]}
    history = [
        *HISTORY,
        Message("assistant", "", tool_calls=(call,), provider_state=state),
        Message("tool", "done", tool_call_id="call_1", name="train_candidates"),
    ]

    await collect(fake_openai, history, model="gpt-b")

    assert "reasoning" not in json.dumps(fake_openai.requests[0].body["input"])


async def test_incomplete_responses_map_to_length_and_blocked(fake_openai: FakeLLMServer) -> None:
    fake_openai.reply(
        text("The best", finish_reason="max_output_tokens"),
        text("", finish_reason="content_filter"),
        tool_call("train_candidates", '{"target": "sp', finish_reason="max_output_tokens"),
        Turn(refusal="I can't help with that."),
    )

    ends = [(await collect(fake_openai))[-1] for _ in range(4)]

    assert [e.reason for e in ends] == ["length", "blocked", "length", "refusal"]  # type: ignore[union-attr]
    assert ends[2].detail == CUT_CALL  # type: ignore[union-attr]


async def test_a_stream_cut_after_a_complete_call_is_retried(fake_openai: FakeLLMServer) -> None:
    call = FakeCall("train_candidates", {"target": "y"}, "call_1")
    # created, item added, arguments, item done | cut before response.completed
    fake_openai.reply(Turn(tool_calls=(call,), cut_after_events=4), Turn(tool_calls=(call,)))

    async def no_sleep(seconds: float) -> None:
        pass

    router = Router([Route(provider(fake_openai), "gpt-x")], sleep=no_sleep)
    deltas = [d async for d in router.stream(HISTORY, TOOLS, ChatSettings("gpt-x"))]

    assert [d.call.id for d in deltas if isinstance(d, StreamToolCall)] == ["call_1"]
    assert len(fake_openai.requests) == 2


def test_official_openai_uses_responses_and_compatible_servers_chat(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from assistant.providers.openai import OpenAIProvider
    from assistant.providers.registry import build_provider
    from assistant.settings import Settings

    def built(**env: str) -> object:
        settings = Settings.from_env(
            {"MLCHAT_DATA_DIR": str(tmp_path), "OPENAI_API_KEY": "sk-x", **env},
            env_file=tmp_path / "none.env",
        )
        return build_provider(settings, "openai")

    assert isinstance(built(), OpenAIResponsesProvider)
    assert isinstance(built(OPENAI_BASE_URL="http://127.0.0.1:1/v1"), OpenAIProvider)
    forced = built(OPENAI_BASE_URL="http://127.0.0.1:1/v1", MLCHAT_OPENAI_API="responses")
    assert isinstance(forced, OpenAIResponsesProvider)
