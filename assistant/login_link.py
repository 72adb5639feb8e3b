"""One-click local login: a one-time link, as Jupyter prints one at start.

``mlchat serve`` draws a random token (256 bits), prints the link
``http://HOST:PORT/mlchat/login?token=...`` once, and hands the chat app
only the token's SHA-256 and its deadline (environment variables of the
child process). Opening the link logs the local user in; the token then
expires, and so does an unused one after :data:`LINK_LIFETIME_S`. The
password login stays for other browsers and machines.

Neither the token nor its digest is logged; uvicorn's access log is off
(Chainlit runs it at level ``error``), and the login route answers a used,
expired or wrong token with 401, which :class:`~assistant.login_guard.LoginGuard`
counts as a failed login, so guessing is rate-limited like passwords are.

No Chainlit import: the route itself is mounted by :mod:`ui.login`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)

LOGIN_LINK_PATH = "/mlchat/login"
"""The route that takes ``?token=...``."""

LINK_LIFETIME_S = 600.0
"""How long an unused link works."""

DIGEST_VARIABLE = "MLCHAT_LOGIN_LINK_SHA256"
EXPIRES_VARIABLE = "MLCHAT_LOGIN_LINK_EXPIRES"

Redeemed = Literal["ok", "used", "expired", "wrong"]


@dataclass(frozen=True, slots=True)
class LoginLink:
    """A freshly drawn link: the token for the printed URL, the digest for the server."""

    token: str = field(repr=False)
    expires_at: float
    """Unix time after which the link no longer works."""

    def url(self, base_url: str) -> str:
        """The link to print, under ``base_url`` (``http://127.0.0.1:8000``)."""
        return f"{base_url.rstrip('/')}{LOGIN_LINK_PATH}?token={self.token}"

    def server_environment(self) -> dict[str, str]:
        """What the chat app needs to check the token: its SHA-256 and its deadline."""
        return {DIGEST_VARIABLE: _digest(self.token), EXPIRES_VARIABLE: f"{self.expires_at:.3f}"}


def draw_link(
    *, lifetime_s: float = LINK_LIFETIME_S, clock: Callable[[], float] = time.time
) -> LoginLink:
    """A new unguessable one-time link, valid for ``lifetime_s`` seconds."""
    return LoginLink(token=secrets.token_urlsafe(32), expires_at=clock() + lifetime_s)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class OneTimeLogin:
    """The server side of a link: accepts its token once, before the deadline.

    Args:
        digest: SHA-256 (hex) of the token.
        expires_at: Unix time after which the token is refused.
        clock: Unix time now (tests pass their own).
    """

    def __init__(
        self, digest: str, expires_at: float, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._digest = digest
        self.expires_at = expires_at
        self._clock = clock
        self._used = False
        self._lock = threading.Lock()

    @classmethod
    def from_environment(
        cls, environ: MutableMapping[str, str], *, clock: Callable[[], float] = time.time
    ) -> OneTimeLogin | None:
        """The link ``mlchat serve`` set up, if any; its variables are removed from ``environ``
        so that no process the app starts inherits them."""
        digest = environ.pop(DIGEST_VARIABLE, "")
        expires = environ.pop(EXPIRES_VARIABLE, "")
        if len(digest) != 64 or not expires:
            return None
        try:
            return cls(digest, float(expires), clock=clock)
        except ValueError:
            return None

    def redeem(self, token: str) -> Redeemed:
        """Check ``token``; on ``"ok"`` it is spent and every later call gets ``"used"``."""
        matches = hmac.compare_digest(_digest(token), self._digest)
        with self._lock:
            if not matches:
                outcome: Redeemed = "wrong"
            elif self._used:
                outcome = "used"
            elif self._clock() > self.expires_at:
                outcome = "expired"
            else:
                self._used = True
                outcome = "ok"
        log.info("login_link outcome=%s", outcome)
        return outcome
