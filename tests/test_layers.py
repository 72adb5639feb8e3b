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


def test_assistant_never_imports_chainlit_or_the_ui() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] in {"chainlit", "chat_app", "ui"}
        )
        for path in (ROOT / "assistant").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_ui_package_and_the_entry_point_import_chainlit() -> None:
    importers = {
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if not {".venv", "tests", "bench", "build"} & set(path.relative_to(ROOT).parts)
        and any(m.split(".")[0] == "chainlit" for m in _imported_modules(path))
    }
    assert importers, "the scan found no Chainlit import at all"
    assert {p for p in importers if not p.startswith("ui/") and p != "chat_app.py"} == set()
    assert not {"chat_ui.py", "chat_panel.py", "chat_login.py"} & {
        p.name for p in ROOT.glob("*.py")
    }, "the Chainlit modules live in ui/"
