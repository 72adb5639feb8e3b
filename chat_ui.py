"""Render the assistant's events as Chainlit messages, steps and elements.

One :class:`TurnRenderer` per turn: text streams into an assistant message,
each tool call becomes a collapsible step (inputs, outcome, time), and the
tables, Plotly figures and files a tool produces appear in a message of
their own under it. The live leaderboard is one table element re-sent with
the same id as candidates finish, so it updates in place. :class:`ChainlitApprover`
shows code a model wants to run with Run / Skip / Allow buttons.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, assert_never

import chainlit as cl
import pandas as pd
import plotly.io as pio

from assistant.approval import APPROVAL_TIMEOUT_S, CodeRequest, Decision
from assistant.events import (
    Event,
    Failed,
    Figure,
    File,
    Notice,
    Table,
    TextDelta,
    ToolFinished,
    ToolProgress,
    ToolStarted,
    TurnFinished,
    Usage,
)
from assistant.workspace import read_user_file
from tools.errors import UserFacingError

_PROGRESS_EVERY_S = 0.5
_MAX_SHOWN_BYTES = 2 << 30
log = logging.getLogger(__name__)
TOOL_TITLES = {
    "profile_dataset": "Profiling the data",
    "set_plan": "Updating the plan",
    "train_models": "Training models",
    "tune_model": "Tuning",
    "show_leaderboard": "Leaderboard",
    "explain_model": "Explaining the model",
    "suggest_improvements": "Looking for improvements",
    "predict_file": "Predicting",
    "list_artifacts": "Files",
    "plot_columns": "Plotting",
    "run_code": "Running code",
}


@dataclass
class _ToolView:
    step: cl.Step
    started: float
    outputs: cl.Message | None = None
    tables: dict[str, cl.Dataframe] = field(default_factory=dict)
    last_progress: float = 0.0
    progress_lines: list[str] = field(default_factory=list)


class TurnRenderer:
    """Turns one turn's events into Chainlit UI updates."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.message: cl.Message | None = None
        self.tools: dict[str, _ToolView] = {}
        self.input_tokens = 0
        self.output_tokens = 0
        self.text = ""

    async def render(self, event: Event) -> None:
        """Show one event."""
        match event:
            case TextDelta(text=piece):
                if self.message is None:
                    self.message = cl.Message(content="")
                await self.message.stream_token(piece)
                self.text += piece
            case ToolStarted(call_id=call_id, tool=tool, arguments=arguments):
                await self._close_message()
                step = cl.Step(
                    name=TOOL_TITLES.get(tool, tool),
                    type="tool",
                    show_input="json",
                    default_open=False,
                )
                step.input = json.dumps(arguments, ensure_ascii=False, indent=1)
                await step.send()
                self.tools[call_id] = _ToolView(step, time.monotonic())
            case ToolProgress(call_id=call_id, message=message):
                view = self.tools.get(call_id)
                if view is not None and message:
                    view.progress_lines = [*view.progress_lines[-14:], message]
                    now = time.monotonic()
                    if now - view.last_progress >= _PROGRESS_EVERY_S:
                        view.last_progress = now
                        view.step.output = "\n".join(view.progress_lines)
                        await view.step.update()
            case ToolFinished(
                call_id=call_id, summary=summary, elapsed_s=elapsed, is_error=is_error
            ):
                view = self.tools.get(call_id)
                if view is not None:
                    view.step.output = f"{_outcome(summary)}\n\n({elapsed:.1f} s)"
                    view.step.is_error = is_error
                    await view.step.update()
                    for element in view.tables.values():
                        await element.send(for_id=view.outputs.id if view.outputs else "")
            case Table():
                await self._table(event)
            case Figure(title=title, plotly_json=plotly_json, png_path=png_path, call_id=call_id):
                if plotly_json:
                    element: cl.Element = cl.Plotly(
                        name=title,
                        figure=pio.from_json(plotly_json),
                        display="inline",
                        size="large",
                    )
                elif png_path is not None:
                    content = self._read(png_path)
                    if content is None:
                        return
                    element = cl.Image(
                        name=title,
                        content=content,
                        mime="image/png",
                        display="inline",
                        size="large",
                    )
                else:
                    return
                await self._attach(call_id, element)
            case File(path=path, title=title, mime=mime, call_id=call_id):
                content = self._read(path)
                if content is None:
                    return
                await self._attach(
                    call_id,
                    cl.File(name=path.name, content=content, mime=mime, display="inline"),
                    caption=title,
                )
            case Notice(message=message, level=level):
                await self._close_message()
                prefix = "⚠️ " if level == "warning" else ""
                await cl.Message(content=prefix + message).send()
            case Failed(message=message):
                await self._close_message()
                await cl.ErrorMessage(content=message).send()
            case Usage(input_tokens=tokens_in, output_tokens=tokens_out):
                self.input_tokens += tokens_in
                self.output_tokens += tokens_out
            case TurnFinished():
                await self._close_message()
            case _:
                assert_never(event)

    def _read(self, path: Path) -> bytes | None:
        """A file to show, read through the workspace door; None (and a log line) if refused."""
        try:
            return read_user_file(self.data_dir, path, max_bytes=_MAX_SHOWN_BYTES)
        except (OSError, UserFacingError) as exc:
            log.warning("file_not_shown name=%s reason=%s", path.name, type(exc).__name__)
            return None

    async def _close_message(self) -> None:
        if self.message is not None:
            await self.message.send()
            self.message = None

    async def _outputs_for(self, call_id: str | None, caption: str = "") -> cl.Message:
        view = self.tools.get(call_id or "")
        if view is not None and view.outputs is not None:
            return view.outputs
        await self._close_message()
        outputs = cl.Message(content=caption)
        await outputs.send()
        if view is not None:
            view.outputs = outputs
        return outputs

    async def _attach(self, call_id: str | None, element: cl.Element, *, caption: str = "") -> None:
        outputs = await self._outputs_for(call_id, caption)
        await element.send(for_id=outputs.id)

    async def _table(self, table: Table) -> None:
        frame = pd.DataFrame([list(row) for row in table.rows], columns=list(table.columns))
        view = self.tools.get(table.call_id or "")
        key = table.name or table.title
        if view is not None and key in view.tables:
            element = view.tables[key]
            element.data = frame
            element.content = frame.to_json(orient="split", date_format="iso")
            await element.send(for_id=view.outputs.id if view.outputs else "", persist=False)
            return
        element = cl.Dataframe(name=table.title, data=frame, display="inline", size="large")
        outputs = await self._outputs_for(table.call_id)
        if view is not None and table.name == "leaderboard":
            view.tables[key] = element
            await element.send(for_id=outputs.id, persist=False)
        else:
            await element.send(for_id=outputs.id)


_ANSWERS: dict[str, tuple[Decision, str]] = {
    "run_code_run": ("run", "Run"),
    "run_code_skip": ("skip", "Skip"),
    "run_code_allow": ("allow_conversation", "Allow code for this conversation"),
}


class ChainlitApprover:
    """Asks in the browser before code a model wrote runs: the code, then Run / Skip / Allow.

    No answer within the approval timeout counts as Skip.
    """

    def __init__(self, *, timeout_s: float = APPROVAL_TIMEOUT_S - 5) -> None:
        self.timeout_s = timeout_s

    async def decide(self, request: CodeRequest) -> Decision:
        """Show the code and wait for a click (see :class:`~assistant.approval.Approver`)."""
        actions = [
            cl.Action(name=name, payload={"call_id": request.call_id}, label=label)
            for name, (_, label) in _ANSWERS.items()
        ]
        fence = "`" * max(
            3, 1 + max((len(run) for run in re.findall("`+", request.code)), default=0)
        )
        answer = await cl.AskActionMessage(
            content=(
                "The model wants to run this code in the sandbox. Run it?\n\n"
                f"{fence}python\n{request.code.rstrip()}\n{fence}"
            ),
            actions=actions,
            timeout=int(self.timeout_s),
        ).send()
        if answer is None or answer.get("name") not in _ANSWERS:
            return "skip"
        return _ANSWERS[answer["name"]][0]


def _outcome(summary: str) -> str:
    """The human part of what a tool told the model (its ``summary`` field when JSON)."""
    try:
        parsed: Any = json.loads(summary)
    except ValueError:
        return summary
    if isinstance(parsed, dict) and isinstance(parsed.get("summary"), str):
        return parsed["summary"]
    return summary[:500]
