"""Choosing providers from settings, and the one-time offline notice."""

from __future__ import annotations

from assistant.providers.base import (
    ChatSettings,
    Message,
    StreamEnd,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolCall,
)
from assistant.providers.registry import build_router
from assistant.settings import Settings
from tests.assistant.scripted import ScriptedProvider


def routes(settings: Settings) -> list[tuple[str, str]]:
    setup = build_router(settings)
    return [(r.provider.name, r.model) for r in setup.router.routes]


def test_no_key_means_offline_with_one_notice_naming_the_keys() -> None:
    setup = build_router(Settings.from_env({}, env_file=None))

    assert setup.is_offline
    assert [(r.provider.name, r.model) for r in setup.router.routes] == [("offline", "rules")]
    assert [n.kind for n in setup.notices] == ["offline"]
    assert "OPENAI_API_KEY" in setup.notices[0].message


def test_first_provider_with_a_key_is_chosen_then_fallbacks_in_order() -> None:
    settings = Settings.from_env(
        {"GEMINI_API_KEY": "g", "ANTHROPIC_API_KEY": "a", "MLCHAT_FALLBACKS": "gemini,offline"},
        env_file=None,
    )

    assert routes(settings) == [
        ("anthropic", "claude-haiku-5-5"),
        ("gemini", "gemini-3.5-flash-lite"),
        ("offline", "rules"),
    ]
    assert build_router(settings).notices == ()


def test_explicit_provider_and_model_win() -> None:
    settings = Settings.from_env(
        {
            "OPENAI_API_KEY": "o",
            "GEMINI_API_KEY": "g",
            "MLCHAT_PROVIDER": "gemini",
            "MLCHAT_MODEL": "gemini-2.5-pro",
        },
        env_file=None,
    )

    assert routes(settings) == [("gemini", "gemini-2.5-pro")]


def test_small_tier_uses_the_small_model_on_the_primary_only() -> None:
    settings = Settings.from_env(
        {
            "OPENAI_API_KEY": "o",
            "ANTHROPIC_API_KEY": "a",
            "MLCHAT_MODEL": "gpt-4o",
            "MLCHAT_SMALL_MODEL": "gpt-6-luna",
            "MLCHAT_FALLBACKS": "anthropic",
        },
        env_file=None,
    )

    setup = build_router(settings, tier="small")

    assert [(r.provider.name, r.model) for r in setup.router.routes] == [
        ("openai", "gpt-6-luna"),
        ("anthropic", "claude-haiku-5-5"),
    ]


def test_local_openai_compatible_server_needs_no_key() -> None:
    settings = Settings.from_env(
        {"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1", "MLCHAT_MODEL": "llama3.1"}, env_file=None
    )

    assert routes(settings) == [("openai", "llama3.1")]


def test_explicit_provider_without_key_is_skipped_with_a_notice() -> None:
    settings = Settings.from_env(
        {"MLCHAT_PROVIDER": "anthropic", "MLCHAT_FALLBACKS": "openai"}, env_file=None
    )

    setup = build_router(settings)

    assert [r.provider.name for r in setup.router.routes] == ["offline"]
    assert [n.kind for n in setup.notices] == ["provider_skipped", "provider_skipped", "offline"]
    assert "ANTHROPIC_API_KEY" in setup.notices[0].message


async def test_offline_slot_streams_the_strategy_reply_through_the_router() -> None:
    call = ToolCall("offline_1", "train_candidates", '{"target": "churn"}')

    offline = ScriptedProvider(
        [
            [
                StreamText("Training on churn.csv."),
                StreamToolCall(call),
                StreamUsage(0, 0),
                StreamEnd("tool_calls"),
            ]
        ],
        name="offline",
    )
    setup = build_router(Settings.from_env({}, env_file=None), offline=offline)

    deltas = [
        d async for d in setup.router.stream([Message("user", "churn.csv")], [], ChatSettings("x"))
    ]

    # the router passes tool calls on with the end of their stream
    assert [d.kind for d in deltas] == ["text", "usage", "tool_call", "end"]
    assert deltas[0] == StreamText("Training on churn.csv.")
    assert deltas[2].call == call and deltas[3].reason == "tool_calls"
