"""Fixtures for the reliability suite: the fake LLM servers (real wire protocols on loopback)."""

from tests.fakes.pytest_fixtures import (  # noqa: F401
    _fake_anthropic_server,
    _fake_gemini_server,
    _fake_openai_server,
    fake_anthropic,
    fake_gemini,
    fake_openai,
)
