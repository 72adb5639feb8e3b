"""Chainlit's own advisories: the installed and declared versions are past the known fixes.

CVE-2026-22218 (element file read) and CVE-2026-22219 (element SSRF) are fixed in
2.9.4; CVE-2026-45018/45019 (MCP command injection / SSRF) in 2.12.0 (see
../shared/notes/reliability.md). That element and file URLs cannot read outside
the data folder is shown against the running server in
tests/e2e/test_chat.py::test_file_urls_need_the_owner_and_cannot_leave_the_data_folder
and on the data layer in tests/ui/test_data_layer.py.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXED = (2, 12, 0)


def _parse(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_the_installed_chainlit_has_the_advisory_fixes() -> None:
    assert _parse(version("chainlit")) >= FIXED


def test_the_declared_dependency_cannot_resolve_to_a_vulnerable_chainlit() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    specs = [d for d in project["project"]["dependencies"] if re.match(r"chainlit\b", d)]
    assert len(specs) == 1, specs
    lower = re.search(r">=\s*([\d.]+)", specs[0])
    assert lower is not None and _parse(lower.group(1)) >= FIXED, specs[0]


def test_chainlit_mcp_is_not_enabled() -> None:
    config = (ROOT / ".chainlit" / "config.toml").read_text()
    mcp = tomllib.loads(config).get("features", {}).get("mcp", {})
    assert not any(isinstance(v, dict) and v.get("enabled") for v in mcp.values()) and mcp.get(
        "enabled"
    ) in (None, False)
