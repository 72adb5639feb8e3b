"""Recording every LLM call in ``llm_calls`` and summarising the rows.

One row per request sent to a provider (a retried request is two rows) and one
per cache hit, so request counts, error rates and spend can all be read back
from the table. Rows hold raw token counts next to the cost estimate, so cost
can be recomputed when prices change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from assistant.database import Connection
from assistant.store import Database, now

Outcome = Literal["ok", "error", "cancelled"]


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who a call is for; the agent loop passes one per turn so rows can be grouped."""

    thread_id: str | None = None
    turn_id: str | None = None
    deferred: list[CallRecord] | None = field(default=None, compare=False)
    """When set, the router appends usage records here instead of writing them, so the
    caller can store them in the same transaction as the message they paid for."""
    prompt_tokens: int | None = None
    """Our count of the prompt the agent sends (system, history, tool results; no tool specs)."""
    fresh: bool = False
    """Skip the response cache lookup (a "regenerate"); the new answer replaces the cached one."""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One LLM call as stored in ``llm_calls``."""

    provider: str
    model: str
    outcome: Outcome
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    tokens_estimated: bool = False
    cost_usd: float | None = None
    first_token_ms: float | None = None
    total_ms: float | None = None
    error_class: str | None = None
    cache_hit: bool = False
    thread_id: str | None = None
    turn_id: str | None = None
    created_at: float | None = None
    """Seconds since the epoch; ``None`` means now."""
    prompt_tokens: int | None = None
    """Our count of the prompt sent (see :attr:`CallContext.prompt_tokens`); ``None`` if not counted."""


def record_call(db: Database, record: CallRecord) -> int:
    """Insert one row into ``llm_calls`` and return its id (a short synchronous write)."""
    with db.transaction() as conn:
        return insert_call(conn, record)


def insert_call(conn: Connection, record: CallRecord) -> int:
    """Insert one row into ``llm_calls`` inside the caller's transaction; return its id."""
    cursor = conn.execute(
        "INSERT INTO llm_calls (thread_id, turn_id, provider, model, input_tokens,"
        " output_tokens, cached_tokens, tokens_estimated, cost_usd, first_token_ms,"
        " total_ms, outcome, error_class, cache_hit, created_at, prompt_tokens,"
        " cache_write_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " RETURNING id",
        (
            record.thread_id,
            record.turn_id,
            record.provider,
            record.model,
            record.input_tokens,
            record.output_tokens,
            record.cached_tokens,
            int(record.tokens_estimated),
            record.cost_usd,
            record.first_token_ms,
            record.total_ms,
            record.outcome,
            record.error_class,
            int(record.cache_hit),
            record.created_at if record.created_at is not None else now(),
            record.prompt_tokens,
            record.cache_write_tokens,
        ),
    )
    return int(cursor.scalar())


@dataclass(frozen=True, slots=True)
class UsageGroup:
    """Totals for one group of calls (a conversation, a provider and model, or a day)."""

    key: str
    calls: int
    ok_calls: int
    error_calls: int
    cancelled_calls: int
    cache_hits: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    estimated_calls: int
    """Calls whose token counts were estimated by us rather than reported."""
    cost_usd: float
    unpriced_calls: int
    """Calls with tokens but no known price (local models); not in ``cost_usd``."""
    p50_ms: float | None
    p95_ms: float | None
    """Total latency percentiles over calls that reached a provider (cache hits excluded)."""
    max_prompt_tokens: int | None = None
    """The largest prompt sent (system + history + tool results, our count); ``None`` if none counted."""

    @property
    def success_rate(self) -> float:
        """Share of calls that ended ``ok`` (0 when there were none)."""
        return self.ok_calls / self.calls if self.calls else 0.0

    @property
    def cache_hit_rate(self) -> float:
        """Share of calls answered from the response cache."""
        return self.cache_hits / self.calls if self.calls else 0.0


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """Usage overall and grouped three ways, each group list sorted by key."""

    total: UsageGroup
    by_thread: tuple[UsageGroup, ...]
    by_model: tuple[UsageGroup, ...]
    """Keyed ``provider/model``."""
    by_day: tuple[UsageGroup, ...]
    """Keyed by UTC date, ``YYYY-MM-DD``."""
    by_turn: tuple[UsageGroup, ...] = ()
    """Keyed by turn id, in the order the turns started; only for one conversation."""


def summarise_usage(
    db: Database, *, thread_id: str | None = None, since: float | None = None
) -> UsageSummary:
    """Summarise ``llm_calls``, optionally for one conversation and/or calls at or after ``since``."""
    clauses, params = [], []
    if thread_id is not None:
        clauses.append("thread_id = ?")
        params.append(thread_id)
    if since is not None:
        clauses.append("created_at >= ?")
        params.append(since)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = [
        dict(row) for row in db.query(f"SELECT * FROM llm_calls{where} ORDER BY id", tuple(params))
    ]

    def grouped(key_of: str) -> tuple[UsageGroup, ...]:
        groups: dict[str, list[dict]] = {}
        for row in rows:
            groups.setdefault(_key(row, key_of), []).append(row)
        return tuple(_group(key, members) for key, members in sorted(groups.items()))

    by_turn: dict[str, list[dict]] = {}
    if thread_id is not None:
        for row in rows:  # ordered by id, so turns come in the order they started
            by_turn.setdefault(row["turn_id"] or "-", []).append(row)
    return UsageSummary(
        total=_group("all", rows),
        by_thread=grouped("thread"),
        by_model=grouped("model"),
        by_day=grouped("day"),
        by_turn=tuple(_group(key, members) for key, members in by_turn.items()),
    )


def _key(row: dict, key_of: str) -> str:
    if key_of == "thread":
        return row["thread_id"] or "-"
    if key_of == "model":
        return f"{row['provider']}/{row['model']}"
    return datetime.fromtimestamp(row["created_at"], tz=UTC).date().isoformat()


def _group(key: str, rows: list[dict]) -> UsageGroup:
    latencies = sorted(
        r["total_ms"] for r in rows if r["total_ms"] is not None and not r["cache_hit"]
    )
    prompts = [r["prompt_tokens"] for r in rows if r.get("prompt_tokens") is not None]
    return UsageGroup(
        key=key,
        calls=len(rows),
        ok_calls=_count(rows, "ok"),
        error_calls=_count(rows, "error"),
        cancelled_calls=_count(rows, "cancelled"),
        cache_hits=sum(1 for r in rows if r["cache_hit"]),
        input_tokens=sum(r["input_tokens"] for r in rows),
        output_tokens=sum(r["output_tokens"] for r in rows),
        cached_tokens=sum(r["cached_tokens"] for r in rows),
        estimated_calls=sum(1 for r in rows if r["tokens_estimated"]),
        cost_usd=sum(r["cost_usd"] or 0.0 for r in rows),
        unpriced_calls=sum(
            1 for r in rows if r["cost_usd"] is None and (r["input_tokens"] or r["output_tokens"])
        ),
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        max_prompt_tokens=max(prompts) if prompts else None,
    )


def _count(rows: Iterable[dict], outcome: str) -> int:
    return sum(1 for r in rows if r["outcome"] == outcome)


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of already sorted values (``None`` for no values)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def format_usage(summary: UsageSummary) -> str:
    """A plain-text table of ``summary`` for ``mlchat usage`` and the chat's usage view."""
    header = (
        f"{'group':<36} {'calls':>5} {'ok%':>5} {'in tok':>9} {'out tok':>8} {'cached':>8} "
        f"{'cost $':>9} {'cache%':>6} {'p50 ms':>7} {'p95 ms':>7}"
    )
    lines = [header, "-" * len(header)]
    sections = (
        ("total", (summary.total,)),
        ("per conversation", summary.by_thread),
        ("per provider/model", summary.by_model),
        ("per day (UTC)", summary.by_day),
    )
    for title, groups in sections:
        if title != "total":
            lines.append(f"{title}:")
        for group in groups:
            key = group.key if len(group.key) <= 34 else group.key[:33] + "…"
            cost = f"{group.cost_usd:.4f}" + ("+" if group.unpriced_calls else "")
            lines.append(
                f"{'  ' + key if title != 'total' else key:<36} {group.calls:>5} "
                f"{group.success_rate * 100:>5.0f} {group.input_tokens:>9} {group.output_tokens:>8} "
                f"{group.cached_tokens:>8} {cost:>9} {group.cache_hit_rate * 100:>6.0f} "
                f"{_ms(group.p50_ms):>7} {_ms(group.p95_ms):>7}"
            )
    lines.append("cost is an estimate; '+' marks groups with calls to models without a known price")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
