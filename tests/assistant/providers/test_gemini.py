"""Gemini adapter: declarations, no automatic calling, synthesised ids, thought signatures."""

from __future__ import annotations

import base64
import json

from assistant.providers.base import (
    ChatSettings,
    Message,
    StreamEnd,
    StreamToolCall,
    ToolCall,
    ToolSpec,
)
from assistant.providers.gemini import OTHER_MODEL_SIGNATURE, GeminiProvider
from tests.fakes.llm_servers import FakeCall, FakeLLMServer, Turn, text

SCHEMA = {"type": "object", "properties": {"target": {"type": "string"}}, "required": ["target"]}
TOOLS = [ToolSpec("train_candidates", "Train.", SCHEMA)]


def provider(fake: FakeLLMServer) -> GeminiProvider:
    return GeminiProvider(api_key="AIza-test-key-000000", base_url=fake.url, timeout_s=5.0)


async def test_request_declares_functions_and_sends_system_instruction(
    fake_gemini: FakeLLMServer,
) -> None:
    fake_gemini.reply(text("ok"))

    _ = [
        d
        async for d in provider(fake_gemini).stream(
            [Message("system", "sys"), Message("user", "hi")],
            TOOLS,
            ChatSettings("gemini-2.5-flash", max_tokens=77),
        )
    ]

    request = fake_gemini.requests[0]
    assert request.path.endswith("/models/gemini-2.5-flash:streamGenerateContent")
    assert request.query == {"alt": "sse"}
    assert request.headers["x-goog-api-key"] == "AIza-test-key-000000"
    body = request.body
    # google-genai sends this one field in snake case; the API's JSON parser accepts both spellings
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "train_candidates",
                    "description": "Train.",
                    "parameters_json_schema": SCHEMA,
                }
            ]
        }
    ]
    assert body["systemInstruction"]["parts"] == [{"text": "sys"}]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert body["generationConfig"]["maxOutputTokens"] == 77
    assert len(fake_gemini.requests) == 1  # nothing ran a function and called back on its own


async def test_calls_without_ids_get_distinct_ids_that_are_not_sent_back(
    fake_gemini: FakeLLMServer,
) -> None:
    fake_gemini.reply(
        Turn(
            tool_calls=(
                FakeCall("train_candidates", {"target": "a"}),
                FakeCall("train_candidates", {"target": "b"}),
            )
        ),
        text("done"),
    )
    gemini = provider(fake_gemini)
    history = [Message("user", "train")]

    deltas = [d async for d in gemini.stream(history, TOOLS, ChatSettings("g"))]
    calls = [d.call for d in deltas if isinstance(d, StreamToolCall)]
    history += [
        Message("assistant", "", tool_calls=tuple(calls)),
        *[Message("tool", f"result {c.id}", tool_call_id=c.id, name=c.name) for c in calls],
    ]
    _ = [d async for d in gemini.stream(history, TOOLS, ChatSettings("g"))]

    assert len({c.id for c in calls}) == 2 and all(c.id.startswith("gcall_") for c in calls)
    assert deltas[-1] == StreamEnd("tool_calls")
    model_turn, results_turn = fake_gemini.requests[1].body["contents"][1:]
    assert model_turn == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "train_candidates", "args": {"target": "a"}},
                # no signature was received: the first call gets the documented stand-in
                "thoughtSignature": base64.b64encode(OTHER_MODEL_SIGNATURE).decode(),
            },
            {"functionCall": {"name": "train_candidates", "args": {"target": "b"}}},
        ],
    }
    assert results_turn["role"] == "user"
    assert [p["functionResponse"]["name"] for p in results_turn["parts"]] == [
        "train_candidates"
    ] * 2
    assert all("id" not in p["functionResponse"] for p in results_turn["parts"])


async def test_thought_signatures_are_echoed_back_verbatim(fake_gemini: FakeLLMServer) -> None:
    fake_gemini.reply(
        Turn(
            tool_calls=(FakeCall("train_candidates", {"target": "y"}, "fc_1"),),
            thought_signature="c2lnbmF0dXJl",
        ),
        text("ok"),
    )
    gemini = provider(fake_gemini)

    deltas = [d async for d in gemini.stream([Message("user", "go")], TOOLS, ChatSettings("g"))]
    end = deltas[-1]
    call = next(d.call for d in deltas if isinstance(d, StreamToolCall))
    history = [
        Message("user", "go"),
        Message("assistant", "", tool_calls=(call,), provider_state=end.provider_state),
        Message("tool", "r2=0.9", tool_call_id="fc_1", name="train_candidates"),
    ]
    _ = [d async for d in gemini.stream(history, TOOLS, ChatSettings("g"))]

    assert call == ToolCall("fc_1", "train_candidates", json.dumps({"target": "y"}))
    sent_model_turn = fake_gemini.requests[1].body["contents"][1]
    assert sent_model_turn["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"
    assert sent_model_turn["parts"][0]["functionCall"]["id"] == "fc_1"
    response = fake_gemini.requests[1].body["contents"][2]["parts"][0]["functionResponse"]
    assert response == {"id": "fc_1", "name": "train_candidates", "response": {"result": "r2=0.9"}}
