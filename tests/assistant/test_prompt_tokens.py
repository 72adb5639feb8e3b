"""The per-turn prompt figure: counted from what reached the model, recorded, and shown as recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.providers.tokens import count_text_tokens
from assistant.session import Assistant
from assistant.settings import Settings
from assistant.spend import build_usage_report, format_usage_report
from tests.fakes import pytest_fixtures
from tests.fakes.llm_servers import FakeLLMServer, text, tool_call

_fake_openai_server = pytest_fixtures._fake_openai_server
fake_openai = pytest_fixtures.fake_openai

MODEL = "gpt-4o-mini"


def wire_prompt_tokens(body: dict[str, Any]) -> int:
    """Tokens of the messages an OpenAI request carried, counted as mlchat counts a prompt."""
    total = 0
    for message in body["messages"]:
        total += 4 + count_text_tokens(message.get("content") or "", model=MODEL)
        for call in message.get("tool_calls") or []:
            function = call["function"]
            total += count_text_tokens(function["name"] + function["arguments"], model=MODEL)
    return total


async def test_the_prompt_sent_each_call_is_recorded_and_shown_per_turn(
    tmp_path: Path, fake_openai: FakeLLMServer
) -> None:
    settings = Settings.from_env(
        {
            "MLCHAT_DATA_DIR": str(tmp_path / "data"),
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": fake_openai.url,
            "MLCHAT_PROMPT_TOKENS": "20000",
        },
        env_file=tmp_path / "none.env",
    )
    # the second call of the turn carries the tool result of the first
    fake_openai.reply(tool_call("no_such_tool", {"x": 1}), text("Done."), text("Again."))
    assistant = Assistant(settings)
    try:
        _ = [e async for e in assistant.run_turn("t1", "first question")]
        _ = [e async for e in assistant.run_turn("t1", "second question")]
        sent = [wire_prompt_tokens(r.body) for r in fake_openai.requests]
        rows = assistant.db.query(
            "SELECT turn_id, prompt_tokens FROM llm_calls WHERE thread_id = 't1' ORDER BY id"
        )
        report = build_usage_report(
            assistant.db,
            settings.spend,
            wall_time=0.0,
            thread_id="t1",
            prompt_budget_tokens=settings.prompt_tokens,
        )
    finally:
        await assistant.close()

    assert len(sent) == 3 and sent[0] < sent[1] < sent[2]  # the history grows
    assert [r["prompt_tokens"] for r in rows] == sent
    first, second = rows[0]["turn_id"], rows[2]["turn_id"]
    by_turn = [(g.key, g.max_prompt_tokens, g.calls) for g in report.summary.by_turn]
    assert by_turn == [(first, sent[1], 2), (second, sent[2], 1)]
    shown = format_usage_report(report).splitlines()
    turn_lines = [line.split() for line in shown if line.startswith("  turn ")]
    assert [cells[-1] for cells in turn_lines] == [str(sent[1]), str(sent[2])]
    assert any("budget 20,000 tokens (MLCHAT_PROMPT_TOKENS)" in line for line in shown)
