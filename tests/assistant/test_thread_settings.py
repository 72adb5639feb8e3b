"""The settings panel's values mapped to a conversation's provider, model, sandbox and budget.

The mapping is pure; the session tests run the real router against the fake
OpenAI server, so a switch is proven by where the request went.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from assistant.events import Event, TurnFinished
from assistant.session import Assistant
from assistant.settings import Settings
from assistant.store import thread_metadata
from assistant.thread_settings import (
    ThreadChoice,
    choice_from_panel,
    load_choice,
    model_for,
    usable_providers,
    usable_sandboxes,
)
from tests.fakes import pytest_fixtures
from tests.fakes.llm_servers import FakeLLMServer, text
from tools.errors import UserFacingError

_fake_openai_server = pytest_fixtures._fake_openai_server
fake_openai = pytest_fixtures.fake_openai

OFFLINE = ThreadChoice("offline", "rules", "local", 60)


def settings_with(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {"MLCHAT_DATA_DIR": str(tmp_path / "data"), **env}, env_file=tmp_path / "none.env"
    )


def test_the_panel_offers_providers_with_a_key_and_e2b_only_with_its_key(tmp_path: Path) -> None:
    bare = settings_with(tmp_path)
    keyed = settings_with(tmp_path, ANTHROPIC_API_KEY="sk-ant-x", E2B_API_KEY="e2b_x")
    assert usable_providers(bare) == ("offline",)
    assert usable_sandboxes(bare) == ("local",)
    assert usable_providers(keyed) == ("anthropic", "offline")
    assert usable_sandboxes(keyed) == ("local", "e2b")


def test_switching_provider_takes_its_default_model_unless_one_is_typed(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, OPENAI_API_KEY="sk-x", ANTHROPIC_API_KEY="sk-ant-x")
    # the offline model name left in the box does not follow the switch
    switched = choice_from_panel(
        {"provider": "openai", "model": "rules", "sandbox": "local", "budget_s": 60},
        current=OFFLINE,
        settings=settings,
    )
    assert switched == ThreadChoice("openai", "gpt-6-luna", "local", 60)
    typed = choice_from_panel(
        {"provider": "anthropic", "model": "claude-x"}, current=switched, settings=settings
    )
    assert (typed.provider, typed.model) == ("anthropic", "claude-x")
    emptied = choice_from_panel({"model": "  "}, current=typed, settings=settings)
    assert emptied.model == "claude-haiku-5-5"
    back = choice_from_panel(
        {"provider": "offline", "model": "gpt-4o"}, current=typed, settings=settings
    )
    assert (back.provider, back.model) == ("offline", "rules")


def test_mlchat_model_is_the_default_of_the_configured_provider_only(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path, OPENAI_API_KEY="sk-x", GEMINI_API_KEY="g-x", MLCHAT_MODEL="gpt-4.1"
    )
    assert model_for(settings, "openai") == "gpt-4.1"
    assert model_for(settings, "gemini") == "gemini-3.5-flash-lite"


def test_a_budget_is_clamped_and_a_non_number_is_refused(tmp_path: Path) -> None:
    settings = settings_with(tmp_path)
    assert (
        choice_from_panel({"budget_s": 5000}, current=OFFLINE, settings=settings).budget_s == 1800
    )
    assert (
        choice_from_panel({"budget_s": "30.0"}, current=OFFLINE, settings=settings).budget_s == 30
    )
    with pytest.raises(UserFacingError, match="number of seconds"):
        choice_from_panel({"budget_s": "soon"}, current=OFFLINE, settings=settings)


def test_a_switch_that_cannot_work_says_why_and_what_stays(tmp_path: Path) -> None:
    settings = settings_with(tmp_path)
    with pytest.raises(UserFacingError, match="E2B_API_KEY") as e2b:
        choice_from_panel({"sandbox": "e2b"}, current=OFFLINE, settings=settings)
    assert "keeps the local sandbox" in str(e2b.value)
    with pytest.raises(UserFacingError, match="GEMINI_API_KEY is not set"):
        choice_from_panel({"provider": "gemini"}, current=OFFLINE, settings=settings)
    with pytest.raises(UserFacingError, match="not a provider I know"):
        choice_from_panel({"provider": "mistral"}, current=OFFLINE, settings=settings)


async def _turn(assistant: Assistant, thread_id: str, message: str) -> list[Event]:
    events: AsyncIterator[Event] = assistant.run_turn(thread_id, message)
    return [event async for event in events]


async def test_a_switch_applies_from_the_next_turn_and_survives_a_restart(
    tmp_path: Path, fake_openai: FakeLLMServer
) -> None:
    settings = settings_with(
        tmp_path,
        MLCHAT_PROVIDER="offline",
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=fake_openai.url,
    )
    assistant = Assistant(settings)
    try:
        await _turn(assistant, "t1", "hello")
        assert fake_openai.requests == []  # offline by default
        fake_openai.reply(text("Hi from the model."))
        choice = assistant.choose(
            "t1", {"provider": "openai", "model": "rules", "sandbox": "local", "budget_s": 120}
        )
        assert choice == ThreadChoice("openai", "gpt-6-luna", "local", 120)
        events = await _turn(assistant, "t1", "hello again")
        assert [e.text for e in events if isinstance(e, TurnFinished)] == ["Hi from the model."]
        assert [r.body["model"] for r in fake_openai.requests] == ["gpt-6-luna"]
        await _turn(assistant, "t2", "another conversation")  # keeps the default
        assert len(fake_openai.requests) == 1
        metadata = thread_metadata(assistant.db, "t1")
        assert metadata["plan_changes"]["budget_s"] == 120  # training reads the budget here
        row = assistant.db.query(
            "SELECT provider, model FROM llm_calls WHERE thread_id = 't1' AND provider = 'openai'"
        )
        assert [tuple(r) for r in row] == [("openai", "gpt-6-luna")]
    finally:
        await assistant.close()

    restarted = Assistant(settings)
    try:
        assert restarted.choice("t1") == choice
        assert load_choice(restarted.db, "t2", default=OFFLINE) == OFFLINE
        restarted.choose("t1", {"provider": "offline"})
        await _turn(restarted, "t1", "and offline again")
        assert len(fake_openai.requests) == 1  # the reverse switch: nothing reached the server
    finally:
        await restarted.close()


async def test_a_refused_switch_keeps_the_conversations_choice(tmp_path: Path) -> None:
    assistant = Assistant(settings_with(tmp_path))
    try:
        before = assistant.choice("t1")
        with pytest.raises(UserFacingError):
            assistant.choose("t1", {"sandbox": "e2b"})
        assert assistant.choice("t1") == before
        assert "chat_settings" not in thread_metadata(assistant.db, "t1")
    finally:
        await assistant.close()


def test_code_approval_comes_from_the_environment_and_the_panel(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, MLCHAT_CODE_APPROVAL="always")
    assert settings.code_approval == "always"
    with pytest.raises(ValueError, match="MLCHAT_CODE_APPROVAL"):
        settings_with(tmp_path, MLCHAT_CODE_APPROVAL="sometimes")
    allowed = choice_from_panel(
        {"code_approval": "conversation"}, current=OFFLINE, settings=settings
    )
    assert allowed == ThreadChoice("offline", "rules", "local", 60, "conversation")
    assert choice_from_panel({}, current=allowed, settings=settings) == allowed
    with pytest.raises(UserFacingError, match="not a code approval setting"):
        choice_from_panel({"code_approval": "yolo"}, current=OFFLINE, settings=settings)
