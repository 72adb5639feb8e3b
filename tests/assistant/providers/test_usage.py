"""Usage rows summarised per conversation, provider/model and day."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.providers.usage import (
    CallRecord,
    format_usage,
    percentile,
    record_call,
    summarise_usage,
)
from assistant.store import Database

DAY1 = datetime(2026, 11, 24, 12, tzinfo=UTC).timestamp()
DAY2 = datetime(2026, 11, 25, 9, tzinfo=UTC).timestamp()


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(tmp_path / "mlchat.db")
    rows = [
        CallRecord(
            "openai",
            "gpt-4o-mini",
            "ok",
            100,
            10,
            cost_usd=0.01,
            total_ms=100,
            thread_id="a",
            created_at=DAY1,
        ),
        CallRecord(
            "openai",
            "gpt-4o-mini",
            "error",
            total_ms=300,
            error_class="ProviderTimeout",
            thread_id="a",
            created_at=DAY1,
        ),
        CallRecord(
            "openai",
            "gpt-4o-mini",
            "ok",
            cost_usd=0.0,
            total_ms=0,
            cache_hit=True,
            thread_id="a",
            created_at=DAY2,
        ),
        CallRecord(
            "anthropic",
            "claude-sonnet-4-5",
            "ok",
            200,
            20,
            50,
            cost_usd=0.02,
            total_ms=200,
            thread_id="b",
            created_at=DAY2,
        ),
        CallRecord(
            "openai",
            "llama3.1",
            "ok",
            40,
            4,
            tokens_estimated=True,
            total_ms=400,
            thread_id="b",
            created_at=DAY2,
        ),
        CallRecord(
            "anthropic",
            "claude-sonnet-4-5",
            "cancelled",
            total_ms=50,
            thread_id="b",
            created_at=DAY2,
        ),
    ]
    for row in rows:
        record_call(database, row)
    return database


def test_totals_equal_the_sums_of_the_rows(db: Database) -> None:
    total = summarise_usage(db).total

    assert (total.calls, total.ok_calls, total.error_calls, total.cancelled_calls) == (6, 4, 1, 1)
    assert (total.input_tokens, total.output_tokens, total.cached_tokens) == (340, 34, 50)
    assert total.cost_usd == pytest.approx(0.03)
    assert (total.cache_hits, total.estimated_calls, total.unpriced_calls) == (1, 1, 1)
    assert total.success_rate == pytest.approx(4 / 6)
    assert total.cache_hit_rate == pytest.approx(1 / 6)
    # latencies of the five calls that reached a provider: 50, 100, 200, 300, 400
    assert (total.p50_ms, total.p95_ms) == (200, 400)


def test_groups_by_thread_model_and_day(db: Database) -> None:
    summary = summarise_usage(db)

    assert [(g.key, g.calls) for g in summary.by_thread] == [("a", 3), ("b", 3)]
    assert [(g.key, g.calls) for g in summary.by_model] == [
        ("anthropic/claude-sonnet-4-5", 2),
        ("openai/gpt-4o-mini", 3),
        ("openai/llama3.1", 1),
    ]
    assert [(g.key, g.calls, g.cost_usd) for g in summary.by_day] == [
        ("2026-11-24", 2, pytest.approx(0.01)),
        ("2026-11-25", 4, pytest.approx(0.02)),
    ]


def test_filters_by_thread_and_since(db: Database) -> None:
    assert summarise_usage(db, thread_id="b").total.calls == 3
    assert summarise_usage(db, since=DAY2).total.calls == 4
    assert summarise_usage(db, thread_id="a", since=DAY2).total.calls == 1


def test_empty_database_summarises_to_zeros(tmp_path: Path) -> None:
    total = summarise_usage(Database(tmp_path / "empty.db")).total

    assert (total.calls, total.success_rate, total.p50_ms, total.p95_ms) == (0, 0.0, None, None)


def test_percentile_is_nearest_rank() -> None:
    assert [percentile([1.0, 2.0, 3.0, 4.0], p) for p in (25, 50, 95, 100)] == [1.0, 2.0, 4.0, 4.0]


def test_format_usage_shows_every_group_with_its_figures(db: Database) -> None:
    text = format_usage(summarise_usage(db))

    lines = text.splitlines()
    assert lines[2].split() == ["all", "6", "67", "340", "34", "50", "0.0300+", "17", "200", "400"]
    assert "  openai/llama3.1" in text and "  2026-11-24" in text and "  a " in text
    assert lines[-1].startswith("cost is an estimate")
