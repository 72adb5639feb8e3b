"""Fixtures shared by every test package."""

from tests.postgres import postgres_server_url  # noqa: F401
