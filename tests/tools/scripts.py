"""Run an exported ``train.py`` the way a user would, without mlchat importable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

_RUN_WITHOUT_MLCHAT = (
    "import runpy, sys; sys.modules['tools'] = None; sys.modules['assistant'] = None; "
    "script = sys.argv[1]; sys.argv = sys.argv[1:]; runpy.run_path(script, run_name='__main__')"
)


def run_exported_script(script: Path, data: Path) -> tuple[float, str]:
    """Run ``script`` on ``data`` in its folder; return the CV score it prints and the metric."""
    completed = subprocess.run(
        [sys.executable, "-c", _RUN_WITHOUT_MLCHAT, str(script), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=script.parent,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    found = re.search(r"^(\w+): (-?[\d.]+) ± ", completed.stdout, re.MULTILINE)
    assert found, completed.stdout
    return float(found.group(2)), found.group(1)
