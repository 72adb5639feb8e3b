"""Tools the model can call: typed functions whose signature and docstring are the spec.

:func:`tool` turns a function ``fn(ctx, a: int, *, b: str = "x") -> ToolResult``
into a :class:`Tool`: a pydantic model validates the arguments (unknown
fields, wrong types and missing values are refused), its JSON schema is what
the model sees, and each parameter's description comes from the Google-style
``Args:`` section of the docstring. No schema is written by hand, so none can
drift from the code.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from assistant.errors import ToolError
from assistant.events import UserOutput
from assistant.providers.base import ToolSpec


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool returns: one face for the model, one for the user.

    ``for_model`` is a compact, token-budgeted text (never raw rows beyond a
    small sample); ``for_user`` holds tables, figures and files for the UI;
    ``facts`` holds the numbers the result states, keyed by name, for the
    offline narrator and the grounding check.
    """

    for_model: str
    for_user: tuple[UserOutput, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)


ToolFunction = Callable[..., ToolResult | Awaitable[ToolResult]]


@dataclass(frozen=True, slots=True)
class Tool:
    """A callable tool with its validated argument model and JSON spec."""

    name: str
    description: str
    function: ToolFunction
    arguments_model: type[BaseModel]
    changes_state: bool = False
    """Whether a call changes the conversation's state (plan, runs, kernel): such calls run
    one at a time in the model's order, before the read-only calls of the same batch."""

    @property
    def spec(self) -> ToolSpec:
        """The spec sent to the model."""
        return ToolSpec(self.name, self.description, _compact_schema(self.arguments_model))

    def parse_arguments(self, arguments_json: str) -> dict[str, Any]:
        """Validate the model's JSON arguments; raise :class:`ToolError` saying what is wrong."""
        try:
            parsed = self.arguments_model.model_validate_json(arguments_json or "{}")
        except ValidationError as exc:
            raise ToolError(_describe_validation_error(self.name, exc)) from None
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}

    async def call(self, ctx: Any, arguments: dict[str, Any]) -> ToolResult:
        """Run the tool with already validated arguments (sync tools run in a thread)."""
        if inspect.iscoroutinefunction(self.function):
            return await self.function(ctx, **arguments)
        return await asyncio.to_thread(self.function, ctx, **arguments)  # type: ignore[arg-type]


_STATE_CHANGING = "__mlchat_changes_state__"


def changes_state(function: ToolFunction) -> ToolFunction:
    """Mark a tool function as changing the conversation's state (see :attr:`Tool.changes_state`)."""
    setattr(function, _STATE_CHANGING, True)
    return function


def tool(function: ToolFunction) -> Tool:
    """Build a :class:`Tool` from a function whose first parameter is the context."""
    hints = typing.get_type_hints(function, include_extras=True)
    parameters = list(inspect.signature(function).parameters.values())[1:]
    summary, arg_docs = _parse_docstring(inspect.getdoc(function) or "")
    if not summary:
        raise TypeError(f"tool {function.__name__} needs a docstring: it is the model's spec")
    fields: dict[str, Any] = {}
    for parameter in parameters:
        if parameter.name not in hints:
            raise TypeError(f"tool {function.__name__}: parameter {parameter.name} needs a type")
        if parameter.name not in arg_docs:
            raise TypeError(f"tool {function.__name__}: document {parameter.name} under Args:")
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[parameter.name] = (
            hints[parameter.name],
            Field(default, description=arg_docs[parameter.name]),
        )
    model = create_model(  # type: ignore[call-overload]
        f"{function.__name__}_arguments",
        __config__=ConfigDict(extra="forbid", strict=False),
        **fields,
    )
    return Tool(
        function.__name__,
        summary,
        function,
        model,
        changes_state=bool(getattr(function, _STATE_CHANGING, False)),
    )


def tool_specs(tools: Sequence[Tool]) -> list[ToolSpec]:
    """The specs of ``tools`` in order."""
    return [t.spec for t in tools]


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its text before ``Args:`` and the per-argument lines."""
    head, _, rest = doc.partition("\nArgs:")
    args: dict[str, str] = {}
    current: str | None = None
    for line in rest.splitlines():
        if line.strip() and not line.startswith(" "):
            break  # the next section (Returns:, Raises:, ...)
        match = re.match(r"^\s{2,8}(\w+)(?: \([^)]*\))?:\s*(.*)$", line)
        if match:
            current = match.group(1)
            args[current] = match.group(2).strip()
        elif current and line.strip():
            args[current] += " " + line.strip()
    return head.strip(), args


def _compact_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema without titles (fewer tokens, same meaning)."""
    schema = model.model_json_schema()

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    compact = strip(schema)
    compact.setdefault("properties", {})
    compact["additionalProperties"] = False
    return compact


def _describe_validation_error(tool_name: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "arguments"
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown argument '{where}'")
        elif error["type"] == "missing":
            problems.append(f"missing required argument '{where}'")
        elif error["type"] == "json_invalid":
            problems.append("the arguments are not valid JSON")
        else:
            problems.append(f"'{where}': {error['msg']}")
    return (
        f"Invalid arguments for {tool_name}: " + "; ".join(problems) + ". Fix them and call again."
    )
