"""Render the assistant's events as Chainlit messages, steps and elements.

One :class:`TurnRenderer` per turn. Each tool call becomes a collapsible step
(inputs, progress lines, outcome, time). A reply reads top to bottom: its text
first, then the tools' tables, then their figures, then their files, each
group in a message of its own (Chainlit draws a message's files above its
figures and its figures above its tables, whatever the order they were sent
in). Training and tuning get one live message: while the worker runs it shows
the phase, the time spent against the budget and the models done, above the
leaderboard filling in; when the call finishes, it becomes the summary (the
tool's, then the reply's own words) above the final leaderboard. Chainlit
orders a reloaded conversation by creation time, so it reads the same.
:class:`ChainlitApprover` shows code a model wants to run with Run / Skip / Allow
buttons.
"""

from __future__ import annotations

import asyncio
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
    Choices,
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
CHOICE_ACTION = "choice"
"""Action name of a reply button; its payload ``message`` is sent as the user's message."""
REGENERATE_ACTION = "regenerate"
"""Action name of the button on a turn's last reply that answers the turn again, from the
model and not from the response cache; its payload ``message_id`` is the reply it replaces."""
TOOL_TITLES = {
    "ask_user": "Asking you",
    "query_data": "Answering from the data",
    "profile_dataset": "Profiling the data",
    "set_plan": "Updating the plan",
    "train_models": "Training models",
    "tune_model": "Tuning",
    "show_leaderboard": "Leaderboard",
    "explain_model": "Explaining the model",
    "suggest_improvements": "Looking for improvements",
    "predict_file": "Predicting",
    "list_artifacts": "Files",
    "deploy_model": "Starting the model service",
    "export_notebook": "Writing the notebook",
    "plot_columns": "Plotting",
    "run_code": "Running code",
}


LIVE_TOOLS = {"train_models": "Training", "tune_model": "Tuning"}
"""Tools whose call gets a live message, by the verb it shows."""
_TICK_S = 1.0


@dataclass
class _Live:
    """The live message of a training or tuning call (see the module docstring)."""

    message: cl.Message
    verb: str
    started: float
    phase: str = "starting"
    budget_s: float | None = None
    models_done: int = 0
    models_planned: int = 0
    leaderboard: cl.Dataframe | None = None
    summary: str = ""
    finished: bool = False
    ticker: asyncio.Task[None] | None = None

    def status(self, now: float) -> str:
        """The running line: phase, elapsed against the budget, models done."""
        budget = f" of {_minutes(self.budget_s)}" if self.budget_s else ""
        if self.models_planned and self.models_done <= self.models_planned:
            models = f"{self.models_done} of {self.models_planned} models done"
        else:
            models = f"{self.models_done} models done"
        return f"**{self.verb}**: {self.phase} · {_minutes(now - self.started)}{budget} · {models}"

    def absorb(self, data: dict[str, Any]) -> None:
        """Take the structured fields of a progress event."""
        if isinstance(data.get("phase"), str):
            self.phase = data["phase"]
        if isinstance(data.get("budget_s"), int | float) and data["budget_s"] > 0:
            self.budget_s = float(data["budget_s"])
        for key in ("models_done", "models_planned"):
            if isinstance(data.get(key), int):
                setattr(self, key, data[key])


@dataclass
class _ToolView:
    step: cl.Step
    started: float
    live: _Live | None = None
    last_progress: float = 0.0
    progress_lines: list[str] = field(default_factory=list)


@dataclass
class _Held:
    """Outputs waiting for the reply's text, shown after it in reading order."""

    tables: list[cl.Element] = field(default_factory=list)
    figures: list[cl.Element] = field(default_factory=list)
    files: list[tuple[cl.Element, str]] = field(default_factory=list)


class TurnRenderer:
    """Turns one turn's events into Chainlit UI updates."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.message: cl.Message | None = None
        self.tools: dict[str, _ToolView] = {}
        self.held = _Held()
        self.narrated: _Live | None = None
        """A finished live message whose summary the reply's next text continues."""
        self.narration = ""
        self.last_narration_update = 0.0
        self.input_tokens = 0
        self.output_tokens = 0
        self.text = ""
        self.last_reply: cl.Message | None = None
        """The turn's last text message sent so far (where "Regenerate" goes)."""

    async def render(self, event: Event) -> None:
        """Show one event."""
        match event:
            case TextDelta(text=piece):
                self.text += piece
                if self.message is None and self.narrated is not None:
                    await self._narrate(piece)
                    return
                if self.message is None:
                    self.message = cl.Message(content="")
                await self.message.stream_token(piece)
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
                view = _ToolView(step, time.monotonic())
                if tool in LIVE_TOOLS:
                    view.live = await self._start_live(LIVE_TOOLS[tool], arguments)
                self.tools[call_id] = view
            case ToolProgress(call_id=call_id, message=message, data=data):
                view = self.tools.get(call_id)
                if view is not None and view.live is not None:
                    view.live.absorb(data)
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
                    if view.live is not None:
                        await self._finish_live(view.live, _outcome(summary), persist=False)
                        self.narrated, self.narration = view.live, ""
            case Table():
                await self._table(event)
            case Figure(title=title, plotly_json=plotly_json, png_path=png_path):
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
                self.held.figures.append(element)
            case File(path=path, title=title, mime=mime):
                content = self._read(path)
                if content is None:
                    return
                file = cl.File(name=path.name, content=content, mime=mime, display="inline")
                self.held.files.append((file, title))
            case Choices(question=question, options=options):
                await self._close_message()
                buttons = [
                    cl.Action(name=CHOICE_ACTION, payload={"message": option}, label=option)
                    for option in options
                ]
                await cl.Message(content=question, actions=buttons).send()
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

    async def close(self) -> None:
        """End the turn's display, also when it was stopped or failed midway: live
        messages say where they stopped, and outputs still held are shown."""
        for view in self.tools.values():
            live = view.live
            if live is not None and not live.finished:
                elapsed = _minutes(time.monotonic() - live.started)
                await self._finish_live(
                    live,
                    f"{live.verb} stopped after {elapsed}; {live.models_done} models done.",
                    persist=True,
                )
        await self._close_message()

    async def offer_regenerate(self) -> cl.Action | None:
        """Put a "Regenerate" button on the turn's last reply; ``None`` when it sent none."""
        if self.last_reply is None:
            return None
        action = cl.Action(
            name=REGENERATE_ACTION,
            payload={"message_id": self.last_reply.id},
            label="Regenerate",
            tooltip="Answer again, from the model rather than from the saved answer",
        )
        await action.send(for_id=self.last_reply.id)
        return action

    def _read(self, path: Path) -> bytes | None:
        """A file to show, read through the workspace door; None (and a log line) if refused."""
        try:
            return read_user_file(self.data_dir, path, max_bytes=_MAX_SHOWN_BYTES)
        except (OSError, UserFacingError) as exc:
            log.warning("file_not_shown name=%s reason=%s", path.name, type(exc).__name__)
            return None

    async def _start_live(self, verb: str, arguments: dict[str, Any]) -> _Live:
        live = _Live(cl.Message(content=""), verb, time.monotonic())
        live.absorb({"budget_s": arguments.get("budget_s")})
        live.message.content = live.status(live.started)
        await live.message.send()
        live.ticker = asyncio.create_task(self._tick(live))
        return live

    async def _tick(self, live: _Live) -> None:
        """Refresh the live line while the call runs (elapsed time moves between events)."""
        while not live.finished:
            await asyncio.sleep(_TICK_S)
            if live.finished:
                return
            live.message.content = live.status(time.monotonic())
            await _show(live.message)

    async def _finish_live(self, live: _Live, summary: str, *, persist: bool) -> None:
        live.finished = True
        if live.ticker is not None:
            live.ticker.cancel()
        live.summary = summary
        live.message.content = summary
        await (live.message.update() if persist else _show(live.message))
        if live.leaderboard is not None:
            await live.leaderboard.send(for_id=live.message.id)  # persisted: the final one

    async def _narrate(self, piece: str) -> None:
        """Continue a finished live message with the reply's text, below its summary."""
        assert self.narrated is not None
        self.narration += piece
        now = time.monotonic()
        if now - self.last_narration_update >= _PROGRESS_EVERY_S:
            self.last_narration_update = now
            self.narrated.message.content = _continued(self.narrated.summary, self.narration)
            await _show(self.narrated.message)

    async def _close_message(self) -> None:
        """End the text in progress, then show the held outputs after it."""
        if self.message is not None:
            await self.message.send()
            self.last_reply, self.message = self.message, None
        if self.narrated is not None:
            self.narrated.message.content = _continued(self.narrated.summary, self.narration)
            await self.narrated.message.update()  # the one write of its final text
            self.last_reply = self.narrated.message
            self.narrated, self.narration = None, ""
        held, self.held = self.held, _Held()
        for group in (held.tables, held.figures):
            if group:
                await self._message_with(group)
        if held.files:
            titles = "\n".join(f"- {title}" for _, title in held.files)
            await self._message_with([file for file, _ in held.files], f"**Files**\n{titles}")

    @staticmethod
    async def _message_with(elements: list[cl.Element], content: str = "") -> None:
        message = cl.Message(content=content)
        await message.send()
        for element in elements:
            await element.send(for_id=message.id)

    async def _table(self, table: Table) -> None:
        frame = pd.DataFrame([list(row) for row in table.rows], columns=list(table.columns))
        view = self.tools.get(table.call_id or "")
        live = view.live if view is not None else None
        if live is None or table.name != "leaderboard":
            self.held.tables.append(
                cl.Dataframe(name=table.title, data=frame, display="inline", size="large")
            )
            return
        if live.leaderboard is None:
            live.leaderboard = cl.Dataframe(
                name=table.title, data=frame, display="inline", size="large"
            )
            # Re-sent with new content: without this Chainlit keeps serving the first copy.
            live.leaderboard.updatable = True
        else:
            live.leaderboard.data = frame
            live.leaderboard.content = frame.to_json(orient="split", date_format="iso")
        await live.leaderboard.send(for_id=live.message.id, persist=False)


async def _show(message: cl.Message) -> None:
    """Send a message's new content to the browser without writing it to the database.

    Each ``Message.update`` persists in a task of its own, and such writes can land in any
    order: a live message is shown often but written once, with its final text.
    """
    await cl.context.emitter.update_step(message.to_dict())


def _continued(summary: str, narration: str) -> str:
    """The summary, then what the reply's text adds to it (offline replies repeat it)."""
    text = narration.strip()
    if text.startswith(summary):
        text = text[len(summary) :].strip()
    elif summary.startswith(text):
        text = ""
    return f"{summary}\n\n{text}" if text else summary


def _minutes(seconds: float | None) -> str:
    """``m:ss``."""
    whole = max(0, round(seconds or 0))
    return f"{whole // 60}:{whole % 60:02d}"


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
