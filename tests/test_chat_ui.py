"""Pieces of the chat's renderer that decide what a live training message says."""

from __future__ import annotations

import chainlit as cl
from chainlit.context import init_http_context

from chat_ui import _continued, _Live

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
        "⏳ **Training**: cross-validating candidates · 1:12 of 1:00 · 3 of 11 models done"
    )
    live.absorb({"models_done": 13, "budget_s": None})
    assert live.status(100.0).endswith("0:00 of 1:00 · 13 models done")
