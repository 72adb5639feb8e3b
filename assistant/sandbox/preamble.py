"""The code every fresh kernel runs first: plot settings and the dataset loaded as ``df``.

The preamble is self-contained (pandas, matplotlib and plotly only; never
mlchat's own modules) because it runs inside the sandbox.
"""

from __future__ import annotations

from pathlib import PurePath

_READERS = {
    ".csv": "read_csv",
    ".tsv": "read_csv",
    ".txt": "read_csv",
    ".parquet": "read_parquet",
    ".pq": "read_parquet",
    ".xlsx": "read_excel",
    ".xls": "read_excel",
    ".json": "read_json",
    ".jsonl": "read_json",
}

_PLOTS = """\
import os as _os
_os.environ.setdefault("PLOTLY_RENDERER", "plotly_mimetype")
_os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
import sys as _sys
if "plotly.io" in _sys.modules:
    _sys.modules["plotly.io"].renderers.default = "plotly_mimetype"
del _os, _sys
"""


def preamble_code(dataset: str | None) -> str:
    """Python source run in a fresh kernel; ``dataset`` is a path as the kernel sees it."""
    if dataset is None:
        return _PLOTS
    suffix = PurePath(dataset).suffix.lower()
    reader = _READERS.get(suffix, "read_csv")
    options = ""
    if suffix == ".tsv":
        options = ", sep='\\t'"
    elif suffix == ".jsonl":
        options = ", lines=True"
    elif suffix == ".xlsx":
        options = ", engine='openpyxl'"  # pandas warns that its default engine will change
    return _PLOTS + (
        "import pandas as pd\n"
        "try:\n"
        f"    df = pd.{reader}({dataset!r}{options})\n"
        "except Exception as _exc:\n"
        "    import sys as _sys\n"
        f"    print('Could not load', {PurePath(dataset).name!r}, 'as df:', _exc, file=_sys.stderr)\n"
        "    del _sys, _exc\n"
    )
