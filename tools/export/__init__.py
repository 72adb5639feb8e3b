"""A run folder: the saved model, its schema, ``report.json``, the model card and a
reproducible ``train.py``.

Modules: ``folder`` (:func:`export_run`, the report), ``files`` (file names), ``card``
(the model card), ``script`` (the training script), ``source`` (live objects as Python
source).
"""

from __future__ import annotations

from tools._lazy import lazy_exports

_WHERE = {
    "ExportedRun": "tools.export.folder",
    "export_run": "tools.export.folder",
    "build_report": "tools.export.folder",
    "library_versions": "tools.export.folder",
    "RETRAINED_FILE": "tools.export.files",
    "REPORT_FILE": "tools.export.files",
    "CARD_FILE": "tools.export.files",
    "SCRIPT_FILE": "tools.export.files",
    "FIGURES_DIR": "tools.export.files",
    "model_card": "tools.export.card",
    "ExportError": "tools.export.source",
    "train_script": "tools.export.script",
    "estimator_source": "tools.export.script",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_exports(__name__, _WHERE)
