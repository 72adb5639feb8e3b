"""The one-time login link on a test clock (the browser test is in tests/e2e/test_serve.py)."""

from __future__ import annotations

from assistant.login_link import (
    EXPIRES_VARIABLE,
    LOGIN_LINK_PATH,
    OneTimeLogin,
    draw_link,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _server_side(link_env: dict[str, str], clock: Clock) -> OneTimeLogin:
    login = OneTimeLogin.from_environment(dict(link_env), clock=clock)
    assert login is not None
    return login


def test_the_token_logs_in_once_and_then_is_spent() -> None:
    clock = Clock()
    link = draw_link(lifetime_s=600, clock=clock)
    login = _server_side(link.server_environment(), clock)

    assert login.redeem(link.token + "x") == "wrong"
    assert login.redeem(link.token) == "ok"
    assert login.redeem(link.token) == "used"


def test_an_unused_token_expires_after_its_lifetime() -> None:
    clock = Clock()
    link = draw_link(lifetime_s=600, clock=clock)
    login = _server_side(link.server_environment(), clock)
    clock.now += 601
    assert login.redeem(link.token) == "expired"


def test_the_server_gets_only_a_digest_and_the_variables_leave_the_environment() -> None:
    link = draw_link()
    environ = {"PATH": "/usr/bin", **link.server_environment()}
    assert link.token not in repr(environ) and link.token not in repr(link)

    login = OneTimeLogin.from_environment(environ)

    assert environ == {"PATH": "/usr/bin"}
    assert login is not None and login.redeem(link.token) == "ok"
    assert OneTimeLogin.from_environment({EXPIRES_VARIABLE: "1"}) is None


def test_tokens_are_long_and_never_repeat() -> None:
    tokens = {draw_link().token for _ in range(200)}
    assert len(tokens) == 200
    assert min(len(t) for t in tokens) >= 43  # 32 random bytes, URL-safe base64
    assert (
        draw_link()
        .url("http://127.0.0.1:8000/")
        .startswith(f"http://127.0.0.1:8000{LOGIN_LINK_PATH}?token=")
    )
