"""Explain a fitted model: metrics, diagnostic plots, permutation importance, insights.

Modules: ``model`` (:func:`explain_model`, :func:`explain_result`), ``importance``
(permutation importance on held-out rows), ``diagnostics`` (confusion matrix, curves,
residuals), ``feature`` (:func:`explain_feature`: "why is X important?"), ``common``.
"""

from __future__ import annotations

from tools._lazy import lazy_exports

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

__getattr__ = lazy_exports(__name__, _WHERE)
