"""Schema-constrained answers: ask a model for one JSON object that matches a schema.

The request forces one tool whose parameters are the schema
(``ChatSettings.tool_choice``), which every provider supports natively:
OpenAI's named ``tool_choice``, Anthropic's ``tool_choice: {"type": "tool"}``,
Gemini's ``functionCallingConfig`` mode ``ANY`` limited to that function, and
llama.cpp's grammar-constrained function call. The arguments are validated
against the schema (and an optional check of the caller's); an invalid answer
is asked for once more with the error in context, then the call fails with
:class:`StructuredAnswerError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import jsonschema

from assistant.providers.base import (
    ChatSettings,
    Message,
    Model,
    StreamEnd,
    StreamToolCall,
    ToolCall,
    ToolSpec,
)
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
    name: str,
    description: str,
    schema: dict[str, Any],
    settings: ChatSettings,
    context: CallContext | None = None,
    check: Check | None = None,
) -> dict[str, Any]:
    """The JSON object the model answers ``messages`` with, valid against ``schema``.

    ``name`` and ``description`` present the schema to the model as a tool.
    Raises :class:`StructuredAnswerError` after two invalid answers, and the
    provider's errors as :meth:`~assistant.providers.base.Provider.stream` does.
    """
    jsonschema.Draft202012Validator.check_schema(schema)
    spec = ToolSpec(name, description, schema)
    forced = replace(settings, tool_choice=name)
    history = list(messages)
    problem = ""
    for _ in range(2):
        call = await _one_call(model, history, spec, forced, context)
        problem = _problem(call, name, schema, check)
        if not problem:
            assert call is not None
            return json.loads(call.arguments)
        history = [*messages, *_retry_note(call, problem)]
    raise StructuredAnswerError(
        f"The language model did not give a usable answer ({problem}). Please try again."
    )


async def _one_call(
    model: Model,
    messages: Sequence[Message],
    spec: ToolSpec,
    settings: ChatSettings,
    context: CallContext | None,
) -> ToolCall | None:
    call: ToolCall | None = None
    async for delta in model.stream(messages, [spec], settings, context=context):
        if isinstance(delta, StreamToolCall) and call is None:
            call = delta.call
        elif isinstance(delta, StreamEnd) and delta.reason not in ("stop", "tool_calls"):
            return None  # a cut, blocked or malformed answer
    return call


def _problem(call: ToolCall | None, name: str, schema: dict[str, Any], check: Check | None) -> str:
    """What is wrong with the answer, or ``""``."""
    if call is None:
        return f"no call of {name}"
    if call.name != name:
        return f"it called {call.name} instead of {name}"
    try:
        answer = json.loads(call.arguments)
        jsonschema.validate(answer, schema)
        if check is not None:
            check(answer)
    except json.JSONDecodeError:
        return "the arguments are not JSON"
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        return f"{path + ': ' if path else ''}{exc.message}"
    except ValueError as exc:
        return str(exc)
    return ""


def _retry_note(call: ToolCall | None, problem: str) -> list[Message]:
    """The invalid answer and the error, so the second try can fix it."""
    note = Message("user", f"That answer is not valid: {problem}. Answer again, fixing it.")
    if call is None:
        return [note]
    return [
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", f"Invalid: {problem}", tool_call_id=call.id, name=call.name, is_error=True),
        note,
    ]
