"""The local login and secrets that ``serve`` prepares in the data folder."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

from assistant.cli.serve import CHAT_APP, DEFAULT_USER, chainlit_command, prepare_data_dir
from assistant.settings import Settings


def test_first_start_generates_private_secrets_that_later_starts_reuse(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    env: dict[str, str] = {}
    login = prepare_data_dir(settings, env)
    secret_file = tmp_path / "data" / "auth" / "chainlit-secret"
    assert env["CHAINLIT_AUTH_SECRET"] == secret_file.read_text().strip()
    assert len(env["CHAINLIT_AUTH_SECRET"]) >= 32
    assert login.username == DEFAULT_USER
    assert login.password_file == tmp_path / "data" / "auth" / "password"
    assert login.password_file.read_text().strip() == login.password
    for path in (secret_file, login.password_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_file.parent.stat().st_mode) == 0o700

    again_env: dict[str, str] = {}
    again = prepare_data_dir(settings, again_env)
    assert again.password == login.password
    assert again_env["CHAINLIT_AUTH_SECRET"] == env["CHAINLIT_AUTH_SECRET"]


def test_environment_values_win_and_nothing_is_generated(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    env = {"CHAINLIT_AUTH_SECRET": "s" * 40, "MLCHAT_USER": "ana", "MLCHAT_PASSWORD": "pw1"}
    login = prepare_data_dir(settings, env)
    assert env["CHAINLIT_AUTH_SECRET"] == "s" * 40
    assert (login.username, login.password_file) == ("ana", None)
    assert not (tmp_path / "auth").exists()
    assert login.accepts("ana", "pw1")
    assert not login.accepts("ana", "pw2")
    assert not login.accepts("mlchat", "pw1")
    assert "pw1" not in repr(login)


def test_chainlit_command_runs_our_app_on_the_given_address() -> None:
    command = chainlit_command(host="127.0.0.1", port=8123, headless=True)
    assert command == [
        sys.executable,
        "-m",
        "chainlit",
        "run",
        str(CHAT_APP),
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--headless",
    ]
    assert CHAT_APP.is_file()
