"""The typed events the assistant yields: the only thing front ends see.

Each event is a small immutable fact with a ``kind`` tag. Front ends
``match`` on the class and end with ``case _: assert_never(event)``, so a
new event kind shows up as a type error in every consumer that misses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the assistant's reply text, in order."""

    text: str
    kind: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True, slots=True)
class ToolStarted:
    """The assistant started a tool call."""

    call_id: str
    tool: str
    arguments: dict[str, Any]
    kind: Literal["tool_started"] = "tool_started"


@dataclass(frozen=True, slots=True)
class ToolProgress:
    """A progress line from a running tool (a finished candidate, a tuning trial...)."""

    call_id: str
    tool: str
    message: str
    fraction: float | None = None
    """Share of the work done in [0, 1], when known."""
    data: dict[str, Any] = field(default_factory=dict)
    """Structured progress (e.g. the leaderboard so far) for front ends that render it."""
    kind: Literal["tool_progress"] = "tool_progress"


@dataclass(frozen=True, slots=True)
class ToolFinished:
    """A tool call completed (``is_error`` when it returned an error to the model)."""

    call_id: str
    tool: str
    summary: str
    """Exactly what the model was shown; for a call the offline rules made, it is worded
    for the person instead (nobody else reads it)."""
    elapsed_s: float
    is_error: bool = False
    kind: Literal["tool_finished"] = "tool_finished"


@dataclass(frozen=True, slots=True)
class Table:
    """A table for the user: ``columns`` and ``rows`` of plain JSON values."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    name: str = ""
    """Stable name so a front end can update the same table (e.g. ``leaderboard``)."""
    call_id: str | None = None
    kind: Literal["table"] = "table"


@dataclass(frozen=True, slots=True)
class Figure:
    """A chart: Plotly JSON for interactive display, and a PNG file when one was made."""

    title: str
    plotly_json: str | None = None
    png_path: Path | None = None
    call_id: str | None = None
    kind: Literal["figure"] = "figure"


@dataclass(frozen=True, slots=True)
class File:
    """A file the user can download (model, model card, predictions, script)."""

    path: Path
    title: str
    mime: str = "application/octet-stream"
    call_id: str | None = None
    kind: Literal["file"] = "file"


@dataclass(frozen=True, slots=True)
class Choices:
    """A question with replies to pick: buttons in the browser, numbered lines in a terminal.

    Picking one sends that option's text as the user's next message.
    """

    question: str
    options: tuple[str, ...]
    call_id: str | None = None
    kind: Literal["choices"] = "choices"


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and estimated cost of one model call in this turn."""

    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    cost_usd: float | None = None
    kind: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should know that is not an error (offline mode, a cap hit...)."""

    message: str
    level: Literal["info", "warning"] = "info"
    kind: Literal["notice"] = "notice"


@dataclass(frozen=True, slots=True)
class Failed:
    """The turn (or part of it) failed; ``message`` is written for the user."""

    message: str
    reference: str | None = None
    """Log reference id for unexpected errors."""
    kind: Literal["failed"] = "failed"


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """The assistant finished its turn; ``text`` is the whole reply."""

    text: str
    stopped: bool = False
    kind: Literal["turn_finished"] = "turn_finished"


Event: TypeAlias = (
    TextDelta
    | ToolStarted
    | ToolProgress
    | ToolFinished
    | Table
    | Figure
    | File
    | Choices
    | Usage
    | Notice
    | Failed
    | TurnFinished
)
UserOutput: TypeAlias = Table | Figure | File | Notice | Choices
"""What a tool may return for the user besides its text summary."""
