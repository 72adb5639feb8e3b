"""What the agent loop does with a reply that ended in an unusual way.

The providers map every finish reason into one set
(:data:`~assistant.providers.base.FinishReason`); :func:`plan_end` turns the
reason of one reply into a plan for the loop:

- ``stop`` / ``tool_calls`` with content: proceed as usual;
- an empty reply: ask once more, then tell the user (an empty assistant
  message is never stored: Gemini rejects ``parts: []`` later);
- ``length``: a cut answer is continued once (the cut text stays shown, the
  model gets it back with a request to go on from where it stopped); cut a
  second time, it is kept with a note saying so; a cut tool call is asked for
  again once, with the reason in context;
- ``malformed_call``: ask again once with the error in context, then tell the user;
- ``context_exceeded``: trim the history harder and ask again once;
- ``refusal``: show the model's own words (or say it declined) and store them;
- ``blocked`` / ``error`` (a stream that ended without its end is an ``error``):
  tell the user why, keep what was shown, and end it with :data:`CUT_NOTE` so
  a cut answer never reads as a whole one, then or on reload.

Retry notes travel only with the next request (``extra``); they are not stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assistant.events import Notice
from assistant.providers._assembly import CUT_CALL
from assistant.providers.base import FinishReason, Message

CALL_CHECK = "call_check"
"""``name`` of the turn-local user-role message that explains why a reply is asked for again."""

CONTINUE_NOTE = (
    "Your answer was cut off at the output token limit. Continue it exactly where it "
    "stopped, without repeating anything and without starting over."
)

LIMIT_NOTE = (
    "\n\n(This answer was cut off at the output token limit. Ask me to continue, or raise "
    "MLCHAT_MAX_OUTPUT_TOKENS.)"
)

CUT_NOTE = "This answer was cut short"
"""Start of the note that ends a reply the provider stopped before it was complete."""
UNENDED = "the reply stopped before the model finished it"
"""``detail`` of a stream that ended without saying how (read as an ``error`` end)."""


@dataclass(slots=True)
class Retries:
    """Which one-time retries a turn has used."""

    call: bool = False
    empty: bool = False
    context: bool = False
    length: bool = False


@dataclass(frozen=True, slots=True)
class EndPlan:
    """What to do with a reply.

    ``action``: ``proceed`` (the usual path), ``again`` (ask the model again
    with ``extra`` appended, the history trimmed harder when ``squeeze``; with
    ``keep_text`` the reply's text stays shown and the next reply continues it),
    or ``finish`` (end the turn: show ``note``, store ``store`` when non-empty,
    emit ``notice``; ``stopped`` marks the turn as not completed).
    """

    action: Literal["proceed", "again", "finish"]
    extra: tuple[Message, ...] = ()
    squeeze: bool = False
    note: str = ""
    store: str = ""
    notice: Notice | None = None
    stopped: bool = False
    keep_text: bool = False


def plan_end(
    reason: FinishReason, detail: str, text: str, has_calls: bool, retries: Retries
) -> EndPlan:
    """The plan for a reply that ended with ``reason`` (updates ``retries``)."""
    if reason in ("stop", "tool_calls"):
        if has_calls or text.strip():
            return EndPlan("proceed")
        if not retries.empty:
            retries.empty = True
            return EndPlan("again", extra=(_check("Your last reply was empty. Answer again."),))
        return _finish(text, "The model sent an empty answer twice. Please ask again.")
    if reason == "length" and detail != CUT_CALL:
        if text.strip() and not retries.length:
            retries.length = True
            return EndPlan(
                "again",
                extra=(Message("assistant", text), _check(CONTINUE_NOTE)),
                keep_text=True,
            )
        return EndPlan("finish", note=LIMIT_NOTE, store=text + LIMIT_NOTE, stopped=True)
    if reason in ("length", "malformed_call"):
        problem = detail or "it could not be read"
        if not retries.call:
            retries.call = True
            hint = " Keep the arguments shorter." if reason == "length" else ""
            return EndPlan(
                "again",
                extra=(
                    _check(
                        f"Your last tool call could not be used: {problem}. Call the tool again "
                        f"with complete, valid JSON arguments.{hint}"
                    ),
                ),
                notice=Notice("The model's tool call could not be used; asking it again."),
            )
        return _finish(text, f"The model sent an unusable tool call twice ({problem}).")
    if reason == "context_exceeded":
        if not retries.context:
            retries.context = True
            return EndPlan(
                "again",
                squeeze=True,
                notice=Notice("The conversation is too long for the model; trimming older turns."),
            )
        return _finish(
            text,
            "The conversation is too long for this model even after trimming. Start a new "
            "conversation, or lower MLCHAT_PROMPT_TOKENS.",
        )
    if reason == "refusal":
        said = text.strip()
        note = "" if said else "The model declined to answer this request."
        return EndPlan(
            "finish",
            note=note,
            store=said or note,
            notice=Notice("The model declined this request.", level="warning"),
        )
    if reason == "blocked":
        why = f" ({detail})" if detail else ""
        return _finish(text, f"The provider's safety filter stopped this answer{why}.")
    why = f" ({detail})" if detail else ""
    return _finish(text, f"The model stopped for an unexpected reason{why}. Please try again.")


def _check(content: str) -> Message:
    return Message("user", content, name=CALL_CHECK)


def _finish(text: str, message: str) -> EndPlan:
    """End the turn with ``message`` as a notice; text already shown gets a note at its end."""
    note = f"\n\n({CUT_NOTE}: {message})" if text.strip() else ""
    return EndPlan(
        "finish",
        note=note,
        store=text + note if text.strip() else "",
        notice=Notice(message, level="warning"),
        stopped=True,
    )
