"""Reading the user's tables: load a file (CSV, TSV, Parquet, Excel, JSON), parse its
columns, and the same parsing as the first step of the saved model; safe file writes.

Modules: ``load`` (the entry point), ``formats``, ``delimited``, ``excel`` (with
``excel_child``), ``json_tables``, ``input_limits`` (decoded-size limits), ``columns``
(column parsing, ``RawTableParser``), ``raw_rows`` (the saved raw-rows pipeline),
``csv_safety``, ``safe_files``, ``atomic``.
"""

from __future__ import annotations

from tools._lazy import lazy_exports

_WHERE = {
    "LoadedTable": "tools.io.load",
    "load_table": "tools.io.load",
    "file_sha256": "tools.io.load",
    "resolve_column": "tools.io.load",
    "RawTableParser": "tools.io.columns",
    "ColumnParse": "tools.io.columns",
    "NULL_VALUES": "tools.io.columns",
    "clean_types": "tools.io.columns",
    "parse_column": "tools.io.columns",
    "cell_text": "tools.io.columns",
    "RawRowsModel": "tools.io.raw_rows",
    "saved_pipeline": "tools.io.raw_rows",
    "parse_step": "tools.io.raw_rows",
    "fitted_model": "tools.io.raw_rows",
    "label_target": "tools.io.raw_rows",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_exports(__name__, _WHERE)
