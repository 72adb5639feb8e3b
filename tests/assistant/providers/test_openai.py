"""OpenAI adapter: wire translation and the quirks of OpenAI-compatible servers."""

from __future__ import annotations

import json

import pytest

from assistant.errors import ProviderUnsupported
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
from assistant.providers.openai import OpenAIProvider
from assistant.providers.tokens import count_prompt_tokens
from tests.fakes.llm_servers import FakeCall, FakeLLMServer, Turn, error, text

TOOLS = [ToolSpec("profile_table", "Profile a table.", {"type": "object", "properties": {}})]
SETTINGS = ChatSettings("llama3.1")


def local_server(fake: FakeLLMServer) -> OpenAIProvider:
    return OpenAIProvider(api_key="not-needed", base_url=fake.url, timeout_s=5.0)


async def collect(provider: OpenAIProvider, messages: list[Message]) -> list:
    return [d async for d in provider.stream(messages, TOOLS, SETTINGS)]


async def test_history_with_tool_calls_and_results_is_sent_in_openai_shape(
    fake_openai: FakeLLMServer,
) -> None:
    fake_openai.reply(text("done"))
    history = [
        Message("system", "sys"),
        Message("user", "profile it"),
        Message(
            "assistant",
            "",
            tool_calls=(ToolCall("call_1", "profile_table", '{"dataset_id":"d1"}'),),
        ),
        Message("tool", "5 columns", tool_call_id="call_1", name="profile_table"),
    ]

    await collect(local_server(fake_openai), history)

    body = fake_openai.requests[0].body
    assert body["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "profile it"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "profile_table", "arguments": '{"dataset_id":"d1"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "5 columns"},
    ]
    assert body["tools"][0]["function"]["name"] == "profile_table"
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 4096 and "max_completion_tokens" not in body  # model default


async def test_official_endpoint_gets_max_completion_tokens(fake_openai: FakeLLMServer) -> None:
    provider = OpenAIProvider(api_key="sk-x", base_url=None)
    assert provider._request([Message("user", "hi")], [], SETTINGS)["max_completion_tokens"] == 4096


async def test_fragments_without_index_and_whole_arguments_are_assembled(
    fake_openai: FakeLLMServer,
) -> None:
    fake_openai.reply(
        Turn(
            tool_calls=(
                FakeCall("profile_table", {"a": 1}, "c1"),
                FakeCall("profile_table", {"b": 2}, "c2"),
            ),
            omit_tool_index=True,
            args_chunks=0,
        )
    )

    deltas = await collect(local_server(fake_openai), [Message("user", "go")])

    calls = [d.call for d in deltas if isinstance(d, StreamToolCall)]
    assert [(c.id, json.loads(c.arguments)) for c in calls] == [("c1", {"a": 1}), ("c2", {"b": 2})]


async def test_finish_reason_stop_with_tool_calls_is_reported_as_tool_calls(
    fake_openai: FakeLLMServer,
) -> None:
    fake_openai.reply(Turn(tool_calls=(FakeCall("profile_table", {}),), finish_reason="stop"))

    deltas = await collect(local_server(fake_openai), [Message("user", "go")])

    assert deltas[-1] == StreamEnd("tool_calls")
    assert [d.call.arguments for d in deltas if isinstance(d, StreamToolCall)] == ["{}"]


async def test_no_usage_from_the_server_is_counted_by_us_and_flagged(
    fake_openai: FakeLLMServer,
) -> None:
    messages = [Message("user", "describe the table in detail please")]
    fake_openai.reply(text("It has five columns.", usage=None))

    deltas = await collect(local_server(fake_openai), messages)

    usage = next(d for d in deltas if isinstance(d, StreamUsage))
    assert usage == StreamUsage(
        count_prompt_tokens(messages, TOOLS, model="llama3.1"), 5, 0, is_estimate=True
    )


async def test_server_rejecting_stream_options_gets_one_resend_without_it(
    fake_openai: FakeLLMServer,
) -> None:
    fake_openai.reply(
        error(400, "Unrecognized request argument supplied: stream_options"),
        text("hi"),
        text("again"),
    )
    provider = local_server(fake_openai)

    first = await collect(provider, [Message("user", "go")])
    await collect(provider, [Message("user", "go")])

    assert [d.text for d in first if isinstance(d, StreamText)] == ["hi"]
    assert ["stream_options" in r.body for r in fake_openai.requests] == [True, False, False]


async def test_model_without_tool_support_is_unsupported(fake_openai: FakeLLMServer) -> None:
    fake_openai.reply(error(400, "registry.ollama.ai/library/gemma:2b does not support tools"))

    with pytest.raises(ProviderUnsupported, match="does not support tools"):
        await collect(local_server(fake_openai), [Message("user", "go")])
    assert len(fake_openai.requests) == 1


async def test_a_model_refusing_temperature_is_resent_without_it_once(
    fake_openai: FakeLLMServer,
) -> None:
    refusal = "Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is supported."
    fake_openai.reply(error(400, refusal), text("hi"), text("again"))
    provider = local_server(fake_openai)

    first = await collect(provider, [Message("user", "go")])
    await collect(provider, [Message("user", "go")])

    assert [d.text for d in first if isinstance(d, StreamText)] == ["hi"]
    assert ["temperature" in r.body for r in fake_openai.requests] == [True, False, False]
