"""Login attacks against a real Chainlit server (``chainlit run chat_app.py``), over HTTP.

| attack | expected result | enforced in |
|---|---|---|
| guess passwords fast | the 6th try in a minute gets 429 with ``Retry-After`` | ``assistant/login_guard.py`` (``LoginGuard``) |
| the right password during a lockout | refused with 429 too | ``LoginGuard`` |
| dodge the limit with ``X-Forwarded-For`` | ignored unless the proxy is trusted (``FORWARDED_ALLOW_IPS``) | uvicorn's proxy middleware, ``chat_app.py`` default |
| read the database or secrets as another local user | data folder 0700, database files 0600 | ``assistant/private_files.py``, ``assistant/store.py`` |
| steal the session cookie over plain http | ``Secure`` on cookies of https requests | ``SecureCookies`` |
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import PASSWORD, USER, ChainlitServer


class _Server(ChainlitServer):
    """The e2e server, with or without a trusted proxy address."""

    def __init__(self, base: Path, *, trusted_proxy: str | None) -> None:
        super().__init__(base / "data", base / "server.log", env={"MLCHAT_SANDBOX": "local"})
        self.trusted_proxy = trusted_proxy

    def _environment(self) -> dict[str, str]:
        env = super()._environment()
        env.pop("FORWARDED_ALLOW_IPS", None)
        if self.trusted_proxy is not None:
            env["FORWARDED_ALLOW_IPS"] = self.trusted_proxy
        return env


def _start(trusted_proxy: str | None, *, prepare: bool = False) -> Iterator[_Server]:
    base = Path(tempfile.mkdtemp(prefix="mlchat-login-"))
    server = _Server(base, trusted_proxy=trusted_proxy)
    if prepare:  # what an older mlchat left behind: world-readable
        (base / "data").mkdir(mode=0o755)
        os.chmod(base / "data", 0o755)
        (base / "data" / "mlchat.db").touch(mode=0o644)
        os.chmod(base / "data" / "mlchat.db", 0o644)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def direct() -> Iterator[_Server]:
    """No proxy trusted (the default): the socket's peer is the client."""
    yield from _start(None, prepare=True)


@pytest.fixture(scope="module")
def behind_proxy() -> Iterator[_Server]:
    """127.0.0.1 is a trusted reverse proxy: its X-Forwarded-* headers count."""
    yield from _start("127.0.0.1")


def _login(server: _Server, password: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/login",
        data={"username": USER, "password": password},
        headers=headers,
        timeout=10,
    )


def test_the_sixth_wrong_password_gets_429_and_then_so_does_the_right_one(
    direct: _Server,
) -> None:
    statuses = [_login(direct, f"wrong-{i}").status_code for i in range(6)]
    assert statuses == [401, 401, 401, 401, 401, 429]
    refused = _login(direct, PASSWORD)
    assert refused.status_code == 429
    assert 55 <= int(refused.headers["retry-after"]) <= 60
    assert "access_token" not in refused.headers.get("set-cookie", "")
    # X-Forwarded-For from an untrusted peer changes nothing: still the same client.
    assert _login(direct, PASSWORD, **{"X-Forwarded-For": "198.51.100.7"}).status_code == 429


def test_data_folder_is_0700_and_database_files_are_0600_after_start(direct: _Server) -> None:
    data = direct.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    databases = sorted(p for p in data.iterdir() if ".db" in p.name)
    assert {p.name for p in databases} >= {"mlchat.db", "mlchat.db-wal", "chainlit.db"}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in databases} == {
        p.name: 0o600 for p in databases
    }
    folders = [p for p in data.iterdir() if p.is_dir()]
    assert folders and {stat.S_IMODE(p.stat().st_mode) for p in folders} == {0o700}


def test_cookie_is_secure_only_when_a_trusted_proxy_says_https(
    behind_proxy: _Server, direct: _Server
) -> None:
    over_https = _login(
        behind_proxy,
        PASSWORD,
        **{"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.20"},
    )
    assert over_https.status_code == 200
    cookie = over_https.headers["set-cookie"]
    assert cookie.startswith("access_token=") and "; Secure" in cookie
    plain = _login(behind_proxy, PASSWORD, **{"X-Forwarded-For": "198.51.100.21"})
    assert plain.status_code == 200 and "Secure" not in plain.headers["set-cookie"]
    # From an untrusted peer the header is ignored (and that client is locked out anyway).
    assert "Secure" not in _login(direct, "x", **{"X-Forwarded-Proto": "https"}).headers.get(
        "set-cookie", ""
    )


def test_a_locked_out_client_does_not_lock_out_another(behind_proxy: _Server) -> None:
    attacker = {"X-Forwarded-For": "203.0.113.5"}
    statuses = [_login(behind_proxy, f"guess-{i}", **attacker).status_code for i in range(6)]
    assert statuses == [401, 401, 401, 401, 401, 429]
    assert _login(behind_proxy, PASSWORD, **attacker).status_code == 429
    assert _login(behind_proxy, PASSWORD, **{"X-Forwarded-For": "203.0.113.9"}).status_code == 200
