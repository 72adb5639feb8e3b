from __future__ import annotations

import json
from typing import Literal

import pytest

from assistant.errors import ToolError
from assistant.toolkit import ToolResult, tool


def train_model(
    ctx: object, target: str, *, metric: Literal["auc", "rmse"] | None = None, budget_s: int = 60
) -> ToolResult:
    """Train candidate models to predict a column.

    Args:
        target: Column to predict, spelled as in the table.
        metric: Score to rank by; the plan's default when omitted.
        budget_s: Wall-clock seconds for
            all candidates together.
    """
    return ToolResult(for_model=f"{ctx}:{target}:{metric}:{budget_s}")


def test_schema_comes_from_the_signature_and_docstring() -> None:
    spec = tool(train_model).spec
    assert spec.name == "train_model"
    assert spec.description == "Train candidate models to predict a column."
    params = spec.parameters
    assert params["required"] == ["target"]
    assert params["additionalProperties"] is False
    assert params["properties"]["budget_s"] == {
        "type": "integer",
        "default": 60,
        "description": "Wall-clock seconds for all candidates together.",
    }
    assert {"enum": ["auc", "rmse"], "type": "string"} in params["properties"]["metric"]["anyOf"]
    assert "title" not in json.dumps(params)


async def test_valid_arguments_reach_the_function_with_defaults() -> None:
    t = tool(train_model)
    args = t.parse_arguments('{"target": "churn", "budget_s": "30"}')
    result = await t.call("ctx", args)
    assert result.for_model == "ctx:churn:None:30"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"budget_s": 5}', "missing required argument 'target'"),
        ('{"target": "y", "colour": "red"}', "unknown argument 'colour'"),
        ('{"target": "y", "metric": "f2"}', "'metric'"),
        ('{"target": "y", "budget_s": "soon"}', "'budget_s'"),
        ('{"target": ', "not valid JSON"),
    ],
)
def test_bad_arguments_become_a_message_the_model_can_act_on(arguments: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        tool(train_model).parse_arguments(arguments)


def test_a_tool_without_argument_docs_is_refused_at_definition() -> None:
    def undocumented(ctx: object, x: int) -> ToolResult:
        """Do a thing."""
        return ToolResult("")

    with pytest.raises(TypeError, match="document x"):
        tool(undocumented)
