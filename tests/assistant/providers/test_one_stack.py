"""The model-call stack is one package: one protocol, its wrappers beside it, one SDK error map."""

from __future__ import annotations

import ast
from pathlib import Path

from assistant.providers import Model, OfflineAtCap, ThreadModels

ROOT = Path(__file__).resolve().parents[3]
PROVIDERS = ROOT / "assistant" / "providers"
SDK_MODULES = ("openai", "openai_responses", "anthropic", "gemini")


def _protocols_with_stream(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(isinstance(b, ast.Name) and b.id == "Protocol" for b in node.bases)
        and any(isinstance(f, ast.FunctionDef) and f.name == "stream" for f in node.body)
    ]


def test_the_wrappers_live_beside_the_model_protocol() -> None:
    assert ThreadModels.__module__ == "assistant.providers.thread_models"
    assert OfflineAtCap.__module__ == "assistant.providers.spend_gate"
    assert Model.__module__ == "assistant.providers.base"
    assert not (ROOT / "assistant" / "thread_models.py").exists()
    assert not (ROOT / "assistant" / "spend" / "fallback.py").exists()


def test_the_streaming_protocols_are_declared_once() -> None:
    declared = {
        str(path.relative_to(ROOT)): names
        for path in (ROOT / "assistant").rglob("*.py")
        if (names := _protocols_with_stream(path))
    }
    assert declared == {"assistant/providers/base.py": ["Provider", "Model"]}


def _calls(path: Path) -> tuple[set[str], set[str], set[str]]:
    """The functions ``path`` defines, the names it calls, and the ``self.`` methods it calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    calls = [n.func for n in ast.walk(tree) if isinstance(n, ast.Call)]
    names = {f.id for f in calls if isinstance(f, ast.Name)}
    methods = {
        f.attr
        for f in calls
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "self"
    }
    return functions, names, methods


def test_every_sdk_provider_maps_errors_through_the_one_shared_map() -> None:
    _, adapter_calls, _ = _calls(PROVIDERS / "_adapter.py")
    assert "sdk_errors" in adapter_calls  # SdkAdapter._errors is the shared map, bound
    for name in SDK_MODULES:
        functions, called, methods = _calls(PROVIDERS / f"{name}.py")
        assert "_map_errors" not in functions, name
        assert "_errors" not in functions, name
        assert "sdk_errors" in called or "_errors" in methods, name
