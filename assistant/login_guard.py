"""Failed-login rate limit and ``Secure`` cookies: two ASGI middlewares on Chainlit's app.

Chainlit's password login is ``POST /login``; it answers 401 to a wrong
password, as the one-click link route does to a wrong or spent token. :class:`LoginGuard` watches those answers per client address:
after ``attempts`` failures within ``window_s`` seconds the address is locked
out, and every login from it gets 429 with ``Retry-After`` (a right password
too) until the wait is over. Each lockout doubles the wait, from ``window_s``
up to an hour; a successful login, or an hour with no lockout, starts over.

The client address is the socket's peer. ``X-Forwarded-For`` counts only when
uvicorn trusts the proxy that sent it (``FORWARDED_ALLOW_IPS``; ``chat_app``
trusts none unless it is set): uvicorn's proxy middleware then rewrites the
ASGI scope's ``client`` and ``scheme`` before these run.

Chainlit marks its ``access_token`` cookie ``Secure`` only with
``SameSite=None``; :class:`SecureCookies` adds ``Secure`` to every cookie it sets on a
request that came over https (the scheme, or ``X-Forwarded-Proto`` from a
trusted proxy).

No Chainlit import: this is plain ASGI.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_WAIT_S = 3600.0
_MAX_CLIENTS = 10_000


@dataclass(slots=True)
class _Client:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    lockouts: int = 0
    last_lockout_end: float = 0.0


class LoginLimiter:
    """Counts failed logins per client address and decides when to refuse.

    Args:
        attempts: Failures allowed within ``window_s`` before a lockout.
        window_s: The counting window, and the first lockout's wait.
        clock: Seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        *,
        attempts: int = 5,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()

    def retry_after_s(self, address: str) -> int:
        """Seconds until ``address`` may try again; 0 when it may now."""
        client = self._clients.get(address)
        if client is None:
            return 0
        left = client.locked_until - self._clock()
        return math.ceil(left) if left > 0 else 0

    def failed(self, address: str) -> int:
        """Record a failed login; return the lockout it starts in seconds (0 for none)."""
        now = self._clock()
        client = self._client(address)
        client.failures = [t for t in client.failures if now - t < self.window_s]
        client.failures.append(now)
        if len(client.failures) < self.attempts:
            return 0
        if client.lockouts and now - client.last_lockout_end > MAX_WAIT_S:
            client.lockouts = 0  # an hour of good behaviour since the last lockout
        wait_s = min(self.window_s * 2**client.lockouts, MAX_WAIT_S)
        client.lockouts += 1
        client.failures.clear()
        client.locked_until = now + wait_s
        client.last_lockout_end = client.locked_until
        return math.ceil(wait_s)

    def succeeded(self, address: str) -> None:
        """Forget the address's failures after a successful login."""
        self._clients.pop(address, None)

    def _client(self, address: str) -> _Client:
        client = self._clients.pop(address, None) or _Client()
        self._clients[address] = client  # most recent last
        while len(self._clients) > _MAX_CLIENTS:
            oldest, old = next(iter(self._clients.items()))
            if old.locked_until > self._clock():
                break  # never forget a live lockout to make room
            del self._clients[oldest]
        return client


class LoginGuard:
    """ASGI middleware: the failed-login rate limit on ``POST /login``.

    Args:
        app: The wrapped ASGI app (Chainlit's FastAPI app).
        limiter: The failure counter.
        login_path: The password login route (Chainlit's ``/login``).
        link_path: The one-click login route (``GET``, see :mod:`assistant.login_link`);
            a refused token counts as a failed login.
    """

    def __init__(
        self,
        app: App,
        *,
        limiter: LoginLimiter,
        login_path: str = "/login",
        link_path: str | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.login_path = login_path
        self.link_path = link_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._is_login(scope):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        wait_s = self.limiter.retry_after_s(address)
        if wait_s:
            log.info("login_refused reason=locked_out retry_after_s=%d", wait_s)
            await _too_many(send, wait_s)
            return
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, watch)
        if status and status[0] == 401:
            locked_s = self.limiter.failed(address)
            if locked_s:
                log.warning("login_locked_out wait_s=%d", locked_s)
        elif status and 200 <= status[0] < 300:
            self.limiter.succeeded(address)

    def _is_login(self, scope: Scope) -> bool:
        method, path = scope.get("method"), scope.get("path", "")
        if method == "POST" and path.endswith(self.login_path):
            return True
        return self.link_path is not None and method == "GET" and path == self.link_path


class SecureCookies:
    """ASGI middleware: ``Secure`` on every cookie set in reply to an https request."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secure_cookies(message.get("headers", []))
            await send(message)

        await self.app(scope, receive, secure)


def _secure_cookies(headers: Any) -> list[tuple[bytes, bytes]]:
    result = []
    for name, value in headers:
        if name.lower() == b"set-cookie" and b"secure" not in {
            part.strip().lower() for part in value.split(b";")
        }:
            value = value + b"; Secure"
        result.append((name, value))
    return result


async def _too_many(send: Send, wait_s: int) -> None:
    body = json.dumps(
        {"detail": f"Too many failed logins. Try again in {wait_s} seconds."}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(wait_s).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
