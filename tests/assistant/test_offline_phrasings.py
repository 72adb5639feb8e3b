"""The offline assistant on how people actually ask (issue 18): the phrasing suite, per intent."""

from __future__ import annotations

import pytest

from assistant.offline.intents import read_message
from tests.assistant.offline_phrasings import CASES, CHURN, FRESH, TRAINED
from tests.assistant.offline_scoring import TOOLS, calls_of, table, verdict

TARGET = 0.95


def test_the_suite_is_large_and_covers_every_intent() -> None:
    intents = {case.intent for case in CASES}
    assert len(CASES) >= 200
    assert intents >= {
        "train", "target", "metric", "models", "budget", "tune", "explain", "why",
        "leaderboard", "download", "plot", "profile", "predict", "feature", "data", "several",
    }  # fmt: skip
    assert len({case.text for case in CASES}) == len(CASES)


def test_each_intent_is_understood_at_least_95_percent_of_the_time() -> None:
    shortfalls = {}
    for intent, counts in table(CASES).items():
        total = sum(counts.values())
        if counts["right"] < TARGET * total:
            shortfalls[intent] = f"{counts['right']}/{total}"
    assert shortfalls == {}


def test_every_miss_asks_back_instead_of_guessing() -> None:
    wrong_guesses = []
    for case in CASES:
        calls = calls_of(case)
        if verdict(case, calls) == "wrong":
            wrong_guesses.append((case.text, calls))
    assert wrong_guesses == []


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("train a model", "Which column should I predict?"),
        ("predict sales", "This file has no column called “sales”. Which column should I predict?"),
    ],
)
def test_an_unknown_target_is_asked_for_with_the_likeliest_columns(
    text: str, question: str
) -> None:
    [call] = read_message(text, facts=CHURN, situation=FRESH, available=TOOLS)
    assert call.tool == "ask_user"
    assert call.arguments["question"] == question
    assert call.arguments["options"][0] == "predict churn"
    assert "predict customer_id" not in call.arguments["options"]


def test_settings_said_before_the_target_is_known_are_kept_while_asking() -> None:
    calls = read_message(
        "use F1 and only trees, then train", facts=CHURN, situation=FRESH, available=TOOLS
    )
    assert [(c.tool, c.arguments.get("metric")) for c in calls] == [
        ("set_plan", "f1"),
        ("ask_user", None),
    ]


def test_a_number_answers_the_question_just_asked() -> None:
    asked = FRESH.__class__(options=("predict churn", "predict contract"))
    [call] = read_message("2", facts=CHURN, situation=asked, available=TOOLS)
    assert (call.tool, call.arguments) == ("train_models", {"target": "contract"})


def test_a_message_not_understood_says_what_was_understood_and_offers_two_examples() -> None:
    [call] = read_message(
        "contract contract contract", facts=CHURN, situation=TRAINED, available=TOOLS
    )
    assert call.tool == "ask_user"
    assert call.arguments["question"].startswith("I understood the column “contract”, but not what")
    assert call.arguments["options"] == ["why is contract important?", "how many rows per contract"]


def test_a_misspelt_target_is_resolved_and_the_reading_is_said() -> None:
    [call] = read_message(
        "train a model to predict chrun", facts=CHURN, situation=TRAINED, available=TOOLS
    )
    assert (call.tool, call.arguments) == ("train_models", {"target": "churn"})
    assert call.note == "Using the column “churn” for “chrun”."


def test_a_target_the_file_lacks_is_never_replaced_by_the_previous_one() -> None:
    [call] = read_message(
        "train a model to predict revenue", facts=CHURN, situation=TRAINED, available=TOOLS
    )
    assert call.tool == "ask_user"
    without_asking = read_message(
        "train a model to predict revenue",
        facts=CHURN,
        situation=TRAINED,
        available=TOOLS - {"ask_user"},
    )
    assert [(c.tool, c.arguments) for c in without_asking] == [
        ("train_models", {"target": "revenue"})
    ]


def test_the_situation_is_read_from_summarised_older_results() -> None:
    from assistant.offline.facts import situation_of
    from assistant.providers.base import Message, ToolCall

    history = [
        Message("user", "train a model to predict churn"),
        Message("assistant", "", (ToolCall("c1", "train_models", '{"target": "churn"}'),)),
        Message(
            "tool",
            '(older result, summarised) Trained 3 models on 300 rows to predict "churn" (binary).',
            tool_call_id="c1",
            name="train_models",
        ),
        Message(
            "assistant",
            "",
            (ToolCall("c2", "ask_user", '{"question": "?", "options": ["a", "b"]}'),),
        ),
        Message("tool", '{"summary": "Asked the user: ?"}', tool_call_id="c2", name="ask_user"),
        Message("assistant", "Pick one."),
        Message("user", "2"),
    ]
    situation = situation_of(history, user_index=6)
    assert (situation.has_model, situation.target, situation.options) == (True, "churn", ("a", "b"))
    assert situation_of([*history, Message("user", "x")], user_index=7).options == ()
