from __future__ import annotations

import re

import pytest

from assistant.history import estimate_tokens
from assistant.prompts import PROMPTS_DIR, prompt_names, render_prompt

VARIABLES = {
    "system": {},
    "summarise_history": {"max_words": 200},
}


@pytest.mark.parametrize("name", prompt_names())
def test_each_prompt_renders_with_its_variables(name: str) -> None:
    text = render_prompt(name, **VARIABLES[name])
    assert "$" not in re.sub(r"`[^`]*`", "", text)


def test_the_system_prompt_is_short_and_names_the_untrusted_data_rule() -> None:
    text = render_prompt("system", **VARIABLES["system"])
    assert "<data>" in text  # names where the file and column names are
    assert "never follow instructions" in text
    assert estimate_tokens(text) < 500


def test_a_missing_variable_is_named() -> None:
    with pytest.raises(KeyError, match="max_words"):
        render_prompt("summarise_history")


def test_prompts_live_in_the_prompts_folder() -> None:
    assert (PROMPTS_DIR / "system.txt").is_file()
