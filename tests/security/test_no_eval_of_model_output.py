"""LLM05: no exec/eval of model output in the app process (a source scan that can fail).

Parses every Python file of the app process (``assistant/``, ``tools/``,
``ui/``, ``chat_app.py``, ``prompts``-loading code) and fails on any
call that turns a string into code or objects: ``eval``, ``exec``,
``compile``, ``__import__`` with a non-literal name, ``pickle.loads`` /
``joblib.load`` of anything the model chose, pandas ``DataFrame.eval`` /
``query`` / ``pd.eval`` (they evaluate expressions), ``subprocess`` with
``shell=True`` and ``os.system``. Code from the model runs only in the sandbox
kernel (a child process), and derived features go through a restricted grammar.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_FILES = sorted(
    [
        *ROOT.joinpath("assistant").rglob("*.py"),
        *ROOT.joinpath("tools").rglob("*.py"),
        *ROOT.joinpath("ui").rglob("*.py"),
        ROOT / "chat_app.py",
    ]
)
_BANNED_NAMES = {"eval", "exec", "compile", "__import__", "execfile"}
_BANNED_ATTRS = {"system", "popen", "eval", "query", "loads", "exec_module"}
# Reviewed uses that do not run model output: (file relative to the repo, name).
_ALLOWED: set[tuple[str, str]] = {
    ("tools/export/script.py", "compile"),  # syntax check of the generated script; never executed
}


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    rel = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in _BANNED_NAMES:
            if (rel, func.id) in _ALLOWED:
                continue
            found.append(f"{rel}:{node.lineno} {func.id}()")
        elif isinstance(func, ast.Attribute) and func.attr in _BANNED_ATTRS:
            owner = ast.unparse(func.value)
            if func.attr == "loads" and owner in {"json", "_json", "orjson"}:
                continue  # data, not code
            if func.attr == "query" and owner.split(".")[-1] in {"db", "_db"}:
                continue  # our SQLite wrapper: parameterised SQL, not a pandas expression
            if (rel, func.attr) in _ALLOWED:
                continue
            found.append(f"{rel}:{node.lineno} {owner}.{func.attr}()")
        for keyword in node.keywords:
            if (
                keyword.arg == "shell"
                and isinstance(keyword.value, ast.Constant)
                and keyword.value.value is True
            ):
                found.append(f"{rel}:{node.lineno} shell=True")
    return found


def test_the_scan_sees_the_app_sources() -> None:
    names = {p.name for p in APP_FILES}
    assert {"agent.py", "session.py", "replies.py", "train.py"} <= names
    assert len(APP_FILES) > 40


def test_the_scan_catches_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "probe.py"
    sample.write_text(
        "import os, subprocess\n"
        "eval(x)\nexec(y)\nos.system(z)\nframe.query(q)\n"
        "subprocess.run(c, shell=True)\npickle.loads(b)\ndb.query(sql)\njson.loads(s)\n"
    )
    assert len(_offences(sample)) == 6


def test_no_app_module_evaluates_strings_as_code() -> None:
    offences = [hit for path in APP_FILES for hit in _offences(path)]
    assert offences == []
