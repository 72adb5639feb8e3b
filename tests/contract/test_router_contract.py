"""The router over real adapters and fake servers: retries, fallback, cache, usage rows, secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from pathlib import Path

import pytest

from assistant.errors import (
    ProviderAuthError,
    ProvidersExhausted,
    ProviderStreamError,
)
from assistant.providers.anthropic import AnthropicProvider
from assistant.providers.base import (
    ChatSettings,
    Delta,
    Message,
    StreamEnd,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolSpec,
)
from assistant.providers.openai import OpenAIProvider
from assistant.providers.retry import RetryPolicy
from assistant.providers.router import Route, Router
from assistant.providers.usage import CallContext, summarise_usage
from assistant.store import Database
from tests.fakes.llm_servers import FakeCall, FakeLLMServer, Stall, Turn, error, text, tool_call

HISTORY = [Message("system", "You train models."), Message("user", "train on iris")]
TOOLS = [ToolSpec("train_candidates", "Train.", {"type": "object", "properties": {}})]
CANARY = "sk-canary-7f3a9c2e5b1d4f6a8c0e"


class SleepRecorder:
    """Stands in for ``asyncio.sleep``: records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "mlchat.db")


def openai_route(fake: FakeLLMServer, *, api_key: str = "sk-test", timeout_s: float = 5.0) -> Route:
    return Route(
        OpenAIProvider(api_key=api_key, base_url=fake.url, timeout_s=timeout_s), "gpt-4o-mini"
    )


def anthropic_route(fake: FakeLLMServer, *, api_key: str = "sk-ant-test") -> Route:
    return Route(
        AnthropicProvider(api_key=api_key, base_url=fake.url, timeout_s=5.0), "claude-sonnet-4-5"
    )


async def run(
    router: Router, *, temperature: float = 0.0, context: CallContext | None = None
) -> list[Delta]:
    settings = ChatSettings("ignored", temperature=temperature)
    return [d async for d in router.stream(HISTORY, TOOLS, settings, context=context)]


def rows(db: Database) -> list[dict]:
    return [dict(r) for r in db.query("SELECT * FROM llm_calls ORDER BY id")]


async def test_429_with_retry_after_then_success_is_exactly_two_requests(
    fake_openai: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(error(429, "slow down", retry_after="2"), text("Done."))
    sleep = SleepRecorder()
    router = Router([openai_route(fake_openai)], db=db, sleep=sleep)

    deltas = await run(router)

    assert [d.text for d in deltas if isinstance(d, StreamText)] == ["Done."]
    assert len(fake_openai.requests) == 2
    assert sleep.waits == [2.0]
    assert [(r["outcome"], r["error_class"]) for r in rows(db)] == [
        ("error", "ProviderRateLimited"),
        ("ok", None),
    ]


async def test_retry_after_ms_is_preferred_over_retry_after(fake_anthropic: FakeLLMServer) -> None:
    fake_anthropic.reply(
        error(529, "overloaded", retry_after="9", retry_after_ms="250"), text("ok")
    )
    sleep = SleepRecorder()
    router = Router([anthropic_route(fake_anthropic)], sleep=sleep)

    await run(router)

    assert sleep.waits == [0.25]
    assert len(fake_anthropic.requests) == 2


async def test_500_then_success_waits_within_the_first_backoff_bound(
    fake_openai: FakeLLMServer,
) -> None:
    fake_openai.reply(error(500), text("ok"))
    sleep = SleepRecorder()
    router = Router([openai_route(fake_openai)], retry=RetryPolicy(base_delay_s=0.5), sleep=sleep)

    await run(router)

    assert len(fake_openai.requests) == 2
    assert len(sleep.waits) == 1 and 0.0 <= sleep.waits[0] <= 0.5


async def test_backoff_waits_stay_within_full_jitter_bounds(fake_openai: FakeLLMServer) -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=0.5, max_delay_s=1.5, rng=random.Random(3))
    fake_openai.reply(*[error(503)] * 4, text("ok"))
    sleep = SleepRecorder()
    router = Router([openai_route(fake_openai)], retry=policy, sleep=sleep)

    await run(router)

    ceilings = [0.5, 1.0, 1.5, 1.5]  # base * 2**(n-1), capped at max_delay_s
    assert len(sleep.waits) == 4
    assert all(0.0 <= wait <= ceiling for wait, ceiling in zip(sleep.waits, ceilings, strict=True))
    assert len(set(sleep.waits)) == 4  # jittered, not a fixed schedule
    assert len(fake_openai.requests) == 5


async def test_fallback_takes_the_same_request_after_retries_are_used_up(
    fake_openai: FakeLLMServer, fake_anthropic: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(error(500), error(502), error(503))
    fake_anthropic.reply(text("From Claude."))
    router = Router(
        [openai_route(fake_openai), anthropic_route(fake_anthropic)], db=db, sleep=SleepRecorder()
    )

    deltas = await run(router)

    assert [d.text for d in deltas if isinstance(d, StreamText)] == ["From Claude."]
    assert len(fake_openai.requests) == 3  # RetryPolicy.max_attempts
    assert len(fake_anthropic.requests) == 1
    sent = fake_anthropic.requests[0].body
    assert sent["system"][0]["text"] == "You train models."
    assert [b["text"] for m in sent["messages"] for b in m["content"]] == ["train on iris"]
    assert [(r["provider"], r["outcome"]) for r in rows(db)] == [
        ("openai", "error"),
        ("openai", "error"),
        ("openai", "error"),
        ("anthropic", "ok"),
    ]


async def test_auth_error_falls_back_without_retrying(
    fake_openai: FakeLLMServer, fake_anthropic: FakeLLMServer
) -> None:
    fake_openai.reply(error(401, "bad key"))
    fake_anthropic.reply(text("ok"))
    sleep = SleepRecorder()
    router = Router([openai_route(fake_openai), anthropic_route(fake_anthropic)], sleep=sleep)

    await run(router)

    assert (len(fake_openai.requests), len(fake_anthropic.requests), sleep.waits) == (1, 1, [])


async def test_every_provider_failing_raises_one_user_facing_error(
    fake_openai: FakeLLMServer, fake_anthropic: FakeLLMServer
) -> None:
    fake_openai.reply(error(401, "bad key"))
    fake_anthropic.reply(error(400, "bad request"))
    router = Router(
        [openai_route(fake_openai), anthropic_route(fake_anthropic)], sleep=SleepRecorder()
    )

    with pytest.raises(ProvidersExhausted) as caught:
        await run(router)

    assert [type(e).__name__ for e in caught.value.errors] == [
        "ProviderAuthError",
        "ProviderHTTPError",
    ]
    assert "tried openai (gpt-4o-mini), anthropic (claude-sonnet-4-5)" in str(caught.value)


async def test_retry_after_longer_than_the_cap_falls_back_at_once(
    fake_openai: FakeLLMServer, fake_anthropic: FakeLLMServer
) -> None:
    fake_openai.reply(error(429, "quota", retry_after="3600"))
    fake_anthropic.reply(text("ok"))
    sleep = SleepRecorder()
    router = Router([openai_route(fake_openai), anthropic_route(fake_anthropic)], sleep=sleep)

    await run(router)

    assert (len(fake_openai.requests), len(fake_anthropic.requests), sleep.waits) == (1, 1, [])


async def test_failure_after_output_is_not_retried_or_duplicated(
    fake_openai: FakeLLMServer, fake_anthropic: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(Turn(text="Training the first model", text_chunks=4, cut_after_events=3))
    router = Router([openai_route(fake_openai), anthropic_route(fake_anthropic)], db=db)
    received: list[Delta] = []

    with pytest.raises(ProviderStreamError) as caught:
        async for delta in router.stream(HISTORY, TOOLS, ChatSettings("m")):
            received.append(delta)

    assert caught.value.after_output and not caught.value.retryable
    assert str(caught.value) == "openai (gpt-4o-mini) broke off its answer: the connection dropped"
    assert [d.text for d in received] == ["Traini", "ng the"]
    assert (len(fake_openai.requests), len(fake_anthropic.requests)) == (1, 0)
    assert [(r["outcome"], r["error_class"]) for r in rows(db)] == [
        ("error", "ProviderStreamError")
    ]


async def test_cut_before_any_output_is_retried(fake_openai: FakeLLMServer) -> None:
    fake_openai.reply(
        Turn(tool_calls=(), text="", usage=None, cut_after_events=1),
        tool_call("train_candidates", {"target": "y"}),
    )
    router = Router([openai_route(fake_openai)], sleep=SleepRecorder())

    deltas = await run(router)

    assert [d.call.name for d in deltas if isinstance(d, StreamToolCall)] == ["train_candidates"]
    assert len(fake_openai.requests) == 2


async def test_stall_timeout_stops_a_provider_that_stops_sending(
    fake_anthropic: FakeLLMServer,
) -> None:
    fake_anthropic.reply(Turn(text="a", stall_after_events=1), text("recovered"))
    router = Router([anthropic_route(fake_anthropic)], stall_timeout_s=0.2, sleep=SleepRecorder())

    deltas = await run(router)

    assert [d.text for d in deltas if isinstance(d, StreamText)] == ["recovered"]
    assert len(fake_anthropic.requests) == 2


async def test_a_timed_out_request_is_retried_then_falls_back(
    fake_openai: FakeLLMServer, fake_anthropic: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(Stall(), Stall())
    fake_anthropic.reply(text("ok"))
    router = Router(
        [openai_route(fake_openai, timeout_s=0.2), anthropic_route(fake_anthropic)],
        db=db,
        retry=RetryPolicy(max_attempts=2),
        sleep=SleepRecorder(),
    )

    await run(router)

    assert (len(fake_openai.requests), len(fake_anthropic.requests)) == (2, 1)
    assert [r["error_class"] for r in rows(db)] == ["ProviderTimeout", "ProviderTimeout", None]


async def test_temperature_zero_answers_are_cached_and_replayed_for_free(
    fake_openai: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(Turn(text="Cached answer.", tool_calls=(), usage=(100, 20)))
    router = Router([openai_route(fake_openai)], db=db)

    first = await run(router, context=CallContext("t1", "turn1"))
    second = await run(router, context=CallContext("t1", "turn2"))

    assert len(fake_openai.requests) == 1
    assert [d for d in second if isinstance(d, StreamText)] == [StreamText("Cached answer.")]
    assert second[-2:] == [StreamUsage(0, 0), StreamEnd("stop")]
    assert first[-2] == StreamUsage(100, 20)
    recorded = rows(db)
    assert [(r["cache_hit"], r["input_tokens"], r["cost_usd"] == 0.0) for r in recorded] == [
        (0, 100, False),
        (1, 0, True),
    ]
    assert db.query("SELECT hits FROM response_cache")[0]["hits"] == 1


async def test_nonzero_temperature_is_never_cached(
    fake_openai: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(text("one"), text("two"))
    router = Router([openai_route(fake_openai)], db=db)

    await run(router, temperature=0.7)
    second = await run(router, temperature=0.7)

    assert [d.text for d in second if isinstance(d, StreamText)] == ["two"]
    assert len(fake_openai.requests) == 2
    assert db.query("SELECT COUNT(*) AS n FROM response_cache")[0]["n"] == 0


async def test_usage_rows_hold_tokens_cost_latency_and_context(
    fake_openai: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(text("ok", usage=(1000, 100), cached_tokens=200))
    router = Router([openai_route(fake_openai)], db=db, use_cache=False)

    await run(router, context=CallContext("thread-9", "turn-3"))

    (row,) = rows(db)
    assert {
        k: row[k] for k in ("thread_id", "turn_id", "provider", "model", "outcome", "cache_hit")
    } == {
        "thread_id": "thread-9",
        "turn_id": "turn-3",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "outcome": "ok",
        "cache_hit": 0,
    }
    assert (
        row["input_tokens"],
        row["output_tokens"],
        row["cached_tokens"],
        row["tokens_estimated"],
    ) == (
        1000,
        100,
        200,
        0,
    )
    # gpt-4o-mini: $0.15/M input, $0.075/M cached input, $0.60/M output (genai-prices snapshot)
    assert row["cost_usd"] == pytest.approx(800 * 0.15e-6 + 200 * 0.075e-6 + 100 * 0.6e-6)
    assert 0 < row["first_token_ms"] <= row["total_ms"] < 5000
    summary = summarise_usage(db, thread_id="thread-9")
    assert (summary.total.calls, summary.total.input_tokens, summary.total.success_rate) == (
        1,
        1000,
        1.0,
    )


async def test_a_consumer_that_stops_early_is_recorded_as_cancelled(
    fake_openai: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(text("a long answer", text_chunks=5))
    router = Router([openai_route(fake_openai)], db=db)

    stream = router.stream(HISTORY, TOOLS, ChatSettings("m"))
    first = await anext(stream)
    await stream.aclose()

    assert isinstance(first, StreamText)
    assert [(r["outcome"], r["cache_hit"]) for r in rows(db)] == [("cancelled", 0)]
    assert db.query("SELECT COUNT(*) AS n FROM response_cache")[0]["n"] == 0


async def test_canary_key_never_reaches_logs_errors_or_the_database(
    fake_openai: FakeLLMServer,
    fake_anthropic: FakeLLMServer,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # The worst case: servers that echo the key back in their error messages.
    fake_openai.reply(
        error(429, f"Rate limit for key {CANARY}", retry_after="0"),
        error(500, f"internal error for {CANARY}"),
        Turn(text="partial", cut_after_events=1),  # cut before any text
    )
    fake_anthropic.reply(error(401, f"Incorrect API key provided: {CANARY}"))
    router = Router(
        [
            openai_route(fake_openai, api_key=CANARY),
            anthropic_route(fake_anthropic, api_key=CANARY),
        ],
        db=db,
        sleep=SleepRecorder(),
    )
    raised: list[BaseException] = []

    with pytest.raises(ProvidersExhausted) as caught:
        await run(router)
    raised.append(caught.value)
    raised.extend(caught.value.errors)
    fake_anthropic.reply(error(401, f"Incorrect API key provided: {CANARY}"))
    with pytest.raises(ProvidersExhausted) as exhausted:
        await run(Router([anthropic_route(fake_anthropic, api_key=CANARY)], db=db))
    raised.extend([exhausted.value, *exhausted.value.errors])
    assert isinstance(exhausted.value.errors[0], ProviderAuthError)

    assert len(fake_openai.requests) == 3
    assert (
        fake_openai.requests[0].headers["authorization"] == f"Bearer {CANARY}"
    )  # it was really used
    assert all(CANARY not in str(exc) and "sk-canary" not in str(exc) for exc in raised)
    assert "sk-canary" not in caplog.text
    db.close()
    for path in db.path.parent.glob("mlchat.db*"):
        assert b"sk-canary" not in path.read_bytes(), path.name
    assert json.dumps([str(e) for e in raised]).count("[redacted]") >= 3


async def test_a_turn_deadline_cancels_a_stalled_provider_and_records_it(
    fake_openai: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(Stall())
    router = Router([openai_route(fake_openai, timeout_s=30)], db=db, stall_timeout_s=None)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):  # the agent loop's per-turn deadline
            await run(router)

    assert len(fake_openai.requests) == 1
    assert [(r["outcome"], r["error_class"]) for r in rows(db)] == [("cancelled", None)]


class RecordingLimiter:
    """A limiter as issue 10 will write one: sees every request before and after."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []

    async def before_call(self, provider: str, model: str, *, estimated_input_tokens: int) -> None:
        self.events.append(("before", provider, estimated_input_tokens))

    def after_call(self, provider: str, model: str, *, usage: object, error: object) -> None:
        self.events.append(("after", provider, type(error).__name__ if error else usage))


async def test_the_limiter_sees_every_request_including_retries(fake_openai: FakeLLMServer) -> None:
    fake_openai.reply(error(429, "slow", retry_after="0"), text("ok", usage=(5, 1)))
    limiter = RecordingLimiter()
    router = Router([openai_route(fake_openai)], limiter=limiter, sleep=SleepRecorder())

    await run(router)

    estimate = limiter.events[0][2]
    assert isinstance(estimate, int) and estimate > 0
    assert limiter.events == [
        ("before", "openai", estimate),
        ("after", "openai", "ProviderRateLimited"),
        ("before", "openai", estimate),
        ("after", "openai", StreamUsage(5, 1)),
    ]


async def test_cache_replays_tool_calls_and_provider_state(
    fake_gemini: FakeLLMServer, db: Database
) -> None:
    from assistant.providers.gemini import GeminiProvider

    fake_gemini.reply(
        Turn(
            tool_calls=(FakeCall("train_candidates", {"target": "y"}, "fc_1"),),
            thought_signature="c2ln",
        )
    )
    router = Router(
        [Route(GeminiProvider(api_key="k", base_url=fake_gemini.url), "gemini-2.5-flash")], db=db
    )

    first = await run(router)
    second = await run(router)

    assert len(fake_gemini.requests) == 1
    assert [d for d in second if isinstance(d, StreamToolCall)] == [
        d for d in first if isinstance(d, StreamToolCall)
    ]
    assert second[-1] == StreamEnd("tool_calls")
    assert second[-1].provider_state == first[-1].provider_state
    assert first[-1].provider_state["gemini_content"]["parts"][0]["thought_signature"]


async def test_router_aclose_closes_every_provider(
    fake_openai: FakeLLMServer, fake_anthropic: FakeLLMServer, fake_gemini: FakeLLMServer
) -> None:
    from assistant.providers.gemini import GeminiProvider

    fake_openai.reply(text("ok"))
    gemini = GeminiProvider(api_key="k", base_url=fake_gemini.url)
    router = Router(
        [openai_route(fake_openai), anthropic_route(fake_anthropic), Route(gemini, "g")]
    )
    await run(router)

    await router.aclose()

    assert router.primary.provider._client.is_closed()
    assert router.routes[1].provider._client.is_closed()


async def test_a_stream_cut_right_after_a_complete_tool_call_is_retried(
    fake_anthropic: FakeLLMServer, db: Database
) -> None:
    call = FakeCall("train_candidates", {"target": "y"}, "toolu_1")
    # message_start, ping, block start, arguments, block stop | cut before message_delta
    fake_anthropic.reply(Turn(tool_calls=(call,), cut_after_events=5), Turn(tool_calls=(call,)))
    router = Router([anthropic_route(fake_anthropic)], db=db, sleep=SleepRecorder())

    deltas = await run(router)

    assert [d.call.id for d in deltas if isinstance(d, StreamToolCall)] == ["toolu_1"]
    assert deltas[-1] == StreamEnd("tool_calls")
    assert len(fake_anthropic.requests) == 2


async def test_failed_requests_record_the_tokens_sent_estimated_and_priced(
    fake_openai: FakeLLMServer, db: Database
) -> None:
    fake_openai.reply(error(500), error(500), error(500))
    router = Router([openai_route(fake_openai)], db=db, sleep=SleepRecorder())

    with pytest.raises(ProvidersExhausted):
        await run(router)

    recorded = rows(db)
    assert len(recorded) == 3
    assert all(r["input_tokens"] > 0 and r["tokens_estimated"] == 1 for r in recorded)
    assert all(r["cost_usd"] > 0 for r in recorded)  # so the spend caps count them


async def test_gemini_retry_delay_in_the_429_body_is_honoured(
    fake_gemini: FakeLLMServer, db: Database
) -> None:
    from assistant.providers.gemini import GeminiProvider

    fake_gemini.reply(error(429, "quota", retry_delay="7s"), text("ok"))
    sleep = SleepRecorder()
    router = Router(
        [Route(GeminiProvider(api_key="k", base_url=fake_gemini.url), "gemini-2.5-flash")],
        db=db,
        sleep=sleep,
        retry=RetryPolicy(max_retry_after_s=30),
    )

    deltas = await run(router)

    assert [d.text for d in deltas if isinstance(d, StreamText)] == ["ok"]
    assert sleep.waits == [7.0]
