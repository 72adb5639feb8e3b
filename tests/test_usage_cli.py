"""``mlchat usage``: the figures it prints are the sums of the recorded ``llm_calls`` rows."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.cli.usage import add_usage
from assistant.providers.usage import CallRecord, percentile, record_call
from assistant.store import Database

ROOT = Path(__file__).resolve().parent.parent
NOW = time.time()
OLD = NOW - 5 * 86_400

ROWS = [
    CallRecord("openai", "gpt-4o-mini", "ok", 1200, 80, 1024, cost_usd=0.0004, total_ms=420,
               thread_id="alpha", turn_id="a1", created_at=NOW, prompt_tokens=1150),
    CallRecord("openai", "gpt-4o-mini", "error", total_ms=95, error_class="ProviderRateLimited",
               thread_id="alpha", turn_id="a1", created_at=NOW, prompt_tokens=1150),
    CallRecord("openai", "gpt-4o-mini", "ok", 1500, 60, cost_usd=0.0003, total_ms=610,
               thread_id="alpha", turn_id="a2", created_at=NOW, prompt_tokens=1420),
    CallRecord("openai", "gpt-4o-mini", "ok", cost_usd=0.0, first_token_ms=0, total_ms=0,
               cache_hit=True, thread_id="alpha", turn_id="a3", created_at=NOW, prompt_tokens=1500),
    CallRecord("anthropic", "claude-sonnet-4-6", "ok", 3000, 400, cost_usd=0.015, total_ms=1900,
               thread_id="beta", turn_id="b1", created_at=OLD, prompt_tokens=2900),
    CallRecord("openai", "llama3.1", "ok", 700, 90, tokens_estimated=True, total_ms=2500,
               thread_id="beta", turn_id="b2", created_at=NOW),
    CallRecord("offline", "rules", "ok", cost_usd=0.0, total_ms=3, thread_id="gamma",
               turn_id="g1", created_at=NOW),
]  # fmt: skip


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    db = Database(folder / "mlchat.db")
    for row in ROWS:
        record_call(db, row)
    db.close()
    return folder


def usage(data_dir: Path, *argv: str, **env: str) -> str:
    parser = argparse.ArgumentParser(prog="mlchat")
    add_usage(parser.add_subparsers())
    args = parser.parse_args(["usage", *argv])
    out = io.StringIO()
    assert args.handler(args, out=out, environ={"MLCHAT_DATA_DIR": str(data_dir), **env}) == 0
    return out.getvalue()


def totals(rows: list[CallRecord]) -> dict[str, object]:
    latencies = sorted(r.total_ms for r in rows if r.total_ms is not None and not r.cache_hit)
    return {
        "calls": len(rows),
        "error_calls": sum(r.outcome == "error" for r in rows),
        "cache_hits": sum(r.cache_hit for r in rows),
        "input_tokens": sum(r.input_tokens for r in rows),
        "output_tokens": sum(r.output_tokens for r in rows),
        "cached_tokens": sum(r.cached_tokens for r in rows),
        "cost_usd": pytest.approx(sum(r.cost_usd or 0.0 for r in rows)),
        "unpriced_calls": sum(r.cost_usd is None and r.input_tokens > 0 for r in rows),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
    }


def picked(group: dict[str, object]) -> dict[str, object]:
    return {key: group[key] for key in totals([])}


def test_json_figures_equal_the_sums_of_the_rows(data_dir: Path) -> None:
    report = json.loads(usage(data_dir, "--json"))

    assert picked(report["total"]) == totals(ROWS)
    assert report["total"]["cache_hit_rate"] == pytest.approx(1 / 7)
    by_thread = {g["key"]: picked(g) for g in report["by_thread"]}
    assert by_thread == {
        thread: totals([r for r in ROWS if r.thread_id == thread])
        for thread in ("alpha", "beta", "gamma")
    }
    by_model = {g["key"]: picked(g) for g in report["by_model"]}
    assert by_model == {
        f"{p}/{m}": totals([r for r in ROWS if (r.provider, r.model) == (p, m)])
        for p, m in {(r.provider, r.model) for r in ROWS}
    }
    assert sum(g["calls"] for g in report["by_day"]) == len(ROWS)
    assert [c["scope"] for c in report["caps"]] == ["day"]
    assert report["caps"][0]["spent_usd"] == pytest.approx(0.0007)  # today's rows only


def test_days_keeps_only_recent_calls(data_dir: Path) -> None:
    report = json.loads(usage(data_dir, "--json", "--days", "2"))

    assert picked(report["total"]) == totals([r for r in ROWS if r.created_at == NOW])
    assert "beta" in {g["key"] for g in report["by_thread"]}  # its llama call was today


def test_thread_shows_that_conversation_and_its_cap(data_dir: Path) -> None:
    report = json.loads(
        usage(data_dir, "--json", "--thread", "alpha", MLCHAT_SPEND_CAP_THREAD_USD="0.001")
    )

    assert picked(report["total"]) == totals([r for r in ROWS if r.thread_id == "alpha"])
    thread_cap = next(c for c in report["caps"] if c["scope"] == "thread")
    assert thread_cap["fraction"] == pytest.approx(0.7)
    assert thread_cap["setting"] == "MLCHAT_SPEND_CAP_THREAD_USD"


def test_text_report_lists_groups_caps_and_anomalies(data_dir: Path) -> None:
    db = Database(data_dir / "mlchat.db")
    for _ in range(5):  # a failing provider: 5 errors in a row
        record_call(db, CallRecord("gemini", "gemini-2.5-flash", "error", total_ms=50))
    db.close()

    text = usage(data_dir)

    lines = text.splitlines()
    assert lines[0] == f"LLM usage in {data_dir} (all conversations, all time)"
    total = next(line for line in lines if line.startswith("total"))
    assert total.split() == [
        "total",
        "12",
        "6",
        "6400",
        "630",
        "1024",
        "0.0157+",
        "8",
        "50",
        "2500",
        "2900",
    ]
    alpha = next(line for line in lines if line.startswith("  alpha"))
    assert alpha.split() == [
        "alpha", "4", "1", "2700", "140", "1024", "0.0007", "25", "420", "610", "1500"
    ]  # fmt: skip
    assert not any(line.startswith("per turn") for line in lines)  # only for one conversation
    assert "  today: $0.0007 of $10.00 (0%; MLCHAT_SPEND_CAP_DAY_USD)" in lines
    assert lines[-1] == (
        "  ! gemini failed 5 of its last 5 calls (100%, flagged at 50%; "
        "MLCHAT_ERROR_RATE_THRESHOLD)."
    )


def test_one_conversation_lists_the_prompt_sent_in_each_turn_as_recorded(data_dir: Path) -> None:
    report = json.loads(usage(data_dir, "--json", "--thread", "alpha", MLCHAT_PROMPT_TOKENS="6000"))
    text = usage(data_dir, "--thread", "alpha", MLCHAT_PROMPT_TOKENS="6000")

    recorded: dict[str, int] = {}
    for row in ROWS:
        if row.thread_id == "alpha" and row.prompt_tokens is not None:
            recorded[row.turn_id] = max(recorded.get(row.turn_id, 0), row.prompt_tokens)  # type: ignore[index]
    by_turn = {g["key"]: g["max_prompt_tokens"] for g in report["by_turn"]}
    assert by_turn == recorded == {"a1": 1150, "a2": 1420, "a3": 1500}
    assert report["prompt_budget_tokens"] == 6000
    lines = text.splitlines()
    start = lines.index(
        "per turn (prompt = system + history + tool results sent, budget 6,000 tokens "
        "(MLCHAT_PROMPT_TOKENS)):"
    )
    shown = [line.split() for line in lines[start + 1 : start + 4]]
    assert [(cells[1], cells[-1]) for cells in shown] == [
        ("1", "1150"),
        ("2", "1420"),
        ("3", "1500"),
    ]


def test_a_spend_spike_is_listed(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    db = Database(folder / "mlchat.db")
    for number, cost in enumerate([0.01, 0.012, 0.011, 0.2]):
        record_call(
            db,
            CallRecord("openai", "gpt-4o", "ok", 100, 10, cost_usd=cost, total_ms=100,
                       thread_id="t", turn_id=f"u{number}", created_at=NOW),
        )  # fmt: skip
    db.close()

    report = json.loads(usage(folder, "--json"))

    assert [(a["kind"], a["turn_id"], a["value"]) for a in report["anomalies"]] == [
        ("turn_spend_spike", "u3", 0.2)
    ]


def test_no_database_says_so_and_creates_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "empty"

    assert usage(folder) == f"No LLM calls recorded yet: there is no database in {folder}.\n"
    assert not folder.exists()


def test_bad_days_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        usage(tmp_path, "--days", "0")
    assert exited.value.code == 2
    assert "the number of days must be at least 1, not 0" in capsys.readouterr().err


def test_registering_the_command_imports_no_llm_sdk() -> None:
    code = (
        "import sys, assistant.cli.usage; "
        "print(sorted(m for m in ('openai', 'anthropic', 'google.genai', 'pandas') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stderr
