"""The import direction chat_app -> assistant -> tools is enforced by parsing the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = {
        n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0
    }
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return modules


def test_tools_never_import_assistant_or_chainlit() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m
            for m in _imported_modules(path)
            if m.split(".")[0] in {"assistant", "chainlit", "chat_app"}
        )
        for path in (ROOT / "tools").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_assistant_imports_chainlit_only_in_the_data_layer_adapter() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] in {"chainlit", "chat_app"}
        )
        for path in (ROOT / "assistant").rglob("*.py")
        if path.name not in {"chainlit_layer.py"}
    }
    assert {k: v for k, v in offenders.items() if v} == {}
