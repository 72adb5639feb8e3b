"""Anthropic adapter: system prompt, tool_result turns, merged roles, cache-aware usage."""

from __future__ import annotations

from assistant.providers.anthropic import AnthropicProvider
from assistant.providers.base import (
    ChatSettings,
    Message,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolCall,
    ToolSpec,
)
from tests.fakes.llm_servers import FakeLLMServer, text, tool_call

TOOLS = [ToolSpec("profile_table", "Profile a table.", {"type": "object", "properties": {}})]


async def test_history_is_translated_to_alternating_turns_with_tool_results(
    fake_anthropic: FakeLLMServer,
) -> None:
    fake_anthropic.reply(text("ok", usage=(500, 9), cached_tokens=300))
    history = [
        Message("system", "You are mlchat."),
        Message("user", "hi"),
        Message("user", "profile d1 and d2"),
        Message(
            "assistant",
            "Profiling.",
            tool_calls=(
                ToolCall("toolu_1", "profile_table", '{"dataset_id": "d1"}'),
                ToolCall("toolu_2", "profile_table", '{"dataset_id": "d2"}'),
            ),
        ),
        Message("tool", "d1: 5 columns", tool_call_id="toolu_1", name="profile_table"),
        Message("tool", "d2: 3 columns", tool_call_id="toolu_2", name="profile_table"),
        Message("system", "Be brief."),
    ]
    provider = AnthropicProvider(api_key="sk-ant-x", base_url=fake_anthropic.url)

    deltas = [
        d async for d in provider.stream(history, TOOLS, ChatSettings("claude-x", max_tokens=99))
    ]

    body = fake_anthropic.requests[0].body
    # cache breakpoints: the last tool, the system prompt and the newest message
    assert body["system"] == [
        {
            "type": "text",
            "text": "You are mlchat.\n\nBe brief.",
            "cache_control": {"type": "ephemeral"},
        }
    ]
    assert body["max_tokens"] == 99
    assert body["tools"] == [
        {
            "name": "profile_table",
            "description": "Profile a table.",
            "input_schema": TOOLS[0].parameters,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "text", "text": "profile d1 and d2"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Profiling."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "profile_table",
                    "input": {"dataset_id": "d1"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "profile_table",
                    "input": {"dataset_id": "d2"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "d1: 5 columns"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": "d2: 3 columns",
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
    ]
    assert fake_anthropic.requests[0].headers["authorization"] == "Bearer sk-ant-x"  # anthropic 2.x
    # input = uncached 200 + cache reads 300: the whole prompt, as the other providers report it
    assert [d for d in deltas if isinstance(d, StreamUsage)] == [StreamUsage(500, 9, 300)]


async def test_thinking_blocks_are_kept_and_sent_back_verbatim(
    fake_anthropic: FakeLLMServer,
) -> None:
    fake_anthropic.reply(
        tool_call(
            "profile_table", {"dataset_id": "d1"}, call_id="toolu_9", thought_signature="sig-123"
        ),
        text("done"),
    )
    provider = AnthropicProvider(api_key="sk-ant-x", base_url=fake_anthropic.url)

    deltas = [d async for d in provider.stream([Message("user", "go")], TOOLS, ChatSettings("c"))]
    end = deltas[-1]
    call = next(d.call for d in deltas if isinstance(d, StreamToolCall))
    history = [
        Message("user", "go"),
        Message("assistant", "", tool_calls=(call,), provider_state=end.provider_state),
        Message("tool", "5 columns", tool_call_id="toolu_9", name="profile_table"),
    ]
    _ = [d async for d in provider.stream(history, TOOLS, ChatSettings("c"))]

    assert [d.text for d in deltas if isinstance(d, StreamText)] == []  # thinking is not shown
    sent = fake_anthropic.requests[1].body["messages"][1]
    assert sent == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Let me think.", "signature": "sig-123"},
            {
                "type": "tool_use",
                "id": "toolu_9",
                "name": "profile_table",
                "input": {"dataset_id": "d1"},
            },
        ],
    }
