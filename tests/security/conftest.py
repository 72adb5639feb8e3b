"""Fixtures for the security suite: the fake LLM servers (real wire protocols on loopback)."""

from tests.fakes.pytest_fixtures import _fake_openai_server, fake_openai  # noqa: F401
