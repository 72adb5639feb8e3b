"""The failed-login counter on a test clock (the real server is in tests/security/test_login.py)."""

from __future__ import annotations

from assistant.login_guard import MAX_WAIT_S, LoginLimiter, _secure_cookies


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_lock_out_and_each_lockout_doubles_the_wait_up_to_an_hour() -> None:
    clock = Clock()
    limiter = LoginLimiter(attempts=5, window_s=60, clock=clock)
    waits = []
    for _ in range(8):
        started = [limiter.failed("10.0.0.1") for _ in range(5)]
        assert started[:4] == [0, 0, 0, 0]
        waits.append(started[4])
        assert limiter.retry_after_s("10.0.0.1") == started[4]
        assert limiter.retry_after_s("10.0.0.2") == 0  # another address is not affected
        clock.now += started[4]
        assert limiter.retry_after_s("10.0.0.1") == 0
    assert waits == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert MAX_WAIT_S == 3600


def test_failures_outside_the_window_and_a_success_are_forgotten() -> None:
    clock = Clock()
    limiter = LoginLimiter(attempts=3, window_s=60, clock=clock)
    assert [limiter.failed("a"), limiter.failed("a")] == [0, 0]
    clock.now += 61
    assert [limiter.failed("a"), limiter.failed("a")] == [0, 0]
    limiter.succeeded("a")
    assert [limiter.failed("a"), limiter.failed("a"), limiter.failed("a")] == [0, 0, 60]


def test_secure_is_added_to_each_cookie_once() -> None:
    headers = [
        (b"set-cookie", b"access_token=x; HttpOnly; Path=/; SameSite=lax"),
        (b"set-cookie", b"other=y; Secure"),
        (b"content-type", b"text/plain"),
    ]
    assert _secure_cookies(headers) == [
        (b"set-cookie", b"access_token=x; HttpOnly; Path=/; SameSite=lax; Secure"),
        (b"set-cookie", b"other=y; Secure"),
        (b"content-type", b"text/plain"),
    ]
