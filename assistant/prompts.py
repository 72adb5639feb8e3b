"""Prompt templates: text files in ``prompts/``, loaded by name, ``$variables`` substituted."""

from __future__ import annotations

from pathlib import Path
from string import Template

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


def render_prompt(name: str, **variables: object) -> str:
    """Render ``prompts/<name>.txt``; a missing variable raises ``KeyError`` naming it."""
    template = Template((PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8"))
    return template.substitute({k: str(v) for k, v in variables.items()})


def prompt_names() -> list[str]:
    """Names of every prompt file."""
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))
