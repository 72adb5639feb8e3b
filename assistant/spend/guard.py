"""The spend guard: rate limits, spend caps and anomaly flags behind the router's ``Limiter``.

One :class:`SpendGuard` per process, handed to ``build_router(..., limiter=guard)``.
Before each request (:meth:`SpendGuard.before_call`) it

1. lets the free offline provider through untouched;
2. refuses the call with :class:`~assistant.spend.caps.SpendCapReached` when the
   conversation's or the day's estimated spend has reached its cap (nothing
   is sent, so nothing is billed), and queues a one-time warning at
   ``warn_fraction`` of a cap;
3. waits for the provider's rate limit, telling the conversation
   ("Waiting for the openai rate limit (4 s)...").

After each request (:meth:`SpendGuard.after_call`) it tightens the provider's
rate after a 429, charges output tokens to the tokens bucket and tracks the
provider's error rate. At the end of a turn the agent calls
:meth:`SpendGuard.finish_turn` for the notices to show: pending cap warnings,
a turn-spend anomaly check (logged) and the one-line cost of the turn.

The conversation comes from the router's ``context`` when it passes one, else
from :func:`~assistant.spend.scope.spend_scope`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from assistant.errors import ProviderError, ProviderRateLimited
from assistant.events import Notice
from assistant.providers.base import StreamUsage
from assistant.providers.usage import CallContext
from assistant.settings import SpendSettings
from assistant.spend.anomalies import Anomaly, ErrorRateMonitor, turn_spend_spikes
from assistant.spend.caps import CapScope, CapStatus, SpendCapReached, SpendLedger
from assistant.spend.rate import Clock, RateLimiter, RateWait, Sleep
from assistant.spend.scope import current_scope
from assistant.store import Database

log = logging.getLogger(__name__)

FREE_PROVIDERS = frozenset({"offline"})
"""Providers that are never rate limited, capped or counted."""

_MIN_ANNOUNCED_WAIT_S = 0.5


class SpendGuard:
    """Rate limits, spend caps and anomaly flags for every LLM call of the process.

    Implements :class:`~assistant.providers.router.Limiter`.

    Args:
        settings: Limits, caps and thresholds.
        db: The database whose ``llm_calls`` rows hold the spend; ``None`` disables caps.
        clock: Monotonic seconds for the rate limits (tests pass a fake).
        sleep: Awaited to wait for a rate limit (tests pass one that advances ``clock``).
        wall_clock: Epoch seconds, to find the current UTC day.
        on_wait: Also told about every rate-limit wait (any conversation), e.g. for metrics.
    """

    def __init__(
        self,
        settings: SpendSettings,
        *,
        db: Database | None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
        on_wait: Callable[[RateWait], None] | None = None,
    ) -> None:
        self.settings = settings
        self._db = db
        self._ledger = SpendLedger(db) if db is not None else None
        self._wall_clock = wall_clock
        self._on_wait = on_wait
        self.rates = RateLimiter(
            rpm=settings.rpm,
            tpm=settings.tpm,
            burst_s=settings.burst_s,
            tighten_factor=settings.tighten_factor,
            tighten_s=settings.tighten_s,
            clock=clock,
            sleep=sleep,
        )
        self.errors = ErrorRateMonitor(
            threshold=settings.error_rate_threshold,
            window=settings.error_window,
            min_calls=settings.error_min_calls,
        )
        self._warned: set[tuple[CapScope, str]] = set()
        self._pending: dict[str | None, list[Notice]] = {}
        self._anomalies: list[Anomaly] = []

    # -- the Limiter protocol --------------------------------------------------------
    async def before_call(
        self,
        provider: str,
        model: str,
        *,
        estimated_input_tokens: int,
        context: CallContext | None = None,
    ) -> None:
        """Refuse the call at a spend cap, or wait for the provider's rate limit."""
        if provider in FREE_PROVIDERS:
            return
        self.check_caps(self._thread_of(context))
        await self.rates.acquire(provider, tokens=estimated_input_tokens, on_wait=self._announce)

    def after_call(
        self,
        provider: str,
        model: str,
        *,
        usage: StreamUsage | None,
        error: ProviderError | None,
        context: CallContext | None = None,
    ) -> None:
        """Tighten after a 429, charge output tokens, track the error rate."""
        if provider in FREE_PROVIDERS:
            return
        if isinstance(error, ProviderRateLimited):
            self.rates.tighten(provider, retry_after_s=error.retry_after_s)
        if usage is not None:
            self.rates.record_output(provider, usage.output_tokens)
        anomaly = self.errors.record(provider, failed=error is not None)
        if anomaly is not None:
            self._anomalies.append(anomaly)

    # -- caps --------------------------------------------------------------------------
    def cap_status(self, thread_id: str | None) -> tuple[CapStatus, ...]:
        """How much of each configured cap is used (the conversation's only with a thread id)."""
        if self._ledger is None:
            return ()
        statuses = []
        if self.settings.cap_thread_usd > 0 and thread_id is not None:
            spent = self._ledger.thread_usd(thread_id)
            statuses.append(CapStatus("thread", spent, self.settings.cap_thread_usd))
        if self.settings.cap_day_usd > 0:
            spent = self._ledger.day_usd(self._wall_clock())
            statuses.append(CapStatus("day", spent, self.settings.cap_day_usd))
        return tuple(statuses)

    def check_caps(self, thread_id: str | None) -> None:
        """Raise :class:`SpendCapReached` at a cap; queue the one-time warning near one."""
        for status in self.cap_status(thread_id):
            if status.cap_usd > 0 and status.spent_usd >= status.cap_usd:
                log.warning(
                    "spend_cap_reached scope=%s spent_usd=%.4f cap_usd=%.2f",
                    status.scope,
                    status.spent_usd,
                    status.cap_usd,
                )
                raise SpendCapReached(
                    status.scope, spent_usd=status.spent_usd, cap_usd=status.cap_usd
                )
        self._warn_near_caps(thread_id)

    def _warn_near_caps(self, thread_id: str | None) -> None:
        for status in self.cap_status(thread_id):
            if not self.settings.warn_fraction <= status.fraction < 1.0:
                continue  # far from the cap, or at it (then the refusal says so)
            key = (status.scope, (thread_id or "-") if status.scope == "thread" else self._today())
            if key in self._warned:
                continue
            self._warned.add(key)
            log.info(
                "spend_cap_warning scope=%s spent_usd=%.4f cap_usd=%.2f",
                status.scope,
                status.spent_usd,
                status.cap_usd,
            )
            self._notify(thread_id, Notice(status.warning(), level="warning"))

    def queue_notice(self, thread_id: str | None, notice: Notice) -> None:
        """Keep ``notice`` for :meth:`finish_turn` / :meth:`take_notices` of ``thread_id``."""
        self._pending.setdefault(thread_id, []).append(notice)

    def take_notices(self, thread_id: str | None) -> tuple[Notice, ...]:
        """Notices queued for ``thread_id`` while no scope could deliver them (emptied)."""
        return tuple(self._pending.pop(thread_id, ()))

    # -- end of a turn -----------------------------------------------------------------
    def finish_turn(self, thread_id: str, turn_id: str) -> tuple[Notice, ...]:
        """The notices to show after turn ``turn_id``: cap warnings, then the cost line.

        Also checks the turn for a spend spike (logged and kept in :meth:`anomalies`).
        """
        self._warn_near_caps(thread_id)
        notices = list(self.take_notices(thread_id))
        if self._db is None:
            return tuple(notices)
        for anomaly in turn_spend_spikes(
            self._db,
            factor=self.settings.anomaly_factor,
            min_turns=self.settings.anomaly_min_turns,
            thread_id=thread_id,
        ):
            if anomaly.turn_id == turn_id:
                log.warning(
                    "anomaly kind=turn_spend_spike thread=%s turn=%s value=%.6f median=%.6f",
                    thread_id,
                    turn_id,
                    anomaly.value,
                    anomaly.baseline,
                )
                self._anomalies.append(anomaly)
        line = self.cost_line(thread_id, turn_id)
        if line is not None:
            notices.append(Notice(line))
        return tuple(notices)

    def cost_line(self, thread_id: str, turn_id: str) -> str | None:
        """One line with the turn's estimated cost, or ``None`` (turned off, or nothing paid)."""
        if not self.settings.cost_line or self._db is None:
            return None
        row = self._db.query(
            "SELECT COUNT(*) AS calls, COALESCE(SUM(cost_usd), 0) AS cost,"
            " SUM(input_tokens) AS input, SUM(output_tokens) AS output,"
            " SUM(cached_tokens) AS cached FROM llm_calls"
            " WHERE thread_id = ? AND turn_id = ? AND provider NOT IN ('offline')",
            (thread_id, turn_id),
        )[0]
        if not row["calls"] or row["cost"] <= 0:
            return None
        assert self._ledger is not None
        thread_total = self._ledger.thread_usd(thread_id)
        day_total = self._ledger.day_usd(self._wall_clock())
        cached = f", {row['cached']:,} cached" if row["cached"] else ""
        calls = "1 call" if row["calls"] == 1 else f"{row['calls']} calls"
        return (
            f"This turn: {format_usd(row['cost'])} ({calls}, {row['input']:,} tokens in / "
            f"{row['output']:,} out{cached}). Conversation {format_usd(thread_total)}, "
            f"today {format_usd(day_total)}."
        )

    def anomalies(self) -> tuple[Anomaly, ...]:
        """Anomalies flagged by this process so far, oldest first."""
        return tuple(self._anomalies)

    # -- helpers -----------------------------------------------------------------------
    def _thread_of(self, context: CallContext | None) -> str | None:
        if context is not None and context.thread_id is not None:
            return context.thread_id
        scope = current_scope()
        return scope.thread_id if scope is not None else None

    def _announce(self, wait: RateWait) -> None:
        if self._on_wait is not None:
            self._on_wait(wait)
        scope = current_scope()
        if scope is not None and scope.emit is not None and wait.wait_s >= _MIN_ANNOUNCED_WAIT_S:
            scope.emit(Notice(wait.message))

    def _notify(self, thread_id: str | None, notice: Notice) -> None:
        scope = current_scope()
        if scope is not None and scope.emit is not None and scope.thread_id == thread_id:
            scope.emit(notice)
        else:
            self._pending.setdefault(thread_id, []).append(notice)

    def _today(self) -> str:
        return datetime.fromtimestamp(self._wall_clock(), tz=UTC).date().isoformat()


def format_usd(amount: float) -> str:
    """An estimated dollar amount: ``≈ $0.0123``, or ``< $0.0001`` for less."""
    return "< $0.0001" if 0 < amount < 0.0001 else f"≈ ${amount:.4f}"
