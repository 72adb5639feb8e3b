"""The offline reply to a conversation: the next tool call, or a narration of the results.

After a user message the rules read all the calls it asks for
(:func:`~assistant.offline.intents.read_message`) and issue the first; after
each result they narrate it and issue the next, so "use F1, then show the
leaderboard" runs in order. Narration uses only what the tools returned; a
tool's error is reworded for the person (:mod:`assistant.offline.wording`)
and stops the sequence.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from assistant.offline.facts import FileFacts, facts_from_words, situation_of
from assistant.offline.intent import Intent
from assistant.offline.intents import read_message
from assistant.offline.wording import for_person
from assistant.providers.base import (
    Delta,
    Message,
    StreamEnd,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolCall,
)

HELP_TEXT = (
    "I'm running offline (no API key is set), so I understand these requests:\n"
    "- **train a model to predict <column>** (attach a CSV, Parquet, Excel or JSON file first)\n"
    "- **the target is <column>**, **use F1 / AUC / RMSE / accuracy**, **only tree models**, "
    "**also try SVM**, **use a 2 minute budget**, **the positive class is fraud**, "
    "**treat it as regression / classification**\n"
    "- **tune it for 2 minutes**, **show the leaderboard**, **explain the model**, "
    "**why is <column> important?**, **what would improve it?**\n"
    "- **add a feature income_per_age = income / age** (kept only if cross-validation improves)\n"
    "- **predict on this file** (attach the new file), **download the model**, "
    "**deploy the model** (an HTTP service), **export this as a notebook**\n"
    "- **plot <a> vs <b>**, **distribution of <column>**, **show the data / profile**\n"
    "- questions about the data: **how many rows have <column> above <number>**, "
    "**average <column> by <column>**, **top 5 <column> by <column>**, "
    "**average <column> by <column> and year**, **how many rows last month** (or **in <year>**, "
    "**after March**: read against the file's dates)\n"
    "- a message with a fenced ```python code block runs that code in the sandbox "
    "(your data is loaded as `df`).\n\n"
    "For open-ended questions add a key: set `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` or "
    "`GEMINI_API_KEY` (or `OPENAI_BASE_URL` for a local server such as Ollama) and restart."
)
PICK_ONE = "Pick one of the choices, or say it in your own words."


def respond(
    messages: Sequence[Message], available: set[str], *, facts: FileFacts | None = None
) -> list[Delta]:
    """The deltas of the offline reply to ``messages``."""
    last = messages[-1] if messages else Message("user", "")
    if last.role == "user" and last.name:  # the loop's grounding check or retry request
        return _say(_previous_assistant_text(messages))
    user_index = _last_user_message(messages)
    if user_index is None:
        return _say(HELP_TEXT)
    text = messages[user_index].content
    situation = situation_of(messages, user_index=user_index)
    known = facts if facts is not None else facts_from_words(text)
    plan = read_message(text, facts=known, situation=situation, available=available)
    if last.role != "tool":
        return _say(plan[0].note, then=plan[0]) if plan else _say(HELP_TEXT)
    batch = _results_of_last_batch(messages)
    story = "\n\n".join(narrate(name, content) for name, content in batch)
    issued = sum(len(m.tool_calls) for m in messages[user_index + 1 :] if m.role == "assistant")
    failed = any(_parse(content) is None for _, content in batch)
    if failed or issued >= len(plan):
        return _say(story)
    following = plan[issued]
    return _say("\n\n".join(t for t in (story, following.note) if t), then=following)


def parse_request(text: str, available: set[str]) -> Intent | None:
    """The first call a lone message asks for, or ``None`` (no file, no history)."""
    attached = re.findall(r"\(dataset (d\d+)\)", text.rsplit("[Attached:", 1)[-1])
    messages = [Message("user", text)]
    situation = situation_of(messages, user_index=0)
    if attached and situation.new_file is None:
        situation = type(situation)(new_file=attached[-1])
    calls = read_message(
        text, facts=facts_from_words(text), situation=situation, available=available
    )
    return calls[0] if calls else None


def narrate(tool: str, content: str) -> str:
    """A short reply about one tool result, built only from what the tool returned."""
    result = _parse(content)
    if result is None:  # an error message from the tool or the loop, written for a model
        return for_person(tool, content)
    if tool == "ask_user":
        return PICK_ONE  # the question and its choices are already on screen
    summary = str(result.get("summary", "")).strip()
    lines = [summary] if summary else []
    notes = result.get("warnings") or []
    if tool == "train_models":
        notes = [*(result.get("notes") or []), *notes]
    if tool in ("profile_dataset", "train_models") and notes:
        lines.append("Things to know:\n" + "\n".join(f"- {n}" for n in notes[:6]))
    if tool == "explain_model" and result.get("insights"):
        lines.append("\n".join(f"- {i}" for i in result["insights"][:6]))
    if tool == "suggest_improvements" and result.get("suggestions"):
        lines.append("\n".join(f"- {s}" for s in result["suggestions"]))
    if tool == "engineer_features" and result.get("features"):
        lines.append(
            "\n".join(
                f"- {f['feature']} = {f['expression']}: "
                f"{'kept' if f['kept'] else 'not kept'} ({f['why']})"
                for f in result["features"]
            )
        )
    if tool == "run_code" and result.get("output"):
        lines.append(f"```\n{result['output']}\n```")
    return "\n\n".join(lines) or "Done."


def _last_user_message(messages: Sequence[Message]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role == "user" and not message.name:
            return index
    return None


def _results_of_last_batch(messages: Sequence[Message]) -> list[tuple[str, str]]:
    batch: list[tuple[str, str]] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        batch.append((message.name or "", message.content))
    return list(reversed(batch))


def _previous_assistant_text(messages: Sequence[Message]) -> str:
    for message in reversed(messages[:-1]):
        if message.role == "assistant" and message.content:
            return message.content
    return "Done."


def _parse(content: str) -> dict[str, Any] | None:
    try:
        value = json.loads(content)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _say(text: str, *, then: Intent | None = None) -> list[Delta]:
    words = re.findall(r"\S+\s*", text)
    chunks = ["".join(words[i : i + 8]) for i in range(0, len(words), 8)]
    deltas: list[Delta] = [StreamText(c) for c in chunks]
    if then is None:
        return [*deltas, StreamUsage(0, 0), StreamEnd("stop")]
    if deltas:
        deltas.append(StreamText("\n\n"))
    return [*deltas, *_call(then)]


def _call(intent: Intent) -> list[Delta]:
    call = ToolCall(f"offline_{uuid.uuid4().hex[:10]}", intent.tool, json.dumps(intent.arguments))
    return [StreamToolCall(call), StreamUsage(0, 0), StreamEnd("tool_calls")]
