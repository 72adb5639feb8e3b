"""Helpers shared by the reliability and security suites: an offline Assistant and a turn runner."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from assistant.events import Event, Failed, Notice, TextDelta, ToolFinished, TurnFinished
from assistant.session import Assistant
from assistant.settings import Settings
from assistant.store import DatasetRecord

_PYTHON_LEAK = re.compile(r"Traceback|File \"|\b[A-Z][a-z]+(Error|Exception)\b:|<class '")


def offline_settings(root: Path, **extra: str) -> Settings:
    """Offline settings with every file under ``root`` (no key, small training budget)."""
    env = {"MLCHAT_DATA_DIR": str(root / "data"), "MLCHAT_BUDGET_S": "3", **extra}
    return Settings.from_env(env, env_file=root / "none.env")


def small_table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """A small classification table with a real signal in ``x1``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n).round(3),
            "x2": rng.integers(0, 5, n),
            "kind": rng.choice(["a", "b"], n),
        }
    )
    frame["y"] = np.where(frame["x1"] + rng.normal(scale=0.3, size=n) > 0, "yes", "no")
    return frame


async def turn(
    assistant: Assistant, thread: str, text: str, attachments: Sequence[DatasetRecord] = ()
) -> list[Event]:
    """Run one turn and collect its events."""
    return [e async for e in assistant.run_turn(thread, text, attachments=attachments)]


def reply(events: Sequence[Event]) -> str:
    """The assistant's reply text plus notices and failure messages, as the user reads them."""
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    notes = "\n".join(e.message for e in events if isinstance(e, Notice | Failed))
    return (text + "\n" + notes).strip()


def assert_one_clear_message(text: str, *, mentions: str) -> None:
    """A message a user can act on: it says what is wrong, briefly, without Python internals."""
    assert re.search(mentions, text, re.I), f"expected /{mentions}/ in: {text!r}"
    assert not _PYTHON_LEAK.search(text), f"Python internals shown to the user: {text!r}"
    assert len(text) < 1_500, f"message too long ({len(text)} chars)"


def assert_turn_healthy(events: Sequence[Event]) -> None:
    """The turn ended normally: no failure, no tool error, a final reply."""
    assert not [e for e in events if isinstance(e, Failed)], reply(events)
    assert not [e for e in events if isinstance(e, ToolFinished) and e.is_error], reply(events)
    assert isinstance(events[-1], TurnFinished) and not events[-1].stopped
