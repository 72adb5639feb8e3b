"""Pieces of the chat's renderer that decide what a live training message says."""

from __future__ import annotations

from pathlib import Path

import chainlit as cl
import pytest
from chainlit.context import init_http_context

from ui.render import _continued, _Live

SUMMARY = "Trained 3 models. Best: LDA with ROC AUC 0.88."


def test_a_reply_that_repeats_the_summary_adds_only_what_is_new() -> None:
    assert _continued(SUMMARY, SUMMARY + "\n\nThings to know:\n- x") == (
        SUMMARY + "\n\nThings to know:\n- x"
    )
    assert _continued(SUMMARY, SUMMARY[:10]) == SUMMARY  # still streaming the repeat
    assert _continued(SUMMARY, "LDA won.") == SUMMARY + "\n\nLDA won."


async def test_the_live_line_shows_phase_time_against_budget_and_models_done() -> None:
    init_http_context()
    live = _Live(cl.Message(content=""), "Training", started=100.0)
    live.absorb(
        {
            "phase": "cross-validating candidates",
            "budget_s": 60,
            "models_done": 3,
            "models_planned": 11,
        }
    )
    assert live.status(172.4) == (
        "**Training**: cross-validating candidates · 1:12 of 1:00 · 3 of 11 models done"
    )
    live.absorb({"models_done": 13, "budget_s": None})
    assert live.status(100.0).endswith("0:00 of 1:00 · 13 models done")


async def test_a_question_with_choices_becomes_a_message_with_one_button_per_choice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from assistant.events import Choices
    from ui.render import CHOICE_ACTION, TurnRenderer

    init_http_context()
    sent: list[cl.Message] = []

    async def record(message: cl.Message) -> cl.Message:
        sent.append(message)
        return message

    monkeypatch.setattr(cl.Message, "send", record)
    await TurnRenderer(tmp_path).render(Choices("Which column?", ("predict churn", "predict plan")))
    [message] = sent
    assert message.content == "Which column?"
    assert [(a.name, a.label, a.payload) for a in message.actions] == [
        (CHOICE_ACTION, "predict churn", {"message": "predict churn"}),
        (CHOICE_ACTION, "predict plan", {"message": "predict plan"}),
    ]
