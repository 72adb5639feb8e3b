"""The parser's output: one tool call it recognised in a message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Intent:
    """A recognised request: the tool to call and its arguments."""

    tool: str
    arguments: dict[str, Any]
    note: str = field(default="", compare=False)
    """Said before the call, e.g. how a misspelt column was read."""
