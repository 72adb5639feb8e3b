"""The router: one provider interface over an ordered list of (provider, model) routes.

For each request the router

1. answers from the response cache when the request is deterministic
   (temperature 0) and was answered before by this route's endpoint in this
   conversation (``cache.py``), unless the caller asks for a fresh answer;
2. otherwise lets the limiter (issue 10's rate limits and spend caps; a no-op
   by default) hold the request, then sends it to the route's provider;
3. retries that provider on retryable errors with the one retry policy
   (``retry.py``) — SDK retries are off, so every request is one HTTP request;
4. falls back to the next route when the provider fails for good *before any
   output was streamed*; when all routes fail it raises
   :class:`~assistant.errors.ProvidersExhausted` (a ``UserFacingError``);
5. records every request (and every cache hit) as a row in ``llm_calls``.

Database work (the usage row, cache lookups and stores) is done inline on the
event loop: each is one short statement in WAL mode (a few hundred
microseconds), and handing it to a thread cost more than it saved
(``bench/provider_overhead.py``: +4 ms wall per call on a busy machine).

**Partial output then failure.** Tool calls are passed on only when their
stream ends, so a stream cut after a complete tool call (nothing shown, nothing
run) is retried like any other. Once a text delta has been yielded, the router
neither retries nor falls back (that would duplicate text). It raises
:class:`~assistant.errors.ProviderStreamError` with ``after_output=True`` — chained ``from`` the original error — right after the
deltas already yielded. The agent loop decides what to keep and what to tell
the user.

**Stalls.** ``stall_timeout_s`` bounds the wait for each next delta, for every
provider alike; a stall raises :class:`~assistant.errors.ProviderTimeout`
(retryable). The per-turn deadline is the agent loop's job (it can wrap the
whole turn in ``asyncio.timeout``; cancellation is recorded as ``cancelled``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from assistant.errors import (
    ProviderError,
    ProviderRateLimited,
    ProvidersExhausted,
    ProviderStreamError,
    ProviderTimeout,
)
from assistant.providers.base import (
    ChatSettings,
    Delta,
    Message,
    Provider,
    StreamEnd,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolSpec,
)
from assistant.providers.cache import (
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_ROWS,
    ResponseCache,
    cache_key,
    is_cacheable,
)
from assistant.providers.pricing import estimate_cost_usd
from assistant.providers.retry import RetryPolicy
from assistant.providers.tokens import count_prompt_tokens, count_text_tokens
from assistant.providers.usage import CallContext, CallRecord, Outcome, record_call
from assistant.store import Database

log = logging.getLogger(__name__)

_UNCACHED_PROVIDERS = frozenset({"offline"})
"""Free, instant providers whose answers may depend on more than the messages."""


@dataclass(frozen=True, slots=True)
class Route:
    """One provider and the model to ask it for."""

    provider: Provider
    model: str
    price_per_mtok: tuple[float, float] | None = None
    """USD per million (input, output) tokens, set for priced local servers; ``None``: the
    price table (``pricing.py``)."""


class Limiter(Protocol):
    """The seam for client-side rate limits and spend caps (issue 10).

    ``before_call`` runs before every request goes out (retries included) and
    may wait, or raise to refuse the call (its exception reaches the caller
    unchanged). ``after_call`` sees the outcome of every request, e.g. to
    tighten a bucket after a 429.
    """

    async def before_call(self, provider: str, model: str, *, estimated_input_tokens: int) -> None:
        """Wait until the call may go out, or raise to refuse it."""
        ...

    def after_call(
        self, provider: str, model: str, *, usage: StreamUsage | None, error: ProviderError | None
    ) -> None:
        """Learn from a finished request."""
        ...


Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class Router:
    """A :class:`~assistant.providers.base.Provider` that retries, falls back, caches and records.

    Args:
        routes: Providers in fallback order, each with its model.
        db: Where usage rows and the response cache live; ``None`` records nothing.
        use_cache: Serve and store temperature-0 answers in ``response_cache``.
        cache_rows: Most rows the response cache keeps; ``0`` disables it.
        cache_age_s: Age after which a cached answer is neither served nor kept.
        retry: The retry policy, per route.
        stall_timeout_s: Longest wait for the next delta of a stream; ``None`` for no limit.
        limiter: Rate limits / spend caps hook, see :class:`Limiter`.
        sleep: Awaited for backoff waits (tests pass a recorder).
        clock: Monotonic seconds, for latencies (tests may pass a fake).
    """

    name = "router"

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        db: Database | None = None,
        use_cache: bool = True,
        cache_rows: int = DEFAULT_MAX_ROWS,
        cache_age_s: float = DEFAULT_MAX_AGE_S,
        retry: RetryPolicy | None = None,
        stall_timeout_s: float | None = 120.0,
        limiter: Limiter | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.perf_counter,
    ) -> None:
        if not routes:
            raise ValueError("A router needs at least one route")
        self.routes = tuple(routes)
        self._db = db
        self._cache = (
            ResponseCache(db, max_rows=cache_rows, max_age_s=cache_age_s)
            if db is not None and use_cache
            else None
        )
        self._retry = retry or RetryPolicy()
        self._stall_timeout_s = stall_timeout_s
        self._limiter = limiter
        self._sleep = sleep
        self._clock = clock

    async def aclose(self) -> None:
        """Close every provider's HTTP connections (at shutdown)."""
        for route in self.routes:
            aclose = getattr(route.provider, "aclose", None)
            if aclose is not None:
                await aclose()

    @property
    def primary(self) -> Route:
        """The first route (the one used when nothing fails)."""
        return self.routes[0]

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
        *,
        context: CallContext | None = None,
    ) -> AsyncIterator[Delta]:
        """Stream an answer from the first route that gives one.

        ``settings.model`` is replaced by each route's model; temperature and
        max tokens are kept. ``context`` tags the usage rows (thread and turn).
        Raises :class:`ProvidersExhausted` when every route failed before
        output, or :class:`ProviderStreamError` (``after_output=True``) when a
        stream broke after output.
        """
        context = context or CallContext()
        errors: list[ProviderError] = []
        for route in self.routes:
            route_settings = replace(settings, model=route.model)
            key = None
            if (
                self._cache is not None
                and is_cacheable(route_settings)
                and route.provider.name not in _UNCACHED_PROVIDERS
            ):
                key = cache_key(
                    route.provider.name,
                    route.model,
                    messages,
                    tools,
                    route_settings,
                    endpoint=endpoint_of(route.provider),
                    thread_id=context.thread_id,
                )
                cached = None if context.fresh else self._cache.get(key)
                if cached is not None:
                    self._record_hit(route, context)
                    for delta in cached:
                        yield delta
                    return
            retry_number = 0
            while True:
                state = _Attempt()
                attempt = self._attempt(route, messages, tools, route_settings, context, state)
                try:
                    async for delta in attempt:
                        yield delta
                except ProviderError as error:
                    if state.has_output:
                        raise ProviderStreamError(
                            error.provider,
                            error.model,
                            error.detail or error.reason,
                            after_output=True,
                        ) from error
                    retry_number += 1
                    delay = self._retry.delay_s(retry_number, error)
                    if delay is None:
                        log.info(
                            "llm_route_failed provider=%s model=%s error=%s",
                            route.provider.name,
                            route.model,
                            type(error).__name__,
                        )
                        errors.append(error)
                        break
                    log.info(
                        "llm_retry provider=%s model=%s error=%s retry=%d delay_s=%.3f",
                        route.provider.name,
                        route.model,
                        type(error).__name__,
                        retry_number,
                        delay,
                    )
                    await self._sleep(delay)
                    continue
                finally:
                    await attempt.aclose()  # records the row now, even when our consumer stopped
                end = state.deltas[-1] if state.deltas else None
                if (
                    key is not None
                    and self._cache is not None
                    and isinstance(end, StreamEnd)
                    and end.reason in ("stop", "tool_calls")
                ):
                    self._cache.put(
                        key,
                        route.provider.name,
                        route.model,
                        state.deltas,
                        thread_id=context.thread_id,
                        endpoint=endpoint_of(route.provider),
                    )
                return
        raise ProvidersExhausted(tuple(errors))

    async def _attempt(
        self,
        route: Route,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
        context: CallContext,
        state: _Attempt,
    ) -> AsyncIterator[Delta]:
        """One request to one provider: stall timeout, timing, and its ``llm_calls`` row."""
        provider_name = route.provider.name
        if self._limiter is not None:
            estimate = count_prompt_tokens(messages, tools, model=route.model)
            await self._limiter.before_call(
                provider_name, route.model, estimated_input_tokens=estimate
            )
        started = self._clock()
        outcome: Outcome = "cancelled"
        error: ProviderError | None = None
        iterator = route.provider.stream(messages, tools, settings).__aiter__()
        try:
            while True:
                try:
                    async with asyncio.timeout(self._stall_timeout_s):
                        delta = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError as exc:
                    raise ProviderTimeout(
                        provider_name, route.model, "no data within the stall timeout"
                    ) from exc
                if isinstance(delta, StreamText | StreamToolCall) and state.first_output_at is None:
                    state.first_output_at = self._clock()
                if isinstance(delta, StreamUsage):
                    state.usage = delta
                state.deltas.append(delta)
                if isinstance(delta, StreamToolCall):
                    # Held until the stream ends: nothing has run or been shown yet, so a stream
                    # cut after a complete tool call can still be retried without duplicates.
                    state.held.append(delta)
                    continue
                if isinstance(delta, StreamEnd):
                    for held in state.held:
                        yield held
                    state.held.clear()
                if isinstance(delta, StreamText):
                    state.has_output = True
                yield delta
            if not state.deltas or not isinstance(state.deltas[-1], StreamEnd):
                raise ProviderStreamError(
                    provider_name, route.model, "the stream ended without an end", retryable=True
                )
            outcome = "ok"
        except ProviderError as exc:
            outcome, error = "error", exc
            raise
        finally:
            await _close(iterator)
            if state.usage is None and outcome != "ok":
                # Failed and cancelled requests were still sent (and mostly billed): count them,
                # estimated, so the spend caps see them.
                state.usage = _estimated(messages, tools, route.model, state.deltas)
            self._record(context, self._finish(route, context, state, started, outcome, error))

    def _finish(
        self,
        route: Route,
        context: CallContext,
        state: _Attempt,
        started: float,
        outcome: Outcome,
        error: ProviderError | None,
    ) -> CallRecord:
        """Build (and log) the ``llm_calls`` row of a finished request."""
        ended = self._clock()
        usage = state.usage
        if self._limiter is not None:
            self._limiter.after_call(route.provider.name, route.model, usage=usage, error=error)
        if isinstance(error, ProviderRateLimited):
            log.info(
                "llm_rate_limited provider=%s retry_after_s=%s",
                route.provider.name,
                error.retry_after_s,
            )
        cost = None
        if usage is not None and route.price_per_mtok is not None:
            per_input, per_output = route.price_per_mtok
            cost = (usage.input_tokens * per_input + usage.output_tokens * per_output) / 1e6
        elif usage is not None:
            cost = estimate_cost_usd(
                route.provider.name,
                route.model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cached_tokens=usage.cached_tokens,
                cache_write_tokens=usage.cache_write_tokens,
            )
        record = CallRecord(
            provider=route.provider.name,
            model=route.model,
            outcome=outcome,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cached_tokens=usage.cached_tokens if usage else 0,
            cache_write_tokens=usage.cache_write_tokens if usage else 0,
            tokens_estimated=usage.is_estimate if usage else False,
            cost_usd=cost,
            first_token_ms=(state.first_output_at - started) * 1000
            if state.first_output_at
            else None,
            total_ms=(ended - started) * 1000,
            error_class=type(error).__name__ if error else None,
            thread_id=context.thread_id,
            turn_id=context.turn_id,
            prompt_tokens=context.prompt_tokens,
        )
        log.info(
            "llm_call provider=%s model=%s in_tok=%d out_tok=%d ms=%d outcome=%s error=%s",
            record.provider,
            record.model,
            record.input_tokens,
            record.output_tokens,
            record.total_ms or 0,
            outcome,
            record.error_class,
        )
        return record

    def _record(self, context: CallContext, record: CallRecord) -> None:
        """Store a usage record, or hand it to the caller when it defers them."""
        if context.deferred is not None:
            context.deferred.append(record)
        elif self._db is not None:
            record_call(self._db, record)

    def _record_hit(self, route: Route, context: CallContext) -> None:
        log.info(
            "llm_call provider=%s model=%s outcome=ok cache_hit=1", route.provider.name, route.model
        )
        self._record(
            context,
            CallRecord(
                provider=route.provider.name,
                model=route.model,
                outcome="ok",
                cost_usd=0.0,
                first_token_ms=0.0,
                total_ms=0.0,
                cache_hit=True,
                thread_id=context.thread_id,
                turn_id=context.turn_id,
                prompt_tokens=context.prompt_tokens,
            ),
        )


@dataclass(slots=True)
class _Attempt:
    """What one request produced so far."""

    has_output: bool = False
    """Text was yielded: the request can no longer be retried or fall back."""
    held: list[Delta] = field(default_factory=list)
    """Tool calls received but not yet yielded (they go out with the end of the stream)."""
    first_output_at: float | None = None
    usage: StreamUsage | None = None
    deltas: list[Delta] = field(default_factory=list)


def _estimated(
    messages: Sequence[Message], tools: Sequence[ToolSpec], model: str, deltas: Sequence[Delta]
) -> StreamUsage:
    """Usage counted by us for a request that ended without the provider's count."""
    shown = "".join(d.text for d in deltas if isinstance(d, StreamText))
    return StreamUsage(
        count_prompt_tokens(messages, tools, model=model),
        count_text_tokens(shown, model=model) if shown else 0,
        is_estimate=True,
    )


def endpoint_of(provider: Provider) -> str:
    """The server a provider talks to (its ``endpoint``; empty for in-process providers)."""
    return str(getattr(provider, "endpoint", "") or "")


async def _close(iterator: AsyncIterator[Delta]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except ProviderError as exc:  # the request already ended; its outcome is recorded
            log.debug("llm_stream_close_failed error=%s", type(exc).__name__)
