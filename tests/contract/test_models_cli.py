"""``mlchat models`` asks every configured provider, through its real SDK, what it offers."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from assistant.cli.models import run_models_command
from tests.fakes.llm_servers import FakeLLMServer


def test_every_configured_provider_lists_its_models_and_the_default(
    fake_openai: FakeLLMServer,
    fake_anthropic: FakeLLMServer,
    fake_gemini: FakeLLMServer,
    tmp_path: Path,
) -> None:
    fake_openai.models = ["gpt-6-luna", "gpt-x"]
    fake_anthropic.models = ["claude-haiku-5-5"]
    fake_gemini.models = ["gemini-3.5-flash-lite", "gemini-y"]
    environ = {
        "MLCHAT_DATA_DIR": str(tmp_path),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake_openai.url,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": fake_anthropic.url,
        "GEMINI_API_KEY": "g-test",
        "GEMINI_BASE_URL": fake_gemini.url,
        "MLCHAT_LOCAL_BASE_URL": "http://127.0.0.1:9/v1",  # nothing listens: reported, not fatal
    }
    out = io.StringIO()

    status = run_models_command(argparse.Namespace(json=True), out=out, environ=environ)

    listed = {e["provider"]: e for e in json.loads(out.getvalue())}
    assert status == 0
    assert listed["openai"]["models"] == ["gpt-6-luna", "gpt-x"]
    assert listed["anthropic"]["models"] == ["claude-haiku-5-5"]
    assert listed["gemini"]["models"] == ["gemini-3.5-flash-lite", "gemini-y"]
    assert listed["anthropic"]["default"] == "claude-haiku-5-5"
    assert listed["local"]["models"] == [] and listed["local"]["error"]


def test_text_output_marks_the_default(fake_openai: FakeLLMServer, tmp_path: Path) -> None:
    fake_openai.models = ["gpt-6-luna", "other"]
    environ = {
        "MLCHAT_DATA_DIR": str(tmp_path),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake_openai.url,
    }
    out = io.StringIO()

    run_models_command(argparse.Namespace(json=False), out=out, environ=environ)

    assert f"openai ({fake_openai.url})" in out.getvalue()
    assert "  - gpt-6-luna  (default)\n  - other\n" in out.getvalue()
