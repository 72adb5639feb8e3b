"""``MLCHAT_SMALL_MODEL`` summarises the turns trimmed from the history, against the fake OpenAI server.

The prompt budget is set so that the second turn no longer fits with the
first: the first turn is dropped, and with a small model it is summarised.
"""

from __future__ import annotations

from pathlib import Path

from assistant.events import TurnFinished
from assistant.providers.usage import summarise_usage
from assistant.session import Assistant
from assistant.settings import Settings
from tests.fakes import pytest_fixtures
from tests.fakes.llm_servers import FakeLLMServer, error, text

_fake_openai_server = pytest_fixtures._fake_openai_server
fake_openai = pytest_fixtures.fake_openai

SMALL = "gpt-small-test"


def long_question(number: int) -> str:
    return f"question {number}: " + "tell me more about the churn table and its columns " * 32


def make_assistant(tmp_path: Path, fake: FakeLLMServer, **env: str) -> Assistant:
    settings = Settings.from_env(
        {
            "MLCHAT_DATA_DIR": str(tmp_path / "data"),
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": fake.url,
            "MLCHAT_PROMPT_TOKENS": "1000",
            **env,
        },
        env_file=tmp_path / "none.env",
    )
    return Assistant(settings)


async def ask(assistant: Assistant, message: str) -> str:
    events = [e async for e in assistant.run_turn("t1", message)]
    return next(e.text for e in events if isinstance(e, TurnFinished))


def contents(body: dict) -> str:
    return "\n".join(m.get("content") or "" for m in body["messages"])


async def test_dropped_turns_are_summarised_by_the_small_model_once_each(
    tmp_path: Path, fake_openai: FakeLLMServer
) -> None:
    fake_openai.reply(
        text("Answer zero."),
        text("SUMMARY-ONE: the person asked question 0."),
        text("Answer one."),
        text("SUMMARY-TWO: questions 0 and 1."),
        text("Answer two."),
    )
    assistant = make_assistant(tmp_path, fake_openai, MLCHAT_SMALL_MODEL=SMALL)
    try:
        assert await ask(assistant, long_question(0)) == "Answer zero."
        assert await ask(assistant, long_question(1)) == "Answer one."
        assert await ask(assistant, long_question(2)) == "Answer two."
        summary = summarise_usage(assistant.db, thread_id="t1")
        small_rows = assistant.db.query(
            "SELECT thread_id, outcome FROM llm_calls WHERE model = ? ORDER BY id", (SMALL,)
        )
    finally:
        await assistant.close()

    models = [r.body["model"] for r in fake_openai.requests]
    assert models == ["gpt-6-luna", SMALL, "gpt-6-luna", SMALL, "gpt-6-luna"]
    first_small, main_after, second_small, last_main = (
        fake_openai.requests[i].body for i in (1, 2, 3, 4)
    )
    assert "question 0" in contents(first_small) and "question 1" not in contents(first_small)
    context = main_after["messages"][1]
    assert context["role"] == "user"
    quoted = '"summary_of_earlier_turns":"SUMMARY-ONE: the person asked question 0."'
    assert quoted in context["content"]  # quoted data, not the system prompt
    assert "SUMMARY-ONE" not in main_after["messages"][0]["content"]
    assert "question 0:" not in contents(main_after)  # the dropped turn itself is not sent
    # the next summary extends the stored one with the newly dropped turn only
    assert "SUMMARY-ONE" in contents(second_small) and "question 0:" not in contents(second_small)
    assert "question 1" in contents(second_small)
    assert "SUMMARY-TWO" in last_main["messages"][1]["content"]
    # recorded under the small model's name, so usage splits cost by model
    assert [tuple(r) for r in small_rows] == [("t1", "ok"), ("t1", "ok")]
    by_model = {g.key: g.calls for g in summary.by_model}
    assert by_model == {"openai/gpt-6-luna": 3, f"openai/{SMALL}": 2}


async def test_a_failed_summary_falls_back_to_the_template_trimming(
    tmp_path: Path, fake_openai: FakeLLMServer
) -> None:
    fake_openai.reply(text("Answer zero."), error(400, "no such model"), text("Answer one."))
    assistant = make_assistant(tmp_path, fake_openai, MLCHAT_SMALL_MODEL=SMALL)
    try:
        await ask(assistant, long_question(0))
        assert await ask(assistant, long_question(1)) == "Answer one."
        failed = assistant.db.query("SELECT outcome FROM llm_calls WHERE model = ?", (SMALL,))
    finally:
        await assistant.close()

    assert [r.body["model"] for r in fake_openai.requests] == ["gpt-6-luna", SMALL, "gpt-6-luna"]
    main = fake_openai.requests[2].body
    assert "summary_of_earlier_turns" not in contents(main)
    assert "question 0:" not in contents(main) and "question 1:" in contents(main)
    assert [r["outcome"] for r in failed] == ["error"]  # one attempt, recorded


async def test_without_a_small_model_no_summary_is_asked_for(
    tmp_path: Path, fake_openai: FakeLLMServer
) -> None:
    fake_openai.reply(text("Answer zero."), text("Answer one."))
    assistant = make_assistant(tmp_path, fake_openai)
    try:
        await ask(assistant, long_question(0))
        await ask(assistant, long_question(1))
    finally:
        await assistant.close()

    assert [r.body["model"] for r in fake_openai.requests] == ["gpt-6-luna", "gpt-6-luna"]
    main = fake_openai.requests[1].body
    assert "summary_of_earlier_turns" not in contents(main)
    assert "question 0:" not in contents(main)


async def test_a_conversation_switched_to_another_provider_gets_no_small_model_call(
    tmp_path: Path, fake_openai: FakeLLMServer
) -> None:
    assistant = make_assistant(tmp_path, fake_openai, MLCHAT_SMALL_MODEL=SMALL)
    try:
        assistant.choose("t1", {"provider": "offline"})
        await ask(assistant, long_question(0))
        await ask(assistant, long_question(1))
    finally:
        await assistant.close()

    assert fake_openai.requests == []  # neither the main model nor the small one was asked
