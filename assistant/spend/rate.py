"""Client-side rate limits: a requests bucket and a tokens bucket per provider.

One :class:`RateLimiter` serves every conversation of the process. Before a
request goes out, :meth:`RateLimiter.acquire` takes one request and the
prompt's estimated tokens from the provider's buckets; when a bucket is short
it *waits* (through the injected ``sleep``) instead of failing, and reports
the wait first so the chat can say "waiting for the provider's rate limit".
Callers of one provider are served first come, first served.

Buckets refill continuously at ``limit / 60`` per second. The requests bucket
holds ``burst_s`` seconds' worth (at least one request), so a burst is spread
out; the tokens bucket holds a minute's worth, so one large prompt can go.
Output tokens are taken after the call (:meth:`RateLimiter.record_output`),
which may leave the bucket in debt that later callers wait out.

A 429 (:meth:`RateLimiter.tighten`) drains the provider's buckets, honours
the server's ``Retry-After`` for every caller, and multiplies the refill rates
by ``tighten_factor`` (compounding, down to 1/16) until ``tighten_s`` has
passed without another 429.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
_MIN_FACTOR = 1 / 16


@dataclass(frozen=True, slots=True)
class RateWait:
    """A request is held back for ``wait_s`` seconds by ``provider``'s ``limit``."""

    provider: str
    wait_s: float
    limit: str
    """``"requests"``, ``"tokens"`` or ``"retry-after"``."""

    @property
    def message(self) -> str:
        """The line the chat shows while waiting."""
        return f"Waiting for the {self.provider} rate limit ({max(1, round(self.wait_s))} s)..."


class TokenBucket:
    """A bucket of ``capacity`` units refilled at ``rate_per_s``; the level may go negative (debt).

    Args:
        capacity: Most units the bucket holds.
        rate_per_s: Units added per second.
        now: The clock reading the bucket starts full at.
    """

    def __init__(self, capacity: float, rate_per_s: float, *, now: float) -> None:
        if capacity <= 0 or rate_per_s <= 0:
            raise ValueError("A token bucket needs a positive capacity and rate")
        self.capacity = capacity
        self.rate_per_s = rate_per_s
        self.level = capacity
        self._updated = now

    def refill(self, now: float, *, factor: float = 1.0) -> None:
        """Add what ``rate_per_s * factor`` gave since the last refill."""
        elapsed = max(0.0, now - self._updated)
        self.level = min(self.capacity, self.level + elapsed * self.rate_per_s * factor)
        self._updated = now

    def wait_s(self, amount: float, *, factor: float = 1.0) -> float:
        """Seconds until ``amount`` (capped at the capacity) can be taken; 0 when it can now."""
        needed = min(amount, self.capacity) - self.level
        return 0.0 if needed <= 0 else needed / (self.rate_per_s * factor)

    def take(self, amount: float) -> None:
        """Remove ``amount`` units (the level may go below zero)."""
        self.level -= amount

    def drain(self) -> None:
        """Empty the bucket (debt is kept)."""
        self.level = min(self.level, 0.0)


class _ProviderLimits:
    """The buckets and the 429 state of one provider."""

    def __init__(self, requests: TokenBucket | None, tokens: TokenBucket | None) -> None:
        self.requests = requests
        self.tokens = tokens
        self.factor = 1.0
        self.tightened_until = 0.0
        self.not_before = 0.0
        self.lock = asyncio.Lock()

    def buckets(self) -> tuple[TokenBucket, ...]:
        return tuple(b for b in (self.requests, self.tokens) if b is not None)

    def refill(self, now: float) -> None:
        for bucket in self.buckets():
            bucket.refill(now, factor=self.factor)
        if self.factor < 1.0 and now >= self.tightened_until:
            self.factor = 1.0
            log.info("rate_limit_restored")


class RateLimiter:
    """Token buckets per provider, shared by every conversation of the process.

    Args:
        rpm: Requests per minute per provider name; missing or ``0`` means unlimited.
        tpm: Tokens per minute per provider name; missing or ``0`` means unlimited.
        burst_s: Seconds' worth of requests the requests bucket holds.
        tighten_factor: Rate multiplier applied by each 429.
        tighten_s: How long after the last 429 the rates stay tightened.
        clock: Monotonic seconds (tests pass a fake one).
        sleep: Awaited to wait (tests pass one that advances the fake clock).
    """

    def __init__(
        self,
        *,
        rpm: dict[str, int],
        tpm: dict[str, int],
        burst_s: float = 10.0,
        tighten_factor: float = 0.5,
        tighten_s: float = 60.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._rpm = dict(rpm)
        self._tpm = dict(tpm)
        self._burst_s = burst_s
        self._tighten_factor = tighten_factor
        self._tighten_s = tighten_s
        self._clock = clock
        self._sleep = sleep
        self._limits: dict[str, _ProviderLimits] = {}

    def is_limited(self, provider: str) -> bool:
        """Whether ``provider`` has any limit configured."""
        return bool(self._rpm.get(provider) or self._tpm.get(provider))

    def factor(self, provider: str) -> float:
        """The current rate multiplier of ``provider`` (1.0 unless a 429 tightened it)."""
        limits = self._limits.get(provider)
        if limits is None:
            return 1.0
        limits.refill(self._clock())
        return limits.factor

    async def acquire(
        self,
        provider: str,
        *,
        tokens: int = 0,
        on_wait: Callable[[RateWait], None] | None = None,
    ) -> float:
        """Take one request and ``tokens`` from ``provider``'s buckets, waiting as needed.

        ``on_wait`` is told about each wait before it starts. Returns the seconds waited.
        """
        limits = self._limits_for(provider)
        if limits is None:
            return 0.0
        waited = 0.0
        async with limits.lock:
            while True:
                now = self._clock()
                limits.refill(now)
                wait, limit = limits.not_before - now, "retry-after"
                if limits.requests is not None:
                    wait_requests = limits.requests.wait_s(1, factor=limits.factor)
                    if wait_requests > wait:
                        wait, limit = wait_requests, "requests"
                if limits.tokens is not None and tokens > 0:
                    wait_tokens = limits.tokens.wait_s(tokens, factor=limits.factor)
                    if wait_tokens > wait:
                        wait, limit = wait_tokens, "tokens"
                if wait <= 1e-9:
                    break
                event = RateWait(provider, wait, limit)
                log.info("rate_limit_wait provider=%s limit=%s wait_s=%.2f", provider, limit, wait)
                if on_wait is not None:
                    on_wait(event)
                await self._sleep(wait)
                waited += wait
            if limits.requests is not None:
                limits.requests.take(1)
            if limits.tokens is not None:
                limits.tokens.take(min(tokens, limits.tokens.capacity))
        return waited

    def record_output(self, provider: str, tokens: int) -> None:
        """Take ``tokens`` the provider generated from its tokens bucket (no wait)."""
        limits = self._limits_for(provider)
        if limits is not None and limits.tokens is not None and tokens > 0:
            limits.refill(self._clock())
            limits.tokens.take(tokens)

    def tighten(self, provider: str, *, retry_after_s: float | None = None) -> None:
        """React to a 429 from ``provider``: drain, hold off ``retry_after_s``, slow down."""
        limits = self._limits_for(provider, create_unlimited=True)
        assert limits is not None
        now = self._clock()
        limits.refill(now)
        for bucket in limits.buckets():
            bucket.drain()
        limits.factor = max(_MIN_FACTOR, limits.factor * self._tighten_factor)
        limits.tightened_until = now + self._tighten_s
        if retry_after_s is not None:
            limits.not_before = max(limits.not_before, now + retry_after_s)
        log.warning(
            "rate_limit_tightened provider=%s factor=%.3f until_s=%.0f retry_after_s=%s",
            provider,
            limits.factor,
            self._tighten_s,
            retry_after_s,
        )

    def _limits_for(
        self, provider: str, *, create_unlimited: bool = False
    ) -> _ProviderLimits | None:
        limits = self._limits.get(provider)
        if limits is not None:
            return limits
        if not self.is_limited(provider) and not create_unlimited:
            return None
        now = self._clock()
        rpm, tpm = self._rpm.get(provider) or 0, self._tpm.get(provider) or 0
        requests = (
            TokenBucket(max(1.0, rpm * self._burst_s / 60), rpm / 60, now=now) if rpm else None
        )
        tokens = TokenBucket(float(tpm), tpm / 60, now=now) if tpm else None
        limits = self._limits[provider] = _ProviderLimits(requests, tokens)
        return limits
