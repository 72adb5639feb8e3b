"""Every provider adapter, on its real SDK, against a fake server speaking its wire protocol.

The same scripted behaviours run for OpenAI, Anthropic and Gemini; each test
asserts the exact deltas the interface yields or the exact error, and the
number of requests the server saw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.errors import (
    ProviderAuthError,
    ProviderContextExceeded,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderStreamError,
    ProviderTimeout,
    ProviderUnsupported,
)
from assistant.providers._assembly import CUT_CALL
from assistant.providers.anthropic import AnthropicProvider
from assistant.providers.base import (
    ChatSettings,
    Delta,
    Message,
    Provider,
    StreamEnd,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolCall,
    ToolSpec,
)
from assistant.providers.gemini import GeminiProvider
from assistant.providers.openai import OpenAIProvider
from assistant.providers.router import Route, Router
from tests.fakes.llm_servers import FakeCall, FakeLLMServer, Stall, Turn, error, text, tool_call

PROTOCOLS = ["openai", "anthropic", "gemini"]
HISTORY = [Message("system", "You train models."), Message("user", "train on iris")]
TOOLS = [
    ToolSpec(
        "train_candidates",
        "Cross-validate the candidate models.",
        {"type": "object", "properties": {"target": {"type": "string"}}, "required": ["target"]},
    )
]
SETTINGS = ChatSettings("test-model")


@pytest.fixture(params=PROTOCOLS)
def fake(request: pytest.FixtureRequest) -> FakeLLMServer:
    """The fake server of each protocol in turn."""
    return request.getfixturevalue(f"fake_{request.param}")


def provider_for(
    fake: FakeLLMServer, *, api_key: str = "sk-test-key", timeout_s: float = 5.0
) -> Provider:
    """The real adapter of ``fake``'s protocol, pointed at it."""
    if fake.protocol == "openai":
        return OpenAIProvider(api_key=api_key, base_url=fake.url, timeout_s=timeout_s)
    if fake.protocol == "anthropic":
        return AnthropicProvider(api_key=api_key, base_url=fake.url, timeout_s=timeout_s)
    return GeminiProvider(api_key=api_key, base_url=fake.url, timeout_s=timeout_s)


async def collect(provider: Provider, messages: list[Message] = HISTORY) -> list[Delta]:
    return [delta async for delta in provider.stream(messages, TOOLS, SETTINGS)]


def calls_of(deltas: list[Delta]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (d.call.name, json.loads(d.call.arguments)) for d in deltas if isinstance(d, StreamToolCall)
    ]


async def test_plain_text_streams_in_order_and_ends_with_usage_then_stop(
    fake: FakeLLMServer,
) -> None:
    fake.reply(text("Iris has 150 rows.", text_chunks=4, usage=(40, 9)))

    deltas = await collect(provider_for(fake))

    assert [d.text for d in deltas if isinstance(d, StreamText)] == [
        "Iris ",
        "has 1",
        "50 ro",
        "ws.",
    ]
    assert deltas[-2:] == [StreamUsage(40, 9), StreamEnd("stop")]
    assert len(fake.requests) == 1


async def test_single_tool_call_is_one_complete_call(fake: FakeLLMServer) -> None:
    fake.reply(tool_call("train_candidates", {"target": "species"}, call_id="call_abc"))

    deltas = await collect(provider_for(fake))

    calls = [d.call for d in deltas if isinstance(d, StreamToolCall)]
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_abc", "train_candidates", {"target": "species"})
    ]
    assert deltas[-1] == StreamEnd("tool_calls")


async def test_parallel_tool_calls_keep_their_order_and_ids(fake: FakeLLMServer) -> None:
    fake.reply(
        Turn(
            tool_calls=(
                FakeCall("train_candidates", {"target": "a"}, "id_1"),
                FakeCall("train_candidates", {"target": "b"}, "id_2"),
                FakeCall("profile_table", {"dataset_id": "d1"}, "id_3"),
            )
        )
    )

    deltas = await collect(provider_for(fake))

    calls = [d.call for d in deltas if isinstance(d, StreamToolCall)]
    assert [c.id for c in calls] == ["id_1", "id_2", "id_3"]
    assert calls_of(deltas) == [
        ("train_candidates", {"target": "a"}),
        ("train_candidates", {"target": "b"}),
        ("profile_table", {"dataset_id": "d1"}),
    ]


async def test_arguments_split_across_many_chunks_are_reassembled(fake: FakeLLMServer) -> None:
    arguments = {"target": "species", "note": "x" * 200, "nested": {"k": [1, 2, 3]}}
    fake.reply(
        Turn(
            text="Training.", tool_calls=(FakeCall("train_candidates", arguments),), args_chunks=25
        )
    )

    deltas = await collect(provider_for(fake))

    assert calls_of(deltas) == [("train_candidates", arguments)]
    assert deltas[0] == StreamText("Training.")


async def test_usage_at_the_end_reports_input_output_and_cached_tokens(fake: FakeLLMServer) -> None:
    fake.reply(text("ok", usage=(1200, 35), cached_tokens=1000))

    deltas = await collect(provider_for(fake))

    assert [d for d in deltas if isinstance(d, StreamUsage)] == [StreamUsage(1200, 35, 1000)]


async def test_429_maps_to_rate_limited_with_retry_after(fake: FakeLLMServer) -> None:
    fake.reply(error(429, "slow down", retry_after="7"))

    with pytest.raises(ProviderRateLimited) as caught:
        await collect(provider_for(fake))

    assert caught.value.retry_after_s == 7.0
    assert caught.value.retryable
    assert len(fake.requests) == 1  # the SDK did not retry on its own


async def test_500_maps_to_retryable_http_error_sent_once(fake: FakeLLMServer) -> None:
    fake.reply(error(500, "boom"))

    with pytest.raises(ProviderHTTPError) as caught:
        await collect(provider_for(fake))

    assert (caught.value.status, caught.value.retryable) == (500, True)
    assert len(fake.requests) == 1


async def test_401_is_an_auth_error_that_is_never_retried(fake: FakeLLMServer) -> None:
    fake.reply(error(401, "invalid key"))

    with pytest.raises(ProviderAuthError) as caught:
        await collect(provider_for(fake))

    assert not caught.value.retryable
    assert len(fake.requests) == 1


async def test_mid_stream_disconnect_is_a_retryable_stream_error(fake: FakeLLMServer) -> None:
    fake.reply(Turn(text="Training the first model and", text_chunks=6, cut_after_events=3))
    received: list[Delta] = []

    with pytest.raises(ProviderStreamError) as caught:
        async for delta in provider_for(fake).stream(HISTORY, TOOLS, SETTINGS):
            received.append(delta)

    assert caught.value.retryable
    assert not any(isinstance(d, StreamEnd) for d in received)


async def test_malformed_tool_arguments_end_the_reply_as_a_malformed_call_without_calls(
    fake: FakeLLMServer,
) -> None:
    if fake.protocol == "gemini":  # Gemini reports it itself instead of sending the call
        fake.reply(Turn(finish_reason="MALFORMED_FUNCTION_CALL"))
    else:
        fake.reply(tool_call("train_candidates", '{"target": "species"', args_chunks=3))

    deltas = await collect(provider_for(fake))

    assert calls_of(deltas) == []
    assert isinstance(deltas[-1], StreamEnd) and deltas[-1].reason == "malformed_call"
    assert deltas[-1].detail
    assert len(fake.requests) == 1


# What each protocol says for the same kind of ending (protocol -> wire reason).
STOP_CASES = {
    "length": {"openai": "length", "anthropic": "max_tokens", "gemini": "MAX_TOKENS"},
    "blocked": {"openai": "content_filter", "anthropic": None, "gemini": "SAFETY"},
    "refusal": {"openai": None, "anthropic": "refusal", "gemini": None},
    "context_exceeded": {
        "openai": None,
        "anthropic": "model_context_window_exceeded",
        "gemini": None,
    },
    "malformed_call": {"openai": None, "anthropic": None, "gemini": "UNEXPECTED_TOOL_CALL"},
    "error": {"openai": "surprise", "anthropic": "surprise", "gemini": "OTHER"},
}


@pytest.mark.parametrize("expected", sorted(STOP_CASES))
async def test_each_wire_stop_reason_maps_into_the_one_set(
    fake: FakeLLMServer, expected: str
) -> None:
    wire = STOP_CASES[expected][fake.protocol]
    if wire is None:
        pytest.skip(f"{fake.protocol} has no such finish reason")
    fake.reply(text("Partial answer", finish_reason=wire))

    deltas = await collect(provider_for(fake))

    assert isinstance(deltas[-1], StreamEnd)
    assert deltas[-1].reason == expected
    assert "".join(d.text for d in deltas if isinstance(d, StreamText)) == "Partial answer"


async def test_a_tool_call_cut_by_the_output_limit_ends_as_length_with_no_call(
    fake: FakeLLMServer,
) -> None:
    if fake.protocol == "gemini":
        pytest.skip("Gemini sends function calls whole")
    wire = {"openai": "length", "anthropic": "max_tokens"}[fake.protocol]
    fake.reply(tool_call("train_candidates", '{"target": "spe', finish_reason=wire))

    deltas = await collect(provider_for(fake))

    assert deltas[-1] == StreamEnd("length", detail=CUT_CALL)


async def test_openai_refusal_deltas_are_shown_and_end_as_refusal(
    fake_openai: FakeLLMServer,
) -> None:
    fake_openai.reply(Turn(refusal="I can't help with that."))

    deltas = await collect(provider_for(fake_openai))

    assert "".join(d.text for d in deltas if isinstance(d, StreamText)) == "I can't help with that."
    assert deltas[-1] == StreamEnd("refusal")


async def test_gemini_blocked_prompt_is_blocked_once_not_retried(
    fake_gemini: FakeLLMServer,
) -> None:
    fake_gemini.reply(Turn(block_reason="PROHIBITED_CONTENT", usage=(30, 0)))
    router = Router([Route(provider_for(fake_gemini), "test-model")])

    deltas = [d async for d in router.stream(HISTORY, TOOLS, SETTINGS)]

    assert deltas[-1] == StreamEnd("blocked", detail="the prompt was blocked (PROHIBITED_CONTENT)")
    assert deltas[-2] == StreamUsage(30, 0)
    assert len(fake_gemini.requests) == 1


async def test_a_too_long_prompt_is_a_context_exceeded_error_not_retried(
    fake: FakeLLMServer,
) -> None:
    message = {
        "openai": "This model's maximum context length is 128000 tokens.",
        "anthropic": "prompt is too long: 210000 tokens > 200000 maximum",
        "gemini": "The input token count (1200000) exceeds the maximum number of tokens allowed",
    }[fake.protocol]
    fake.reply(error(400, message))

    with pytest.raises(ProviderContextExceeded):
        await collect(provider_for(fake))

    assert len(fake.requests) == 1


async def test_a_model_without_tool_support_is_unsupported_on_every_protocol(
    fake: FakeLLMServer,
) -> None:
    fake.reply(error(400, "This model does not support tools."))

    with pytest.raises(ProviderUnsupported) as caught:
        await collect(provider_for(fake))

    assert not caught.value.retryable
    assert len(fake.requests) == 1


async def test_a_stalled_server_times_out_within_the_read_timeout(fake: FakeLLMServer) -> None:
    fake.reply(Stall())

    with pytest.raises(ProviderTimeout):
        await collect(provider_for(fake, timeout_s=0.3))

    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [error(429, "slow down", retry_after="0"), error(500), error(503)],
    ids=["429", "500", "503"],
)
async def test_router_over_each_protocol_retries_once_then_succeeds(
    fake: FakeLLMServer, failure: object
) -> None:
    fake.reply(failure, text("ok"))  # type: ignore[arg-type]
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    router = Router([Route(provider_for(fake), "test-model")], sleep=no_sleep)

    deltas = [d async for d in router.stream(HISTORY, TOOLS, SETTINGS)]

    assert [d.text for d in deltas if isinstance(d, StreamText)] == ["ok"]
    assert len(fake.requests) == 2 and len(waits) == 1


async def test_a_stream_cut_mid_tool_call_is_resent_and_the_call_arrives_once(
    fake: FakeLLMServer,
) -> None:
    cut_at = {"openai": 4, "anthropic": 4, "gemini": 0}[fake.protocol]
    call = FakeCall("train_candidates", {"target": "species", "folds": 5}, "call_7")
    fake.reply(
        Turn(tool_calls=(call,), args_chunks=5, cut_after_events=cut_at), Turn(tool_calls=(call,))
    )

    async def no_sleep(seconds: float) -> None:
        pass

    router = Router([Route(provider_for(fake), "test-model")], sleep=no_sleep)
    deltas = [d async for d in router.stream(HISTORY, TOOLS, SETTINGS)]

    assert calls_of(deltas) == [("train_candidates", {"target": "species", "folds": 5})]
    assert len(fake.requests) == 2


async def test_a_forced_tool_is_sent_in_each_wire_shape(fake: FakeLLMServer) -> None:
    fake.reply(tool_call("train_candidates", {"target": "species"}))
    forced = ChatSettings("test-model", tool_choice="train_candidates")

    deltas = [d async for d in provider_for(fake).stream(HISTORY, TOOLS, forced)]

    body = fake.requests[0].body
    sent = {
        "openai": lambda: body["tool_choice"],
        "anthropic": lambda: body["tool_choice"],
        "gemini": lambda: body["toolConfig"]["functionCallingConfig"],
    }[fake.protocol]()
    assert (
        sent
        == {
            "openai": {"type": "function", "function": {"name": "train_candidates"}},
            "anthropic": {"type": "tool", "name": "train_candidates"},
            "gemini": {"mode": "ANY", "allowedFunctionNames": ["train_candidates"]},
        }[fake.protocol]
    )
    assert calls_of(deltas) == [("train_candidates", {"target": "species"})]


async def test_prompt_cache_reads_and_writes_are_recorded_and_priced(
    fake: FakeLLMServer, tmp_path: Path
) -> None:
    from assistant.providers.usage import CallContext
    from assistant.store import Database

    writes = 2_000 if fake.protocol == "anthropic" else 0  # only Anthropic reports writes
    fake.reply(text("ok", usage=(10_000, 100), cached_tokens=5_000, cache_write_tokens=writes))
    db = Database(tmp_path / "mlchat.db")
    model = {
        "openai": "gpt-4o-mini",
        "anthropic": "claude-sonnet-4-6",
        "gemini": "gemini-2.5-flash",
    }[fake.protocol]
    router = Router([Route(provider_for(fake), model)], db=db)

    deltas = [d async for d in router.stream(HISTORY, TOOLS, SETTINGS, context=CallContext("t"))]

    usage = next(d for d in deltas if isinstance(d, StreamUsage))
    assert (usage.input_tokens, usage.cached_tokens, usage.cache_write_tokens) == (
        10_000,
        5_000,
        writes,
    )
    row = db.query("SELECT cached_tokens, cache_write_tokens, cost_usd FROM llm_calls")[0]
    assert (row["cached_tokens"], row["cache_write_tokens"]) == (5_000, writes)
    # per million tokens: input, cache read, cache write, output
    rates = {
        "openai": (0.15, 0.075, 0.15, 0.6),
        "anthropic": (3.0, 0.3, 3.75, 15.0),
        "gemini": (0.3, 0.03, 0.3, 2.5),
    }[fake.protocol]
    uncached = 10_000 - 5_000 - writes
    expected = (uncached * rates[0] + 5_000 * rates[1] + writes * rates[2] + 100 * rates[3]) / 1e6
    assert row["cost_usd"] == pytest.approx(expected)


async def test_anthropic_marks_tools_system_and_newest_message_for_caching(
    fake_anthropic: FakeLLMServer,
) -> None:
    fake_anthropic.reply(text("ok"))

    await collect(provider_for(fake_anthropic))

    body = fake_anthropic.requests[0].body
    marked = {"type": "ephemeral"}
    assert body["tools"][-1]["cache_control"] == marked
    assert body["system"][-1]["cache_control"] == marked
    assert body["messages"][-1]["content"][-1]["cache_control"] == marked
    assert HISTORY[-1].content == "train on iris"  # the history itself is not changed


async def test_a_second_step_of_the_tool_loop_reads_its_prefix_from_the_prompt_cache(
    tmp_path: Path,
) -> None:
    """Against fakes that cache the way each provider does (``tests/fakes/prompt_cache.py``)."""
    long_system = Message("system", "You train models. " * 600)  # over the 1,024-token minimum
    first = [long_system, Message("user", "train on iris")]
    call = ToolCall("c1", "train_candidates", '{"target": "species"}')
    second = [
        *first,
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", '{"accuracy": 0.95}', tool_call_id="c1", name="train_candidates"),
    ]
    for protocol in PROTOCOLS:
        with FakeLLMServer(protocol, prompt_cache=True) as fake:  # type: ignore[arg-type]
            fake.reply(tool_call("train_candidates", {"target": "species"}), text("Done."))
            provider = provider_for(fake)
            usages = []
            for messages in (first, second):
                deltas = [d async for d in provider.stream(messages, TOOLS, SETTINGS)]
                usages.append(next(d for d in deltas if isinstance(d, StreamUsage)))

            assert usages[0].cached_tokens == 0, protocol
            assert usages[1].cached_tokens >= 1024, protocol
            assert usages[1].cached_tokens <= usages[1].input_tokens, protocol
            if protocol == "anthropic":
                assert usages[0].cache_write_tokens >= 1024  # written on the first request


async def test_a_tool_error_is_flagged_on_the_wire(fake: FakeLLMServer) -> None:
    fake.reply(text("Sorry."))
    call = ToolCall("c1", "train_candidates", '{"target": "nope"}')
    history = [
        *HISTORY,
        Message("assistant", "", tool_calls=(call,)),
        Message(
            "tool",
            "No column named nope.",
            tool_call_id="c1",
            name="train_candidates",
            is_error=True,
        ),
    ]

    await collect(provider_for(fake), history)

    body = fake.requests[0].body
    if fake.protocol == "anthropic":
        result = body["messages"][-1]["content"][0]
        assert (result["type"], result["is_error"]) == ("tool_result", True)
    elif fake.protocol == "gemini":
        response = body["contents"][-1]["parts"][0]["functionResponse"]["response"]
        assert response == {"error": "No column named nope."}
    else:  # Chat Completions has no flag: the text says it
        assert body["messages"][-1]["content"] == "No column named nope."


async def test_native_parts_go_back_only_to_the_model_that_wrote_them(
    fake_anthropic: FakeLLMServer, fake_gemini: FakeLLMServer
) -> None:
    """Thinking blocks and thought signatures are stripped when the conversation changes model."""
    call = ToolCall("c1", "train_candidates", '{"target": "y"}')
    for fake, key in ((fake_anthropic, "anthropic_content"), (fake_gemini, "gemini_content")):
        fake.reply(tool_call("train_candidates", {"target": "y"}, thought_signature="c2ln"))
        provider = provider_for(fake)
        first = [d async for d in provider.stream(HISTORY, TOOLS, ChatSettings("model-a"))]
        state = first[-1].provider_state  # type: ignore[union-attr]
        assert state["model"] == "model-a" and key in state
        history = [
            *HISTORY,
            Message("assistant", "", tool_calls=(call,), provider_state=state),
            Message("tool", "done", tool_call_id="c1", name="train_candidates"),
        ]
        fake.reply(text("same"), text("other"))

        await collect_with(provider, history, "model-a")
        await collect_with(provider, history, "model-b")

        same, other = (json.dumps(r.body) for r in fake.requests[1:])
        native = "Let me think." if fake.protocol == "anthropic" else "c2ln"
        assert native in same and native not in other, fake.protocol


async def collect_with(provider: Provider, messages: list[Message], model: str) -> list[Delta]:
    return [d async for d in provider.stream(messages, TOOLS, ChatSettings(model))]
