"""Models saved before the engine's modules moved still load.

A pickled ``model.joblib`` names each class by the module that defined it when it was
saved (``tools.raw_parsing.RawRowsModel``, ``tools.ensemble.EnsembleModel``, ...).
:func:`install` registers those old module names as aliases of the modules that now
define the classes, so runs trained before the move keep predicting. Call it before
unpickling a model; it is cheap and idempotent.
"""

from __future__ import annotations

import importlib
import sys
import types

MOVED: dict[str, tuple[str, ...]] = {
    "tools.raw_parsing": ("tools.io.columns", "tools.io.raw_rows"),
    "tools.ensemble": ("tools.search.ensemble",),
    "tools.stoppable": ("tools.models.stoppable",),
    "tools.encoders": ("tools.models.encoders",),
    "tools.target_transform": ("tools.models.target", "tools.search.target_transform"),
}
"""Old module -> the modules that now define what it held."""


def install() -> None:
    """Register every old module name in :data:`MOVED` that is not importable any more."""
    for old, new in MOVED.items():
        if old in sys.modules:
            continue
        alias = types.ModuleType(old, f"Alias of {', '.join(new)} for old pickles.")
        for name in new:
            module = importlib.import_module(name)
            alias.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
        sys.modules[old] = alias
