"""Pytest fixtures for the fake LLM servers; import them into a ``conftest.py``.

Each server is started once per test session and emptied before every test::

    from tests.fakes.pytest_fixtures import fake_anthropic, fake_gemini, fake_openai  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.llm_servers import FakeLLMServer


def _serve(protocol: str) -> Iterator[FakeLLMServer]:
    server = FakeLLMServer(protocol)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _fake_openai_server() -> Iterator[FakeLLMServer]:
    yield from _serve("openai")


@pytest.fixture(scope="session")
def _fake_anthropic_server() -> Iterator[FakeLLMServer]:
    yield from _serve("anthropic")


@pytest.fixture(scope="session")
def _fake_gemini_server() -> Iterator[FakeLLMServer]:
    yield from _serve("gemini")


@pytest.fixture
def fake_openai(_fake_openai_server: FakeLLMServer) -> FakeLLMServer:
    """A fake OpenAI chat completions server with an empty script and no recorded requests."""
    _fake_openai_server.reset()
    return _fake_openai_server


@pytest.fixture
def fake_anthropic(_fake_anthropic_server: FakeLLMServer) -> FakeLLMServer:
    """A fake Anthropic messages server with an empty script and no recorded requests."""
    _fake_anthropic_server.reset()
    return _fake_anthropic_server


@pytest.fixture
def fake_gemini(_fake_gemini_server: FakeLLMServer) -> FakeLLMServer:
    """A fake Gemini streamGenerateContent server with an empty script and no recorded requests."""
    _fake_gemini_server.reset()
    return _fake_gemini_server
