"""Token estimates, prices, retry delays and cache keys."""

from __future__ import annotations

import random

import pytest

from assistant.errors import (
    ProviderAuthError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderTimeout,
    redact,
)
from assistant.providers.base import ChatSettings, Message, ToolCall, ToolSpec
from assistant.providers.cache import cache_key
from assistant.providers.pricing import estimate_cost_usd
from assistant.providers.retry import RetryPolicy, parse_retry_after
from assistant.providers.tokens import count_prompt_tokens, count_text_tokens
from assistant.settings import Settings


def test_without_a_local_tiktoken_table_tokens_are_chars_over_four(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # an empty cache: nothing is downloaded
    from assistant.providers import tokens

    tokens._offline_encoder.cache_clear()
    try:
        assert count_text_tokens("abcdefghi") == 3
        assert count_text_tokens("") == 0
        messages = [
            Message("user", "a" * 40),
            Message("assistant", "", tool_calls=(ToolCall("1", "ab", "{}"),)),
        ]
        assert count_prompt_tokens(messages) == (4 + 10) + (4 + 0 + 1)
    finally:
        tokens._offline_encoder.cache_clear()


def test_prices_come_from_the_bundled_table_and_unknown_models_have_none() -> None:
    assert estimate_cost_usd(
        "openai", "gpt-4o-mini", input_tokens=1_000_000, output_tokens=0
    ) == pytest.approx(0.15)
    assert estimate_cost_usd("openai", "llama3.1", input_tokens=10, output_tokens=10) is None
    assert estimate_cost_usd("offline", "rules", input_tokens=10, output_tokens=10) == 0.0
    with_cache = estimate_cost_usd(
        "anthropic", "claude-sonnet-4-5", input_tokens=1000, output_tokens=0, cached_tokens=1000
    )
    without = estimate_cost_usd(
        "anthropic", "claude-sonnet-4-5", input_tokens=1000, output_tokens=0
    )
    assert with_cache is not None and without is not None and with_cache < without


@pytest.mark.parametrize(
    ("provider", "model", "input_usd", "output_usd", "cached_usd"),
    [  # per million tokens, from each provider's pricing page (December 2026)
        ("openai", "gpt-6-luna", 0.10, 0.50, 0.01),
        ("anthropic", "claude-haiku-5-5", 0.10, 0.50, 0.01),
        ("gemini", "gemini-3.5-flash-lite", 0.30, 2.50, 0.03),
    ],
)
def test_each_default_model_is_priced_by_the_pinned_table(
    provider: str, model: str, input_usd: float, output_usd: float, cached_usd: float
) -> None:
    assert Settings().default_model(provider) == model  # type: ignore[arg-type]
    per_k = 1_000 / 1_000_000  # 1,000 tokens, below every long-prompt tier
    assert estimate_cost_usd(provider, model, input_tokens=1_000, output_tokens=0) == pytest.approx(
        input_usd * per_k
    )
    assert estimate_cost_usd(provider, model, input_tokens=0, output_tokens=1_000) == pytest.approx(
        output_usd * per_k
    )
    assert estimate_cost_usd(
        provider, model, input_tokens=1_000, output_tokens=0, cached_tokens=1_000
    ) == pytest.approx(cached_usd * per_k)


def test_retry_delays_follow_full_jitter_and_respect_retry_after() -> None:
    policy = RetryPolicy(
        max_attempts=4,
        base_delay_s=1.0,
        max_delay_s=3.0,
        max_retry_after_s=10,
        rng=random.Random(0),
    )
    timeout = ProviderTimeout("p", "m")

    delays = [policy.delay_s(n, timeout) for n in (1, 2, 3)]

    assert all(0 <= d <= c for d, c in zip(delays, [1.0, 2.0, 3.0], strict=True))
    assert policy.delay_s(4, timeout) is None  # attempts used up
    assert policy.delay_s(1, ProviderRateLimited("p", "m", retry_after_s=4)) == 4
    assert policy.delay_s(1, ProviderRateLimited("p", "m", retry_after_s=11)) is None
    assert policy.delay_s(1, ProviderAuthError("p", "m")) is None
    assert policy.delay_s(1, ProviderHTTPError("p", "m", status=400)) is None
    assert policy.delay_s(1, ProviderHTTPError("p", "m", status=529, retry_after_s=0.5)) == 0.5


def test_retry_after_headers_in_every_spelling() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert parse_retry_after({}) is None


def test_cache_key_changes_with_anything_that_changes_the_answer() -> None:
    messages = [Message("user", "hi")]
    tools = [ToolSpec("t", "d", {"type": "object"})]
    base = cache_key("openai", "m", messages, tools, ChatSettings("m"))

    assert base == cache_key(
        "openai", "m", [Message("user", "hi", provider_state={"x": 1})], tools, ChatSettings("m")
    )
    assert (
        len(
            {
                base,
                cache_key("anthropic", "m", messages, tools, ChatSettings("m")),
                cache_key("openai", "m2", messages, tools, ChatSettings("m")),
                cache_key("openai", "m", [Message("user", "hi!")], tools, ChatSettings("m")),
                cache_key("openai", "m", messages, [], ChatSettings("m")),
                cache_key("openai", "m", messages, tools, ChatSettings("m", max_tokens=5)),
            }
        )
        == 6
    )


def test_redact_removes_known_secrets_and_key_shapes() -> None:
    text = "key sk-proj-abc123XYZ and AIzaSyA1234567890abcdef and my-secret-value"
    assert redact(text, ["my-secret-value"]) == "key [redacted] and [redacted] and [redacted]"
