"""Errors raised by the assistant layer, each addressed to whoever can act on it.

Hierarchy (the first two come from ``tools/errors.py``)::

    MlchatError                     base of every error we raise on purpose
    ├── UserFacingError             shown verbatim to the person
    │   └── ProvidersExhausted      every configured LLM provider failed before answering
    ├── ToolError                   returned to the model as the tool result, so it can retry
    └── ProviderError               read by the router: retry, fall back, or give up
        ├── ProviderRateLimited     429 / quota; carries ``retry_after_s`` when the server said
        ├── ProviderHTTPError       any other HTTP error status; carries ``status``
        ├── ProviderUnavailable     connection refused / reset, DNS, TLS
        ├── ProviderTimeout         no answer (or no next chunk) within the time allowed
        ├── ProviderAuthError       401 / 403: the key is missing, wrong or lacks access
        ├── ProviderStreamError     the stream broke: cut mid-way, malformed tool arguments,
        │                           or any failure after output was already streamed
        └── ProviderUnsupported     the model cannot do what was asked (e.g. no tool calling)

Messages never contain API keys: provider error text is passed through
:func:`redact` before it is kept, and SDK exception text is only reachable as
``__cause__``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tools.errors import MlchatError, UserFacingError

__all__ = [
    "MlchatError",
    "ProviderAuthError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderRateLimited",
    "ProviderStreamError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "ProviderUnsupported",
    "ProvidersExhausted",
    "ToolError",
    "UserFacingError",
    "redact",
]

_KEY_PATTERNS = re.compile(
    r"(sk-[A-Za-z0-9_\-*.]{4,}|AIza[A-Za-z0-9_\-]{10,}|e2b_[0-9a-f]{4,}|"
    r"(?i:bearer)\s+[A-Za-z0-9_\-.=]{8,})"
)
_MAX_DETAIL_CHARS = 300


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets and anything shaped like an API key replaced by ``[redacted]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _KEY_PATTERNS.sub("[redacted]", text)


class ToolError(MlchatError):
    """A tool could not do what the model asked; ``str(exc)`` goes back to the model."""


class ProviderError(MlchatError):
    """An LLM provider failed. The router retries or falls back on these.

    Args:
        provider: Provider name (``openai``, ``anthropic``, ``gemini``, ``offline``).
        model: Model the request was for.
        detail: Extra text from the provider, already redacted; may be empty.
    """

    retryable: bool = False
    """Whether sending the same request to the same provider again may succeed."""

    def __init__(self, provider: str, model: str, detail: str = "") -> None:
        self.provider = provider
        self.model = model
        self.detail = redact(detail)[:_MAX_DETAIL_CHARS]
        super().__init__(self._message())

    @property
    def reason(self) -> str:
        """What went wrong, without naming the provider and model."""
        return f"{self._summary()}: {self.detail}" if self.detail else self._summary()

    def _summary(self) -> str:
        return "failed"

    def _message(self) -> str:
        return f"{self.provider} ({self.model}) {self.reason}"


class ProviderRateLimited(ProviderError):
    """The provider refused the request for rate or quota reasons (HTTP 429)."""

    retryable = True

    def __init__(
        self, provider: str, model: str, *, retry_after_s: float | None = None, detail: str = ""
    ) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(provider, model, detail)

    def _summary(self) -> str:
        wait = f", retry after {self.retry_after_s:g} s" if self.retry_after_s is not None else ""
        return f"is rate limiting requests{wait}"


class ProviderHTTPError(ProviderError):
    """The provider answered with an HTTP error status other than 401/403/429.

    Retryable for 408, 409 and every 5xx (529 "overloaded" included).
    """

    def __init__(
        self,
        provider: str,
        model: str,
        *,
        status: int,
        retry_after_s: float | None = None,
        detail: str = "",
    ) -> None:
        self.status = status
        self.retry_after_s = retry_after_s
        self.retryable = status in (408, 409) or status >= 500
        super().__init__(provider, model, detail)

    def _summary(self) -> str:
        return f"returned HTTP {self.status}"


class ProviderUnavailable(ProviderError):
    """The provider could not be reached (connection refused or reset, DNS, TLS)."""

    retryable = True

    def _summary(self) -> str:
        return "could not be reached"


class ProviderTimeout(ProviderError):
    """The provider did not answer, or stopped sending, within the time allowed."""

    retryable = True

    def _summary(self) -> str:
        return "timed out"


class ProviderAuthError(ProviderError):
    """The API key is missing, wrong or lacks access (HTTP 401/403). Never retried."""

    def _summary(self) -> str:
        return "rejected the API key; check the key set for this provider"


class ProviderStreamError(ProviderError):
    """The response stream broke.

    ``after_output`` is true when text or tool calls were already streamed to the
    caller: the router then neither retries nor falls back (that would duplicate
    output) and the agent loop decides what to tell the user.
    ``retryable`` is true for a cut connection before any output, false for a
    malformed response (such as tool arguments that are not JSON).
    """

    def __init__(
        self,
        provider: str,
        model: str,
        detail: str = "",
        *,
        retryable: bool = False,
        after_output: bool = False,
    ) -> None:
        self.retryable = retryable and not after_output
        self.after_output = after_output
        super().__init__(provider, model, detail)

    def _summary(self) -> str:
        return "broke off its answer" if self.after_output else "sent a broken response"


class ProviderUnsupported(ProviderError):
    """The model cannot do what was asked (for example it has no tool calling)."""

    def _summary(self) -> str:
        return "cannot serve this request"


class ProviderContextExceeded(ProviderError):
    """The prompt does not fit the model's context window (HTTP 400). Never retried as is:
    the agent loop trims the history harder and asks again."""

    def _summary(self) -> str:
        return "cannot take a prompt this long"


class ProvidersExhausted(UserFacingError):
    """Every configured provider failed before producing output.

    ``errors`` holds the last error from each provider tried, in order.
    """

    def __init__(self, errors: tuple[ProviderError, ...]) -> None:
        self.errors = errors
        tried = ", ".join(f"{e.provider} ({e.model})" for e in errors) or "none"
        reasons = "; ".join(str(e) for e in errors)
        super().__init__(
            f"No language model could answer right now (tried {tried}). {reasons}. "
            "Your message was not lost: try again in a minute, or set another provider "
            "with MLCHAT_PROVIDER / MLCHAT_FALLBACKS."
        )
