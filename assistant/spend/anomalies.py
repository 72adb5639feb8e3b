"""Anomaly flags: a turn far above its conversation's usual cost, a provider failing often.

Both are computed from the ``llm_calls`` rows, so ``mlchat usage`` and the
chat's usage view show the same flags the running process logged:

- **turn spend spike**: a turn whose spend is more than ``factor`` times the
  median of the same conversation's earlier turns (once it has at least
  ``min_turns`` of them). Spend is the estimated cost; in a conversation
  with no priced calls (a local model) it is input plus output tokens.
- **provider error rate**: among a provider's last ``window`` calls that
  reached it (cache hits excluded), the share that ended in an error is at
  least ``threshold`` (and there are at least ``min_calls`` of them).

:class:`ErrorRateMonitor` keeps the same window in memory so a failing
provider is logged as it happens, once per episode.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from assistant.store import Database

log = logging.getLogger(__name__)

AnomalyKind = Literal["turn_spend_spike", "provider_error_rate"]


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something about usage worth a look."""

    kind: AnomalyKind
    subject: str
    """The conversation id (spend spike) or the provider name (error rate)."""
    value: float
    """The turn's spend, or the error rate."""
    baseline: float
    """The running median it was compared with, or the threshold."""
    message: str
    turn_id: str | None = None
    unit: Literal["usd", "tokens", "share"] = "usd"


def turn_spend_spikes(
    db: Database,
    *,
    factor: float,
    min_turns: int,
    thread_id: str | None = None,
    since: float | None = None,
) -> tuple[Anomaly, ...]:
    """Every turn (optionally of one conversation, started at or after ``since``) that spiked."""
    clauses, params = ["thread_id IS NOT NULL", "turn_id IS NOT NULL"], []
    if thread_id is not None:
        clauses.append("thread_id = ?")
        params.append(thread_id)
    rows = db.query(
        "SELECT thread_id, turn_id, MIN(id) AS first_id, MIN(created_at) AS started,"
        " SUM(COALESCE(cost_usd, 0)) AS cost, SUM(CASE WHEN cost_usd > 0 THEN 1 ELSE 0 END) AS priced,"
        " SUM(input_tokens + output_tokens) AS tokens"
        f" FROM llm_calls WHERE {' AND '.join(clauses)}"
        " GROUP BY thread_id, turn_id ORDER BY thread_id, first_id",
        tuple(params),
    )
    by_thread: dict[str, list[dict]] = {}
    for row in rows:
        by_thread.setdefault(row["thread_id"], []).append(dict(row))
    found: list[Anomaly] = []
    for thread, turns in by_thread.items():
        found += _spikes(thread, turns, factor=factor, min_turns=min_turns, since=since)
    return tuple(found)


def _spikes(
    thread: str, turns: list[dict], *, factor: float, min_turns: int, since: float | None
) -> Iterable[Anomaly]:
    use_tokens = not any(turn["priced"] for turn in turns)
    unit: Literal["usd", "tokens"] = "tokens" if use_tokens else "usd"
    spends = [float(turn["tokens"] if use_tokens else turn["cost"]) for turn in turns]
    for index in range(max(1, min_turns), len(turns)):
        median = statistics.median(spends[:index])
        spend = spends[index]
        if median <= 0 or spend <= factor * median:
            continue
        if since is not None and turns[index]["started"] < since:
            continue
        shown = f"{spend:,.0f} tokens" if use_tokens else f"${spend:.4f}"
        usual = f"{median:,.0f} tokens" if use_tokens else f"${median:.4f}"
        yield Anomaly(
            "turn_spend_spike",
            thread,
            spend,
            median,
            f"Turn {turns[index]['turn_id']} of conversation {thread} cost {shown}, "
            f"{spend / median:.1f}x its usual {usual} per turn (flagged above {factor:g}x).",
            turn_id=turns[index]["turn_id"],
            unit=unit,
        )


def provider_error_rates(
    db: Database, *, threshold: float, window: int, min_calls: int
) -> tuple[Anomaly, ...]:
    """Providers whose last ``window`` calls failed at a rate of at least ``threshold``."""
    providers = [r[0] for r in db.query("SELECT DISTINCT provider FROM llm_calls ORDER BY 1")]
    found = []
    for provider in providers:
        outcomes = [
            r[0]
            for r in db.query(
                "SELECT outcome FROM llm_calls WHERE provider = ? AND cache_hit = 0"
                " ORDER BY id DESC LIMIT ?",
                (provider, window),
            )
        ]
        anomaly = _error_rate(provider, [o == "error" for o in outcomes], threshold, min_calls)
        if anomaly is not None:
            found.append(anomaly)
    return tuple(found)


def _error_rate(
    provider: str, failures: list[bool], threshold: float, min_calls: int
) -> Anomaly | None:
    if len(failures) < max(1, min_calls):
        return None
    rate = sum(failures) / len(failures)
    if rate < threshold:
        return None
    return Anomaly(
        "provider_error_rate",
        provider,
        rate,
        threshold,
        f"{provider} failed {sum(failures)} of its last {len(failures)} calls ({rate:.0%}, "
        f"flagged at {threshold:.0%}; MLCHAT_ERROR_RATE_THRESHOLD).",
        unit="share",
    )


class ErrorRateMonitor:
    """The error rate of each provider's last ``window`` calls, kept in memory.

    :meth:`record` returns (and logs) an :class:`Anomaly` when a provider
    crosses ``threshold``; it is not reported again until the rate has dropped
    below the threshold.
    """

    def __init__(self, *, threshold: float, window: int, min_calls: int) -> None:
        self._threshold = threshold
        self._min_calls = min_calls
        self._window = window
        self._failures: dict[str, deque[bool]] = {}
        self._flagged: set[str] = set()

    def record(self, provider: str, *, failed: bool) -> Anomaly | None:
        """Add one finished call of ``provider``."""
        failures = self._failures.setdefault(provider, deque(maxlen=self._window))
        failures.append(failed)
        anomaly = _error_rate(provider, list(failures), self._threshold, self._min_calls)
        if anomaly is None:
            self._flagged.discard(provider)
            return None
        if provider in self._flagged:
            return None
        self._flagged.add(provider)
        log.warning(
            "anomaly kind=provider_error_rate provider=%s rate=%.2f threshold=%.2f window=%d",
            provider,
            anomaly.value,
            self._threshold,
            len(failures),
        )
        return anomaly

    def flagged(self) -> frozenset[str]:
        """Providers currently above the threshold."""
        return frozenset(self._flagged)
