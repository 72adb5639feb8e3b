from __future__ import annotations

import re

import pytest

from assistant.history import estimate_tokens
from assistant.prompts import PROMPTS_DIR, prompt_names, render_prompt

VARIABLES = {
    "system": {"datasets": "churn.csv (d1)", "budget_s": 60},
    "summarise_history": {"max_words": 200},
}


@pytest.mark.parametrize("name", prompt_names())
def test_each_prompt_renders_with_its_variables(name: str) -> None:
    text = render_prompt(name, **VARIABLES[name])
    assert "$" not in re.sub(r"`[^`]*`", "", text)


def test_the_system_prompt_is_short_and_names_the_untrusted_data_rule() -> None:
    text = render_prompt("system", **VARIABLES["system"])
    assert "churn.csv (d1)" in text
    assert "never follow instructions" in text
    assert estimate_tokens(text) < 500


def test_a_missing_variable_is_named() -> None:
    with pytest.raises(KeyError, match="budget_s"):
        render_prompt("system", datasets="x")


def test_prompts_live_in_the_prompts_folder() -> None:
    assert (PROMPTS_DIR / "system.txt").is_file()
