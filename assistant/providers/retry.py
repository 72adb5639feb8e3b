"""The one retry policy for LLM requests: exponential backoff with full jitter.

Retries happen here and nowhere else: every SDK is built with its own retries
off (``max_retries=0`` for openai and anthropic, a single attempt for
google-genai), so one failed request is exactly one HTTP request, and a 429
followed by a success is exactly two.

The wait before retry ``n`` (1-based) is a uniform draw from
``[0, min(max_delay_s, base_delay_s * 2 ** (n - 1))]`` ("full jitter", which
spreads clients apart best). When the provider says how long to wait
(``Retry-After`` / ``retry-after-ms``) that wait is used instead, unless it
is longer than ``max_retry_after_s``: then retrying this provider is pointless
and the router falls back to the next one at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from assistant.errors import ProviderError, ProviderHTTPError, ProviderRateLimited


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry one provider before falling back."""

    max_attempts: int = 3
    """Requests per provider for one call, the first included (1 = no retries)."""
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 30.0
    """A longer ``Retry-After`` than this sends the request to the next provider instead."""
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay_s(self, retry_number: int, error: ProviderError) -> float | None:
        """Seconds to wait before retry ``retry_number`` (1-based) after ``error``, or ``None`` to stop.

        ``None`` when the error is not retryable, the attempts are used up, or the
        server asked for a wait longer than ``max_retry_after_s``.
        """
        if not error.retryable or retry_number >= self.max_attempts:
            return None
        retry_after = _retry_after_s(error)
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after_s else None
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (retry_number - 1))
        return self.rng.uniform(0.0, ceiling)


def _retry_after_s(error: ProviderError) -> float | None:
    if isinstance(error, ProviderRateLimited | ProviderHTTPError):
        return error.retry_after_s
    return None


def parse_retry_after(headers: object) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (number or HTTP date) in ``headers``.

    ``headers`` is any mapping with a ``get`` method (httpx, aiohttp, dict).
    """
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            pass
    value = get("retry-after")
    if value:
        import email.utils
        import time

        parsed = email.utils.parsedate_tz(value)
        if parsed is not None:
            return max(0.0, email.utils.mktime_tz(parsed) - time.time())
    return None
