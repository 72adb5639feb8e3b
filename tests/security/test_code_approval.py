"""Code a language model writes runs only with the user's approval (issue 14, item 5).

| attack / situation | expected | enforced in |
|---|---|---|
| a model calls run_code, the user says Skip | the code never runs; the model reads "declined" | ``Agent._approved`` |
| nobody can be asked (no approver) | skipped, the user is told | ``Agent._approved`` |
| the user allows code for the conversation | the next call runs without asking | ``Assistant.allow_code`` |
| the user's own fenced block, offline | runs without asking | ``CodeApproval.needs_asking`` |
| a model copies the user's block (exactly, or one byte off) | asked: a model's claim is not trusted | ``OfflineAssistant.issued`` |
| the user never answers | skipped after the approval timeout; the turn's deadline is paused meanwhile | ``_Deadline.paused`` |

Real Assistant, real local sandbox; the model is the scripted provider.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from assistant.approval import DECLINED, CodeApproval, CodeRequest, Decision
from assistant.events import Event, Notice, ToolFinished, TurnFinished
from assistant.providers.base import ToolCall
from assistant.session import Assistant
from assistant.settings import Settings
from tests.assistant.scripted import ScriptedProvider, call, say

MARKER = "approval-marker.txt"
CODE = f"open({MARKER!r}, 'a').write('ran\\n')\nprint('wrote the marker')\n"


class Answers:
    """An approver that gives scripted answers and records what it was asked."""

    def __init__(self, *answers: Decision) -> None:
        self.answers = list(answers)
        self.asked: list[CodeRequest] = []

    async def decide(self, request: CodeRequest) -> Decision:
        self.asked.append(request)
        return self.answers.pop(0)


class NeverAnswers:
    """An approver whose user walked away."""

    def __init__(self) -> None:
        self.asked: list[CodeRequest] = []

    async def decide(self, request: CodeRequest) -> Decision:
        self.asked.append(request)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def _settings(tmp_path: Path, **env: str) -> Settings:
    base = {"MLCHAT_DATA_DIR": str(tmp_path / "data"), "MLCHAT_SANDBOX_TIMEOUT_S": "30"}
    return Settings.from_env({**base, **env}, env_file=tmp_path / "none.env")


def _marker(assistant: Assistant, thread: str) -> str | None:
    """What the code wrote to its marker file (in the sandbox's working folder), if it ran."""
    found = sorted(assistant.settings.workspace_for(thread).rglob(MARKER))
    return found[0].read_text() if found else None


async def _turn(assistant: Assistant, thread: str, text: str, approver: object) -> list[Event]:
    turn = assistant.run_turn(thread, text, approver=approver)  # type: ignore[arg-type]
    return [event async for event in turn]


async def test_skip_means_the_code_never_ran_and_the_model_read_declined(tmp_path: Path) -> None:
    model = ScriptedProvider([call("run_code", call_id="c1", code=CODE), say("Understood.")])
    assistant = Assistant(_settings(tmp_path), provider=model)
    approver = Answers("skip")
    try:
        events = await _turn(assistant, "t1", "look at the data", approver)
    finally:
        await assistant.close()

    assert [r.code for r in approver.asked] == [CODE]
    assert _marker(assistant, "t1") is None
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert (finished.summary, finished.is_error) == (DECLINED, False)
    sent_back = model.requests[1][-1]
    assert (sent_back.role, sent_back.content) == ("tool", DECLINED)


async def test_without_anyone_to_ask_the_code_is_skipped_and_the_user_told(
    tmp_path: Path,
) -> None:
    model = ScriptedProvider([call("run_code", code=CODE), say("Understood.")])
    assistant = Assistant(_settings(tmp_path), provider=model)
    try:
        events = [e async for e in assistant.run_turn("t1", "look")]
    finally:
        await assistant.close()

    assert _marker(assistant, "t1") is None
    assert model.requests[1][-1].content == DECLINED
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert any("nobody was asked" in n for n in notices), notices


async def test_allow_for_the_conversation_runs_the_next_call_without_asking(
    tmp_path: Path,
) -> None:
    model = ScriptedProvider(
        [
            call("run_code", call_id="c1", code=CODE),
            say("First run done."),
            call("run_code", call_id="c2", code=CODE),
            say("Second run done."),
        ]
    )
    assistant = Assistant(_settings(tmp_path), provider=model)
    approver = Answers("allow_conversation")
    try:
        await _turn(assistant, "t1", "run something", approver)
        await _turn(assistant, "t1", "again", approver)
        marker = _marker(assistant, "t1")
        stored = assistant.choice("t1").code_approval
        assistant._choices.clear()  # read back from the database, as after a restart
        reloaded = assistant.choice("t1").code_approval
    finally:
        await assistant.close()

    assert len(approver.asked) == 1
    assert marker == "ran\nran\n"
    assert (stored, reloaded) == ("conversation", "conversation")


async def test_the_users_fenced_code_runs_offline_without_asking(tmp_path: Path) -> None:
    assistant = Assistant(_settings(tmp_path))  # no key: the offline assistant
    assert assistant.is_offline
    approver = Answers()
    try:
        events = await _turn(assistant, "t1", f"please\n```python\n{CODE}```", approver)
        marker = _marker(assistant, "t1")
    finally:
        await assistant.close()

    assert approver.asked == []
    assert marker == "ran\n"
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert "wrote the marker" in finished.summary


@pytest.mark.parametrize("copied", [CODE, CODE.replace("'a'", "'a' ")], ids=["exact", "one-byte"])
async def test_a_model_copying_the_users_code_is_asked_about(tmp_path: Path, copied: str) -> None:
    model = ScriptedProvider([call("run_code", code=copied), say("Done.")])
    assistant = Assistant(_settings(tmp_path), provider=model)
    approver = Answers("skip")
    try:
        await _turn(assistant, "t1", f"```python\n{CODE}```", approver)
    finally:
        await assistant.close()

    assert [r.code for r in approver.asked] == [copied]
    assert _marker(assistant, "t1") is None


def test_offline_calls_are_trusted_only_for_byte_identical_user_code() -> None:
    approval = CodeApproval(is_offline_call=lambda call: call.id == "offline")
    user_text = f"run this\n```python\n{CODE}```\n[Attached: x.csv (dataset d1)]"
    offline, model = ToolCall("offline", "run_code", "{}"), ToolCall("model", "run_code", "{}")

    assert not approval.needs_asking("t", offline, CODE, user_text)
    assert approval.needs_asking("t", offline, CODE + " ", user_text)
    assert approval.needs_asking("t", offline, CODE[1:], user_text)
    assert approval.needs_asking("t", model, CODE, user_text)
    allowed = dataclasses.replace(approval, policy_of=lambda thread_id: "conversation")
    assert not allowed.needs_asking("t", model, "anything", user_text)


async def test_an_unanswered_question_is_a_skip_and_does_not_eat_the_turn_deadline(
    tmp_path: Path,
) -> None:
    model = ScriptedProvider([call("run_code", code=CODE), say("Understood.")])
    assistant = Assistant(_settings(tmp_path, MLCHAT_TURN_DEADLINE_S="0.5"), provider=model)
    assistant.agent.approval = dataclasses.replace(assistant.agent.approval, timeout_s=1.0)
    approver = NeverAnswers()
    try:
        events = await _turn(assistant, "t1", "look", approver)
    finally:
        await assistant.close()

    assert len(approver.asked) == 1
    assert _marker(assistant, "t1") is None
    assert model.requests[1][-1].content == DECLINED
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert "No answer within 1 s, so the code was skipped." in notices
    last = events[-1]
    assert isinstance(last, TurnFinished) and not last.stopped  # waited 1 s past a 0.5 s deadline
    assert last.text == "Understood."
