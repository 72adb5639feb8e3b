"""The model zoo and the saved estimator.

Modules: ``kinds`` (tasks, column kinds), ``families`` (one ``ModelFamily`` per kind of
model: builder, defaults, cost prior), ``spaces`` (Optuna search spaces),
``preprocessing`` (per-kind column encoders and the pipeline in front of an estimator),
``encoders`` (cross-fitted target encoding), ``target`` (regression target transforms),
``stoppable`` (estimators that stop at a deadline), ``estimator`` (``TabularModel``, the
picklable object inside ``model.joblib``).
"""

from __future__ import annotations

from tools._lazy import lazy_exports

_WHERE = {
    "Task": "tools.models.kinds",
    "ColumnKind": "tools.models.kinds",
    "Preprocessing": "tools.models.kinds",
    "Params": "tools.models.kinds",
    "CLASSIFICATION": "tools.models.kinds",
    "REGRESSION": "tools.models.kinds",
    "ALL_TASKS": "tools.models.kinds",
    "USED_KINDS": "tools.models.kinds",
    "ModelFamily": "tools.models.families",
    "MODEL_FAMILIES": "tools.models.families",
    "families_for": "tools.models.families",
    "get_family": "tools.models.families",
    "MAX_ONE_HOT_LEVELS": "tools.models.preprocessing",
    "MAX_ORDINAL_LEVELS": "tools.models.preprocessing",
    "TARGET_ENCODE_ABOVE_LEVELS": "tools.models.preprocessing",
    "NumericCoercer": "tools.models.preprocessing",
    "CategoryEncoder": "tools.models.preprocessing",
    "DatetimeExpander": "tools.models.preprocessing",
    "TextStats": "tools.models.preprocessing",
    "TextNgrams": "tools.models.preprocessing",
    "column_kinds": "tools.models.preprocessing",
    "build_pipeline": "tools.models.preprocessing",
    "encoded_width": "tools.models.preprocessing",
    "TabularModel": "tools.models.estimator",
    "TargetTransform": "tools.models.target",
    "TARGET_TRANSFORMS": "tools.models.target",
    "SignedLog1p": "tools.models.target",
    "wrap_regressor": "tools.models.target",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_exports(__name__, _WHERE)
