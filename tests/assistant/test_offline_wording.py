"""Tool errors written for a model are reworded before a person reads them offline (issue 18)."""

from __future__ import annotations

import json
import re

import pytest

from assistant.offline.wording import for_person
from assistant.toolbox import all_tools

MODEL_ADDRESSED = [
    "Which column should I predict? Ask the user, or call profile_dataset to see the columns.",
    "No file is attached to this conversation yet. Ask the user to attach a CSV, TSV, Parquet, "
    "Excel or JSON file.",
    "The newest file (new.csv) is the one the model was trained on. Ask the user to attach the "
    "file to predict on, or pass its dataset_id explicitly.",
    "The attached file 'a.csv' is no longer a regular file in this conversation's uploads, so I "
    "will not read it. Ask the user to attach it again.",
    "Invalid arguments for plot_columns: missing required argument 'x'. Fix them and call again.",
    "The train_models tool failed unexpectedly (reference 1a2b3c4d).",
    "There is no trained model yet: train one first (train_models).",
    "2 of 2 feature(s) were refused and nothing was scored. Fix them and call again:\n- a: bad",
    "Give at least one plan field to change.",
]


@pytest.mark.parametrize("message", MODEL_ADDRESSED)
def test_no_instruction_to_a_model_or_tool_name_reaches_the_person(message: str) -> None:
    worded = for_person("train_models", message)
    tool_names = {t.name for t in all_tools()}
    assert not re.search(r"\bask the user\b|\bcall (again|\w+_\w+)\b|dataset_id", worded, re.I)
    assert not any(re.search(rf"\b{name}\b", worded) for name in tool_names), worded


def test_specific_errors_get_a_next_step_in_the_persons_terms() -> None:
    assert for_person("train_models", MODEL_ADDRESSED[0]) == (
        "Which column should I predict? Say, for example, “predict churn” with one of the "
        "file's column names, or “show the data” to see them."
    )
    assert for_person("train_models", MODEL_ADDRESSED[5]) == (
        "Training failed on our side (reference 1a2b3c4d). Please try again; if it keeps "
        "failing, tell us the reference."
    )
    assert for_person("plot_columns", MODEL_ADDRESSED[4]).startswith("Plotting needs something")


def test_a_message_already_for_a_person_is_kept() -> None:
    text = "The file has no column named “chrn”. Closest: churn"
    assert for_person("train_models", text) == text + "."


def test_a_successful_summary_speaks_to_the_person_and_keeps_its_facts() -> None:
    from assistant.offline.wording import summary_for_person

    content = '{"summary": "Asked the user: Which column?", "options": ["predict churn"]}'
    assert json.loads(summary_for_person(content)) == {
        "summary": "Asked you: Which column?",
        "options": ["predict churn"],
    }
    kept = '{"summary": "Plotted churn (value_counts) from 5 rows"}'
    assert summary_for_person(kept) == kept
    assert summary_for_person("not json") == "not json"
