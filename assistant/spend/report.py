"""The usage report: the figures ``mlchat usage`` and the chat's usage view show.

Built from the ``llm_calls`` rows alone: the usage summary of
``assistant/providers/usage.py`` (per conversation, per provider and model,
per UTC day), the spend against each cap, and the anomaly flags.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from assistant.providers.usage import UsageGroup, UsageSummary, summarise_usage
from assistant.settings import SpendSettings
from assistant.spend.anomalies import Anomaly, provider_error_rates, turn_spend_spikes
from assistant.spend.caps import CapStatus, day_spend_usd, thread_spend_usd
from assistant.store import Database


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Usage figures, spend against the caps, and anomalies, for one selection of calls."""

    summary: UsageSummary
    caps: tuple[CapStatus, ...]
    anomalies: tuple[Anomaly, ...]
    thread_id: str | None = None
    since: float | None = None
    """Epoch seconds the selection starts at; ``None`` for all recorded calls."""
    prompt_budget_tokens: int | None = None
    """The per-prompt token budget in force (``MLCHAT_PROMPT_TOKENS``), shown with the turns."""

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON values (groups with their rates)."""
        return {
            "thread_id": self.thread_id,
            "since": self.since,
            "total": _group_dict(self.summary.total),
            "by_thread": [_group_dict(g) for g in self.summary.by_thread],
            "by_model": [_group_dict(g) for g in self.summary.by_model],
            "by_day": [_group_dict(g) for g in self.summary.by_day],
            "by_turn": [_group_dict(g) for g in self.summary.by_turn],
            "prompt_budget_tokens": self.prompt_budget_tokens,
            "caps": [
                {**dataclasses.asdict(c), "fraction": c.fraction, "setting": c.setting}
                for c in self.caps
            ],
            "anomalies": [dataclasses.asdict(a) for a in self.anomalies],
        }


def build_usage_report(
    db: Database,
    spend: SpendSettings,
    *,
    wall_time: float,
    thread_id: str | None = None,
    since: float | None = None,
    prompt_budget_tokens: int | None = None,
) -> UsageReport:
    """Summarise the calls (of ``thread_id``, at or after ``since``) and check caps and anomalies.

    ``wall_time`` (epoch seconds) picks the day whose spend is set against the day cap;
    ``prompt_budget_tokens`` is shown next to the per-turn prompt figures.
    """
    summary = summarise_usage(db, thread_id=thread_id, since=since)
    caps = []
    if spend.cap_day_usd > 0:
        caps.append(CapStatus("day", day_spend_usd(db, wall_time), spend.cap_day_usd))
    if spend.cap_thread_usd > 0 and thread_id is not None:
        caps.append(CapStatus("thread", thread_spend_usd(db, thread_id), spend.cap_thread_usd))
    anomalies = turn_spend_spikes(
        db,
        factor=spend.anomaly_factor,
        min_turns=spend.anomaly_min_turns,
        thread_id=thread_id,
        since=since,
    ) + provider_error_rates(
        db,
        threshold=spend.error_rate_threshold,
        window=spend.error_window,
        min_calls=spend.error_min_calls,
    )
    return UsageReport(summary, tuple(caps), anomalies, thread_id, since, prompt_budget_tokens)


def _group_dict(group: UsageGroup) -> dict[str, Any]:
    return {
        **dataclasses.asdict(group),
        "success_rate": group.success_rate,
        "cache_hit_rate": group.cache_hit_rate,
    }


_COLUMNS = (
    ("calls", 6),
    ("errors", 6),
    ("in tok", 10),
    ("out tok", 9),
    ("cached", 9),
    ("cost $", 10),
    ("cache%", 6),
    ("p50 ms", 7),
    ("p95 ms", 7),
    ("prompt", 7),
)
_KEY_WIDTH = 34


def format_usage_report(report: UsageReport) -> str:
    """The report as plain text: the tables (per turn for one conversation), caps, anomalies.

    The ``prompt`` column is the largest prompt sent (system + history + tool
    results, our count) among the group's calls.
    """
    header = f"{'':<{_KEY_WIDTH}}" + "".join(f" {name:>{width}}" for name, width in _COLUMNS)
    lines = [header.rstrip(), "-" * len(header)]
    sections = (
        ("total", (report.summary.total,)),
        ("per conversation", report.summary.by_thread),
        ("per provider/model", report.summary.by_model),
        ("per day (UTC)", report.summary.by_day),
    )
    for title, groups in sections:
        if title == "total":
            lines.append(_row("total", report.summary.total))
            continue
        lines.append(f"{title}:")
        lines += [_row("  " + group.key, group) for group in groups] or ["  (none)"]
    if report.summary.by_turn:
        budget = report.prompt_budget_tokens
        limit = f", budget {budget:,} tokens (MLCHAT_PROMPT_TOKENS)" if budget else ""
        lines.append(f"per turn (prompt = system + history + tool results sent{limit}):")
        lines += [
            _row(f"  turn {number} ({group.key[:8]})", group)
            for number, group in enumerate(report.summary.by_turn, start=1)
        ]
    lines.append("cost is an estimate; '+' marks groups with calls to models without a known price")
    if report.caps:
        lines.append("")
        lines.append("spend caps:")
        for cap in report.caps:
            where = "today" if cap.scope == "day" else f"conversation {report.thread_id}"
            lines.append(
                f"  {where}: ${cap.spent_usd:.4f} of ${cap.cap_usd:.2f} ({cap.fraction:.0%}; "
                f"{cap.setting})"
            )
    lines.append("")
    lines.append("anomalies:")
    lines += [f"  ! {a.message}" for a in report.anomalies] or ["  none"]
    return "\n".join(lines)


def _row(key: str, group: UsageGroup) -> str:
    if len(key) > _KEY_WIDTH:
        key = key[: _KEY_WIDTH - 1] + "…"
    cost = f"{group.cost_usd:.4f}" + ("+" if group.unpriced_calls else "")
    values = (
        group.calls,
        group.error_calls,
        group.input_tokens,
        group.output_tokens,
        group.cached_tokens,
        cost,
        f"{group.cache_hit_rate * 100:.0f}",
        _ms(group.p50_ms),
        _ms(group.p95_ms),
        "-" if group.max_prompt_tokens is None else group.max_prompt_tokens,
    )
    cells = "".join(
        f" {value:>{width}}" for value, (_, width) in zip(values, _COLUMNS, strict=True)
    )
    return f"{key:<{_KEY_WIDTH}}{cells}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
