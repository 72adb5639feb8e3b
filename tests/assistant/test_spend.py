"""Spend and rate controls through the real router, the real OpenAI SDK and a fake server.

A :class:`FakeClock` stands in for time: the guard waits through its ``sleep``,
which advances the clock and returns at once, so a minute of rate limiting
takes milliseconds and every timestamp is exact.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.agent import Agent
from assistant.errors import ProvidersExhausted
from assistant.events import Notice, TurnFinished
from assistant.offline import OfflineAssistant
from assistant.providers.anthropic import AnthropicProvider
from assistant.providers.base import (
    ChatSettings,
    Delta,
    Message,
    Provider,
    StreamText,
    StreamUsage,
    ToolSpec,
)
from assistant.providers.openai import OpenAIProvider
from assistant.providers.router import Route, Router
from assistant.providers.spend_gate import OfflineAtCap
from assistant.providers.usage import CallContext, CallRecord, record_call
from assistant.settings import Settings
from assistant.spend import (
    ErrorRateMonitor,
    RateLimiter,
    RateWait,
    SpendCapReached,
    SpendGuard,
    SpendSettings,
    format_usd,
    spend_scope,
    turn_spend_spikes,
)
from assistant.spend.caps import SpendLedger, day_spend_usd, thread_spend_usd
from assistant.store import ConversationStore, Database
from tests.fakes import pytest_fixtures
from tests.fakes.llm_servers import FakeLLMServer, error, text

NOON = datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp()
YESTERDAY = datetime(2026, 11, 24, 12, tzinfo=UTC).timestamp()
_fake_openai_server = pytest_fixtures._fake_openai_server
fake_openai = pytest_fixtures.fake_openai
_fake_anthropic_server = pytest_fixtures._fake_anthropic_server
fake_anthropic = pytest_fixtures.fake_anthropic

TOOLS = [ToolSpec("train_candidates", "Train.", {"type": "object", "properties": {}})]


class FakeClock:
    """Monotonic seconds that move only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class SendTimes:
    """A real adapter (OpenAI unless given), noting the fake time each request is sent at."""

    def __init__(
        self, fake: FakeLLMServer, clock: FakeClock, *, inner: Provider | None = None
    ) -> None:
        self.inner = inner or OpenAIProvider(api_key="sk-test", base_url=fake.url, timeout_s=5.0)
        self.name = self.inner.name
        self.clock = clock
        self.sent: list[tuple[float, str]] = []

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ChatSettings
    ) -> AsyncIterator[Delta]:
        self.sent.append((self.clock(), messages[-1].content))
        async for delta in self.inner.stream(messages, tools, settings):
            yield delta


def settings(**changes: object) -> SpendSettings:
    """No limits or caps unless the test sets them."""
    base = {"rpm": {}, "tpm": {}, "cap_thread_usd": 0.0, "cap_day_usd": 0.0}
    return SpendSettings(**{**base, **changes})  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "mlchat.db")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def guard_for(db: Database, clock: FakeClock, spend: SpendSettings) -> SpendGuard:
    return SpendGuard(spend, db=db, clock=clock, sleep=clock.sleep, wall_clock=lambda: NOON)


async def ask(router: Router | OfflineAtCap, prompt: str, *, thread: str = "t1") -> list[Delta]:
    history = [Message("system", "You train models."), Message("user", prompt)]
    stream = router.stream(
        history, TOOLS, ChatSettings("gpt-4o-mini"), context=CallContext(thread, "turn-" + prompt)
    )
    return [delta async for delta in stream]


def spent(db: Database, thread: str, cost_usd: float, *, at: float = NOON, turn: str = "x") -> None:
    record_call(
        db,
        CallRecord(
            "openai",
            "gpt-4o-mini",
            "ok",
            1000,
            100,
            cost_usd=cost_usd,
            total_ms=500,
            thread_id=thread,
            turn_id=turn,
            created_at=at,
        ),
    )


# -- rate limits ---------------------------------------------------------------------------


async def test_a_burst_is_spread_to_the_requests_per_minute_limit(
    fake_openai: FakeLLMServer, db: Database, clock: FakeClock
) -> None:
    fake_openai.reply(*(text(f"answer {i}") for i in range(4)))
    guard = guard_for(db, clock, settings(rpm={"openai": 6}, burst_s=10))
    provider = SendTimes(fake_openai, clock)
    router = Router([Route(provider, "gpt-4o-mini")], db=db, limiter=guard, sleep=clock.sleep)
    notices: list[Notice] = []

    async def one(prompt: str) -> list[Delta]:
        with spend_scope("t1", emit=notices.append):
            return await ask(router, prompt)

    answers = await asyncio.gather(*(one(f"q{i}") for i in range(4)))

    # 6 per minute with a 10 s burst: one at a time, 10 s apart, first come first served
    assert provider.sent == [(0.0, "q0"), (10.0, "q1"), (20.0, "q2"), (30.0, "q3")]
    assert sorted(r.body["messages"][-1]["content"] for r in fake_openai.requests) == [
        "q0",
        "q1",
        "q2",
        "q3",
    ]
    assert sorted(d.text for a in answers for d in a if isinstance(d, StreamText)) == [
        "answer 0",
        "answer 1",
        "answer 2",
        "answer 3",
    ]
    assert [n.message for n in notices] == ["Waiting for the openai rate limit (10 s)..."] * 3


async def test_a_429_tightens_the_providers_bucket_for_a_while(
    fake_openai: FakeLLMServer, db: Database, clock: FakeClock
) -> None:
    fake_openai.reply(text("a"), error(429, "slow down", retry_after="0"), *(text("b"),) * 4)
    guard = guard_for(db, clock, settings(rpm={"openai": 60}, burst_s=1, tighten_s=30))
    provider = SendTimes(fake_openai, clock)
    router = Router([Route(provider, "gpt-4o-mini")], db=db, limiter=guard, sleep=clock.sleep)

    for prompt in ("q1", "q2", "q3"):
        await ask(router, prompt)

    # 1 s apart until the 429 at t=1; then half the rate: the retry and the next call 2 s apart
    assert [at for at, _ in provider.sent] == [0.0, 1.0, 3.0, 5.0]
    assert guard.rates.factor("openai") == 0.5

    clock.now += 31  # the tightening wears off when no 429 came for tighten_s
    assert guard.rates.factor("openai") == 1.0
    for prompt in ("q4", "q5"):
        await ask(router, prompt)
    assert provider.sent[-2:] == [(36.0, "q4"), (37.0, "q5")]
    assert len(fake_openai.requests) == 6


async def test_an_anthropic_429_holds_the_retry_until_retry_after_then_slows_down(
    fake_anthropic: FakeLLMServer, db: Database, clock: FakeClock
) -> None:
    fake_anthropic.reply(text("a"), error(429, "slow down", retry_after="2"), text("b"), text("c"))
    guard = guard_for(db, clock, settings(rpm={"anthropic": 60}, burst_s=1))
    inner = AnthropicProvider(api_key="sk-ant-test", base_url=fake_anthropic.url, timeout_s=5.0)
    provider = SendTimes(fake_anthropic, clock, inner=inner)
    router = Router([Route(provider, "claude-sonnet-4-6")], db=db, limiter=guard, sleep=clock.sleep)

    for prompt in ("q1", "q2", "q3"):
        await ask(router, prompt)

    # the 429 at t=1 asks for 2 s; the router waits them, then the halved rate spaces calls 2 s
    assert provider.sent == [(0.0, "q1"), (1.0, "q2"), (3.0, "q2"), (5.0, "q3")]
    assert [r[0] for r in db.query("SELECT outcome FROM llm_calls ORDER BY id")] == [
        "ok",
        "error",
        "ok",
        "ok",
    ]


async def test_retry_after_holds_every_caller_of_that_provider(clock: FakeClock) -> None:
    limiter = RateLimiter(rpm={}, tpm={}, clock=clock, sleep=clock.sleep)
    waits: list[RateWait] = []

    limiter.tighten("gemini", retry_after_s=5)
    waited = await limiter.acquire("gemini", on_wait=waits.append)

    assert waited == 5.0
    assert waits == [RateWait("gemini", 5.0, "retry-after")]
    assert await limiter.acquire("openai") == 0.0


async def test_tokens_per_minute_hold_a_large_prompt_until_the_bucket_refills(
    clock: FakeClock,
) -> None:
    limiter = RateLimiter(rpm={}, tpm={"openai": 600}, clock=clock, sleep=clock.sleep)

    assert await limiter.acquire("openai", tokens=400) == 0.0
    limiter.record_output("openai", 50)  # 600 - 400 - 50 = 150 left
    waited = await limiter.acquire("openai", tokens=400)

    assert waited == pytest.approx(25.0)  # 250 missing tokens at 10 per second
    assert await limiter.acquire("anthropic", tokens=10**6) == 0.0  # no limit configured


# -- spend caps ----------------------------------------------------------------------------


async def test_the_80_percent_warning_appears_once_with_the_figure(
    fake_openai: FakeLLMServer, db: Database, clock: FakeClock
) -> None:
    fake_openai.reply(text("one"), text("two"), text("three"))
    spent(db, "t1", 0.85)
    guard = guard_for(db, clock, settings(cap_thread_usd=1.0))
    router = Router([Route(SendTimes(fake_openai, clock), "gpt-4o-mini")], db=db, limiter=guard)
    notices: list[Notice] = []

    with spend_scope("t1", emit=notices.append):
        for prompt in ("q1", "q2"):
            await ask(router, prompt)
    await ask(router, "q3", thread="t2")  # another conversation is far from its cap

    assert len(fake_openai.requests) == 3
    assert [(n.level, n.message) for n in notices] == [
        (
            "warning",
            "Heads-up: an estimated $0.85 of this conversation's $1.00 spending cap is used "
            "(85%). At the cap I stop calling the language model; MLCHAT_SPEND_CAP_THREAD_USD "
            "raises it.",
        )
    ]
    assert guard.take_notices("t2") == ()


async def test_at_the_conversation_cap_no_request_reaches_the_server(
    fake_openai: FakeLLMServer, db: Database, clock: FakeClock
) -> None:
    fake_openai.reply(text("never sent"))
    spent(db, "t1", 1.0)
    guard = guard_for(db, clock, settings(cap_thread_usd=1.0))
    router = Router([Route(SendTimes(fake_openai, clock), "gpt-4o-mini")], db=db, limiter=guard)

    with spend_scope("t1"), pytest.raises(SpendCapReached) as caught:
        await ask(router, "q1")

    assert fake_openai.requests == []
    assert caught.value.setting == "MLCHAT_SPEND_CAP_THREAD_USD"
    assert "$1.00 of its $1.00 spending cap" in str(caught.value)
    assert "raise MLCHAT_SPEND_CAP_THREAD_USD" in str(caught.value)
    assert len(db.query("SELECT id FROM llm_calls")) == 1  # nothing recorded for the refusal


async def test_the_routers_context_names_the_conversation_and_offline_is_never_capped(
    db: Database, clock: FakeClock
) -> None:
    spent(db, "t1", 3.0)
    guard = guard_for(db, clock, settings(cap_thread_usd=2.0))

    with pytest.raises(SpendCapReached):
        await guard.before_call("openai", "m", estimated_input_tokens=1, context=CallContext("t1"))
    await guard.before_call("openai", "m", estimated_input_tokens=1, context=CallContext("t2"))
    with spend_scope("t1"):
        await guard.before_call("offline", "rules", estimated_input_tokens=1)


def test_the_ledger_follows_rows_written_by_another_connection(
    db: Database, tmp_path: Path
) -> None:
    spent(db, "t1", 0.5)
    spent(db, "t2", 0.25, at=YESTERDAY)
    ledger = SpendLedger(db)
    assert (ledger.thread_usd("t1"), ledger.day_usd(NOON)) == (0.5, 0.5)

    other = Database(tmp_path / "mlchat.db")  # as another process would write
    spent(other, "t1", 0.125)
    spent(other, "t2", 1.0, at=NOON)
    spent(other, "t3", 2.0, at=YESTERDAY)

    assert ledger.thread_usd("t1") == thread_spend_usd(db, "t1") == 0.625
    assert ledger.thread_usd("t2") == thread_spend_usd(db, "t2") == 1.25
    assert ledger.day_usd(NOON) == day_spend_usd(db, NOON) == 1.625
    assert ledger.day_usd(YESTERDAY) == day_spend_usd(db, YESTERDAY) == 2.25


async def test_the_day_cap_counts_today_only_and_every_conversation(
    fake_openai: FakeLLMServer, db: Database, clock: FakeClock
) -> None:
    fake_openai.reply(text("sent"))
    spent(db, "old", 50.0, at=YESTERDAY)
    spent(db, "a", 3.0)
    guard = guard_for(db, clock, settings(cap_day_usd=5.0))
    router = Router([Route(SendTimes(fake_openai, clock), "gpt-4o-mini")], db=db, limiter=guard)

    await ask(router, "q1", thread="b")  # $3 of $5 today: allowed
    spent(db, "b", 2.0)
    with pytest.raises(SpendCapReached) as caught:
        await ask(router, "q2", thread="c")

    assert len(fake_openai.requests) == 1
    assert caught.value.setting == "MLCHAT_SPEND_CAP_DAY_USD"
    assert caught.value.spent_usd == pytest.approx(5.0, abs=1e-3)


async def test_at_the_cap_the_offline_assistant_answers_the_turn(
    fake_openai: FakeLLMServer, db: Database, clock: FakeClock
) -> None:
    spent(db, "t1", 2.5)
    guard = guard_for(db, clock, settings(cap_thread_usd=2.0))
    router = Router([Route(SendTimes(fake_openai, clock), "gpt-4o-mini")], db=db, limiter=guard)
    offline = OfflineAssistant()
    agent = Agent(
        provider=OfflineAtCap(router, offline=offline, guard=guard),
        tools=[],
        conversations=ConversationStore(db),
        make_context=lambda thread, call, emit: None,
        chat_settings=ChatSettings("gpt-4o-mini"),
        system_prompt="You train models.",
    )
    expected = [d async for d in offline.stream([Message("user", "hello")], [], ChatSettings(""))]

    events = [e async for e in agent.run_turn("t1", "hello")]
    turn_id = ConversationStore(db).messages("t1")[-1].turn_id
    assert turn_id is not None
    notices = guard.finish_turn("t1", turn_id)

    assert fake_openai.requests == []
    finished = [e for e in events if isinstance(e, TurnFinished)]
    assert [e.text for e in finished] == ["".join(d.text for d in expected if hasattr(d, "text"))]
    assert [n.level for n in notices] == ["warning"]
    assert "MLCHAT_SPEND_CAP_THREAD_USD" in notices[0].message
    assert "offline assistant" in notices[0].message


# -- cost line and anomalies ---------------------------------------------------------------


async def test_the_cost_line_sums_the_turns_rows_and_can_be_turned_off(
    fake_openai: FakeLLMServer, db: Database, clock: FakeClock
) -> None:
    fake_openai.reply(
        text("a", usage=(1000, 200)), text("b", usage=(3000, 100), cached_tokens=2048)
    )
    spent(db, "t1", 0.01, turn="earlier", at=time.time())
    spent(db, "t2", 0.02, turn="other", at=time.time())
    guard = SpendGuard(settings(), db=db, clock=clock, sleep=clock.sleep, wall_clock=time.time)
    router = Router([Route(SendTimes(fake_openai, clock), "gpt-4o-mini")], db=db, limiter=guard)
    history = [Message("user", "hi")]
    for _ in range(2):
        stream = router.stream(
            history,
            TOOLS,
            ChatSettings("gpt-4o-mini", temperature=1.0),
            context=CallContext("t1", "t"),
        )
        _ = [d async for d in stream]
    rows = db.query("SELECT cost_usd FROM llm_calls WHERE turn_id = 't'")
    turn_cost = sum(r[0] for r in rows)

    line = guard.cost_line("t1", "t")

    assert line == (
        f"This turn: ≈ ${turn_cost:.4f} (2 calls, 4,000 tokens in / 300 out, 2,048 cached). "
        f"Conversation ≈ ${turn_cost + 0.01:.4f}, today ≈ ${turn_cost + 0.03:.4f}."
    )
    assert guard_for(db, clock, settings(cost_line=False)).cost_line("t1", "t") is None
    assert guard.cost_line("t1", "no-such-turn") is None
    assert format_usd(0.00002) == "< $0.0001"


def test_a_spend_spike_is_flagged_and_a_steady_conversation_is_not(db: Database) -> None:
    for number, cost in enumerate([0.010, 0.012, 0.009, 0.011, 0.010, 0.013]):
        spent(db, "steady", cost, turn=f"s{number}")
    for number, cost in enumerate([0.010, 0.012, 0.009, 0.011, 0.080, 0.010]):
        spent(db, "spiky", cost, turn=f"p{number}")

    found = turn_spend_spikes(db, factor=5.0, min_turns=3)

    assert [(a.subject, a.turn_id) for a in found] == [("spiky", "p4")]
    assert found[0].value == pytest.approx(0.080)
    assert found[0].baseline == pytest.approx(0.0105)
    assert "7.6x its usual $0.0105" in found[0].message


async def test_finish_turn_logs_a_spike_of_the_turn_just_finished(
    db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    for number, cost in enumerate([0.01, 0.01, 0.01, 0.2]):
        spent(db, "t1", cost, turn=f"u{number}")
    guard = guard_for(db, clock, settings(cost_line=False))

    assert guard.finish_turn("t1", "u2") == ()
    assert guard.anomalies() == ()
    with caplog.at_level("WARNING", logger="assistant.spend.guard"):
        guard.finish_turn("t1", "u3")

    assert [(a.kind, a.turn_id) for a in guard.anomalies()] == [("turn_spend_spike", "u3")]
    assert "anomaly kind=turn_spend_spike thread=t1 turn=u3" in caplog.text


async def test_a_provider_failing_often_is_flagged_once_per_episode(
    fake_openai: FakeLLMServer, db: Database, clock: FakeClock
) -> None:
    fake_openai.reply(text("ok"), *(error(400, "bad"),) * 3, text("ok"))
    guard = guard_for(
        db, clock, settings(error_rate_threshold=0.5, error_window=4, error_min_calls=4)
    )
    router = Router([Route(SendTimes(fake_openai, clock), "gpt-4o-mini")], db=db, limiter=guard)
    await ask(router, "q1")
    for prompt in ("q2", "q3", "q4"):
        with pytest.raises(ProvidersExhausted, match="HTTP 400"):
            await ask(router, prompt)
    await ask(router, "q5")

    flags = guard.anomalies()
    assert [(a.kind, a.subject, a.value) for a in flags] == [
        ("provider_error_rate", "openai", 0.75)
    ]
    assert guard.errors.flagged() == frozenset({"openai"})


def test_the_error_rate_monitor_resets_when_the_rate_drops() -> None:
    monitor = ErrorRateMonitor(threshold=0.5, window=4, min_calls=2)
    outcomes = [True, True, False, False, False, True, True]
    flagged = [monitor.record("gemini", failed=f) is not None for f in outcomes]
    assert flagged == [False, True, False, False, False, False, True]


async def test_output_tokens_reported_after_a_call_are_charged(clock: FakeClock) -> None:
    guard = SpendGuard(settings(tpm={"openai": 60}), db=None, clock=clock, sleep=clock.sleep)
    guard.after_call("openai", "m", usage=None, error=None)
    guard.after_call("openai", "m", usage=StreamUsage(0, 30), error=None)

    await guard.before_call("openai", "m", estimated_input_tokens=60)

    assert clock.sleeps == [pytest.approx(30.0)]  # 30 of 60 tokens left, refilled at 1 per s


# -- settings ------------------------------------------------------------------------------


def test_settings_read_the_environment_over_a_dotenv_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MLCHAT_RPM_GEMINI=1000\nMLCHAT_SPEND_CAP_DAY_USD=3\n")

    read = Settings.from_env({"MLCHAT_SPEND_CAP_DAY_USD": "4"}, env_file=env_file).spend

    assert (read.rpm["gemini"], read.cap_day_usd) == (1000, 4.0)


def test_settings_read_the_environment_with_defaults(tmp_path: Path) -> None:
    defaults = Settings.from_env({}, env_file=tmp_path / "none").spend
    custom = Settings.from_env(
        {
            "MLCHAT_RPM_OPENAI": "30",
            "MLCHAT_TPM_ANTHROPIC": "0",
            "MLCHAT_SPEND_CAP_THREAD_USD": "0.5",
            "MLCHAT_SPEND_CAP_DAY_USD": "0",
            "MLCHAT_ANOMALY_FACTOR": "3",
            "MLCHAT_ERROR_RATE_THRESHOLD": "0.25",
            "MLCHAT_COST_LINE": "off",
        },
        env_file=tmp_path / "none",
    ).spend

    assert (defaults.rpm["anthropic"], defaults.cap_thread_usd, defaults.cap_day_usd) == (
        50,
        2.0,
        10.0,
    )
    assert defaults.cost_line is True
    assert custom.rpm["openai"] == 30 and custom.tpm["anthropic"] == 0
    assert (custom.cap_thread_usd, custom.cap_day_usd, custom.anomaly_factor) == (0.5, 0.0, 3.0)
    assert (custom.error_rate_threshold, custom.cost_line) == (0.25, False)
    with pytest.raises(ValueError, match="MLCHAT_SPEND_CAP_DAY_USD must be a number"):
        Settings.from_env({"MLCHAT_SPEND_CAP_DAY_USD": "ten"}, env_file=tmp_path / "none")
    with pytest.raises(ValueError, match="MLCHAT_COST_LINE must be on or off"):
        Settings.from_env({"MLCHAT_COST_LINE": "maybe"}, env_file=tmp_path / "none")
