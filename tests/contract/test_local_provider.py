"""A local OpenAI-compatible server as a provider of its own, next to OpenAI and as a fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.providers.base import ChatSettings, Message, StreamText
from assistant.providers.local import LocalProvider
from assistant.providers.registry import build_router
from assistant.providers.usage import CallContext
from assistant.settings import Settings
from assistant.store import Database
from tests.fakes.llm_servers import FakeLLMServer, error, text

HISTORY = [Message("system", "You train models."), Message("user", "hello")]


def settings_for(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"MLCHAT_DATA_DIR": str(tmp_path), **env}, env_file=tmp_path / ".env")


async def answer(router: object, thread: str = "t1") -> str:
    stream = router.stream(HISTORY, [], ChatSettings("x"), context=CallContext(thread, "turn"))  # type: ignore[attr-defined]
    return "".join([d.text async for d in stream if isinstance(d, StreamText)])


async def test_auto_model_is_the_first_one_the_server_lists(fake_openai: FakeLLMServer) -> None:
    fake_openai.models = ["smollm2-135m", "other"]
    fake_openai.reply(text("hi"), text("again"))
    provider = LocalProvider(base_url=fake_openai.url)

    deltas = [d async for d in provider.stream(HISTORY, [], ChatSettings("auto"))]
    _ = [d async for d in provider.stream(HISTORY, [], ChatSettings("auto"))]

    assert [d.text for d in deltas if isinstance(d, StreamText)] == ["hi"]
    posts = [r for r in fake_openai.requests if r.method == "POST"]
    assert [r.body["model"] for r in posts] == ["smollm2-135m", "smollm2-135m"]
    assert [r.path for r in fake_openai.requests].count("/v1/models") == 1  # listed once
    assert await provider.models() == ["smollm2-135m", "other"]


async def test_local_is_used_next_to_openai_and_as_its_fallback_at_no_cost(
    fake_openai: FakeLLMServer, tmp_path: Path
) -> None:
    with FakeLLMServer("openai") as local:
        local.models = ["llama-local"]
        fake_openai.reply(error(401, "bad key"))
        local.reply(text("from the local server"))
        settings = settings_for(
            tmp_path,
            OPENAI_API_KEY="sk-test",
            OPENAI_BASE_URL=fake_openai.url,
            MLCHAT_LOCAL_BASE_URL=local.url,
            MLCHAT_FALLBACKS="local",
        )
        db = Database(tmp_path / "mlchat.db")
        setup = build_router(settings, db=db)

        assert [r.provider.name for r in setup.router.routes] == ["openai", "local"]
        assert await answer(setup.router) == "from the local server"
        rows = db.query("SELECT provider, model, cost_usd, outcome FROM llm_calls ORDER BY id")
        assert [(r["provider"], r["model"], r["outcome"]) for r in rows] == [
            ("openai", "gpt-6-luna", "error"),  # costed as estimated: it was sent
            ("local", "auto", "ok"),
        ]
        assert rows[1]["cost_usd"] == 0.0


async def test_a_priced_local_server_is_costed_at_its_price(tmp_path: Path) -> None:
    with FakeLLMServer("openai") as local:
        local.reply(text("ok", usage=(1_000_000, 500_000)))
        settings = settings_for(
            tmp_path,
            MLCHAT_LOCAL_BASE_URL=local.url,
            MLCHAT_LOCAL_MODEL="qwen",
            MLCHAT_LOCAL_PRICE_INPUT="0.2",
            MLCHAT_LOCAL_PRICE_OUTPUT="0.4",
        )
        db = Database(tmp_path / "mlchat.db")
        setup = build_router(settings, db=db)

        assert setup.router.primary.model == "qwen"
        await answer(setup.router)
        assert db.query("SELECT cost_usd FROM llm_calls")[0]["cost_usd"] == pytest.approx(0.4)


def test_local_gets_no_rate_limits_unless_set(tmp_path: Path) -> None:
    default = settings_for(tmp_path, MLCHAT_LOCAL_BASE_URL="http://127.0.0.1:1/v1")
    limited = settings_for(tmp_path, MLCHAT_RPM_LOCAL="30")

    assert (default.spend.rpm["local"], default.spend.tpm["local"]) == (0, 0)
    assert limited.spend.rpm["local"] == 30


def test_every_default_cloud_model_has_a_price(tmp_path: Path) -> None:
    from assistant.providers.pricing import estimate_cost_usd

    settings = settings_for(tmp_path)
    for provider in ("openai", "anthropic", "gemini"):
        model = settings.default_model(provider)  # type: ignore[arg-type]
        cost = estimate_cost_usd(provider, model, input_tokens=1000, output_tokens=100)
        assert cost is not None and cost > 0, (provider, model)
