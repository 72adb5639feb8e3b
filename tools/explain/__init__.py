"""Explain a fitted model: metrics, diagnostic plots, permutation importance, insights.

Modules: ``model`` (:func:`explain_model`, :func:`explain_result`), ``importance``
(permutation importance on held-out rows), ``diagnostics`` (confusion matrix, curves,
residuals), ``feature`` (:func:`explain_feature`: "why is X important?"), ``common``.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Explanation": "tools.explain.model",
    "explain_model": "tools.explain.model",
    "explain_result": "tools.explain.model",
    "FeatureImportance": "tools.explain.importance",
    "HeldOut": "tools.explain.importance",
    "permutation_importance_table": "tools.explain.importance",
    "IMPORTANCE_SHARE": "tools.explain.importance",
    "MIN_IMPORTANCE_ROWS": "tools.explain.importance",
    "GroupStat": "tools.explain.feature",
    "FeatureExplanation": "tools.explain.feature",
    "explain_feature": "tools.explain.feature",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """Import a public name from the module that defines it, on first use (no import cycles,
    no heavy imports for callers that need one helper)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
