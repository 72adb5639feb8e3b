"""Profile a table: column kinds and statistics, the task a target implies, warnings
(ID-like, leaking, duplicated, imbalanced, heavy-tailed) and meta-features.

Modules: ``profile`` (:func:`profile_table`), ``kinds``, ``task`` (task inference and the
target's rows), ``leakage``, ``duplicates``, ``meta`` (meta-features for warm starts).
"""

from __future__ import annotations

from tools._lazy import lazy_exports

_WHERE = {
    "Task": "tools.analyze.kinds",
    "TaskChoice": "tools.analyze.kinds",
    "ColumnKind": "tools.analyze.kinds",
    "ColumnProfile": "tools.analyze.kinds",
    "DataWarning": "tools.analyze.kinds",
    "Profile": "tools.analyze.profile",
    "profile_table": "tools.analyze.profile",
    "HIGH_CARDINALITY": "tools.analyze.profile",
    "IMBALANCE_RATIO": "tools.analyze.profile",
    "HEAVY_TAIL_SKEW": "tools.analyze.profile",
    "FEW_ROWS": "tools.analyze.profile",
    "infer_task": "tools.analyze.task",
    "choose_task": "tools.analyze.task",
    "prepare_target": "tools.analyze.task",
    "MAX_CLASSES_FOR_INTEGER_TARGET": "tools.analyze.task",
    "MAX_CLASS_SHARE_OF_ROWS": "tools.analyze.task",
    "MAX_FORCED_CLASSES": "tools.analyze.task",
    "LEAKAGE_THRESHOLD": "tools.analyze.leakage",
    "LEAKAGE_SAMPLE_ROWS": "tools.analyze.leakage",
    "LEAKAGE_TREE_CHECKS": "tools.analyze.leakage",
    "DUPLICATE_ROWS_SHARE": "tools.analyze.duplicates",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_exports(__name__, _WHERE)
