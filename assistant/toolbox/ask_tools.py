"""A tool to ask the user back: a question with a few replies to pick from."""

from __future__ import annotations

from assistant.context import ToolContext
from assistant.errors import ToolError
from assistant.events import Choices
from assistant.toolbox._format import for_model, truncate
from assistant.toolkit import ToolResult

MAX_OPTIONS = 6
_MAX_OPTION_CHARS = 120


def ask_user(ctx: ToolContext, question: str, options: list[str]) -> ToolResult:
    """Ask the user a question instead of guessing (e.g. which column to predict), offering a
    few replies to pick from; they appear as buttons and the pick arrives as the user's next
    message. End your turn after calling it.

    Args:
        question: The question, in one or two plain sentences.
        options: 1 to 6 replies, each a complete short message such as "predict churn".
    """
    del ctx
    picks = tuple(
        dict.fromkeys(truncate(o.strip(), _MAX_OPTION_CHARS) for o in options if o.strip())
    )
    if not picks or len(picks) > MAX_OPTIONS:
        raise ToolError(f"Give between 1 and {MAX_OPTIONS} non-empty options.")
    payload = {
        "summary": f"Asked the user: {question}",
        "question": question,
        "options": list(picks),
    }
    return ToolResult(
        for_model=for_model(payload), for_user=(Choices(question, picks),), facts=payload
    )
