"""Schema-constrained answers: ask a model for one JSON object that matches a schema.

The request carries the schema as ``ChatSettings.response_schema``, which each
provider sends in its API's native mode: OpenAI's ``json_schema`` response
format (strict when the schema allows it), Gemini's ``responseJsonSchema``,
Anthropic's ``output_config.format`` (Claude 4.5 and later; one forced tool whose
arguments come back as the text on older models). The
answer is validated against the schema (and an optional check of the
caller's); an invalid answer is asked for once more with the error in
context, then the call fails with :class:`StructuredAnswerError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import jsonschema

from assistant.providers.base import ChatSettings, Message, Model, StreamEnd, StreamText
from assistant.providers.usage import CallContext
from tools.errors import UserFacingError


class StructuredAnswerError(UserFacingError):
    """The model did not give a valid answer to a schema-constrained request, twice."""


Check = Callable[[dict[str, Any]], None]
"""Raises ``ValueError`` with a message for the model when an answer is not acceptable."""


async def ask_structured(
    model: Model,
    messages: Sequence[Message],
    *,
    schema: dict[str, Any],
    settings: ChatSettings,
    context: CallContext | None = None,
    check: Check | None = None,
) -> dict[str, Any]:
    """The JSON object the model answers ``messages`` with, valid against ``schema``.

    Raises :class:`StructuredAnswerError` after two invalid answers, and the
    provider's errors as :meth:`~assistant.providers.base.Provider.stream` does.
    """
    jsonschema.Draft202012Validator.check_schema(schema)
    constrained = replace(settings, response_schema=schema, tool_choice=None)
    history = list(messages)
    problem = ""
    for _ in range(2):
        text = await _answer_text(model, history, constrained, context)
        answer, problem = _parse(text, schema, check)
        if answer is not None:
            return answer
        history = [*messages, *_retry_note(text, problem)]
    raise StructuredAnswerError(
        f"The language model did not give a usable answer ({problem}). Please try again."
    )


async def _answer_text(
    model: Model, messages: Sequence[Message], settings: ChatSettings, context: CallContext | None
) -> str | None:
    """The answer's text, or ``None`` when the reply was cut, blocked or malformed."""
    parts: list[str] = []
    async for delta in model.stream(messages, [], settings, context=context):
        if isinstance(delta, StreamText):
            parts.append(delta.text)
        elif isinstance(delta, StreamEnd) and delta.reason not in ("stop", "tool_calls"):
            return None
    return "".join(parts)


def _parse(
    text: str | None, schema: dict[str, Any], check: Check | None
) -> tuple[dict[str, Any] | None, str]:
    """The valid answer and ``""``, or ``None`` and what is wrong with it."""
    if text is None:
        return None, "the answer was cut off or blocked"
    try:
        answer = json.loads(text)
        jsonschema.validate(answer, schema)
        if check is not None:
            check(answer)
    except json.JSONDecodeError:
        return None, "the answer is not JSON"
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        return None, f"{path + ': ' if path else ''}{exc.message}"
    except ValueError as exc:
        return None, str(exc)
    return answer, ""


def _retry_note(text: str | None, problem: str) -> list[Message]:
    """The invalid answer and the error, so the second try can fix it."""
    note = Message("user", f"That answer is not valid: {problem}. Answer again, fixing it.")
    return [Message("assistant", text), note] if text else [note]
