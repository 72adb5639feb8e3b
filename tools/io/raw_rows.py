"""The saved model as a pipeline that takes raw rows: a :class:`~tools.io.columns.RawTableParser` step, then the fitted model.

A pickled ``model.joblib`` names :class:`RawRowsModel` by this module's path; moving it breaks loading saved models.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from tools.io.columns import RawTableParser


class RawRowsModel(Pipeline):
    """What ``model.joblib`` holds: a :class:`RawTableParser` step, then the fitted model.

    ``predict``, ``predict_proba`` and ``classes_`` take raw rows. The model's own
    fitted attributes (``input_columns_``, ``threshold_``, ``pipeline_``, ...) read
    through, so code written for the bare model keeps working.
    """

    def __getattr__(self, name: str) -> Any:
        steps = self.__dict__.get("steps")
        if steps and name.endswith("_") and not name.startswith("_"):
            return getattr(steps[-1][1], name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")


def saved_pipeline(model: Any, parser: RawTableParser) -> RawRowsModel:
    """``model`` behind ``parser`` (restricted to the model's input columns)."""
    columns = getattr(model, "input_columns_", None)
    parse = parser.only(columns) if columns is not None else parser
    return RawRowsModel([("parse", parse), ("model", model)])


def parse_step(saved: Any) -> RawTableParser | None:
    """The parse step of a saved :class:`RawRowsModel` (``None`` for older runs)."""
    return saved.steps[0][1] if isinstance(saved, RawRowsModel) else None


def fitted_model(saved: Any) -> Any:
    """The model inside a saved :class:`RawRowsModel` (or ``saved`` itself, for older runs)."""
    return saved.steps[-1][1] if isinstance(saved, RawRowsModel) else saved


def label_target(frame: pd.DataFrame, target: str, parser: RawTableParser | None) -> pd.DataFrame:
    """``frame`` with a yes/no target written back in the file's words.

    ``load_table`` reads yes/no columns as booleans; a target keeps the labels the
    file uses ("no"/"yes", not False/True), so the model's ``classes_``, its
    predictions, the figures and the chat all speak them. Other targets are
    returned unchanged.
    """
    words = parser.words(target) if parser is not None and target in frame.columns else None
    if words is None or not pd.api.types.is_bool_dtype(frame[target].dtype):
        return frame
    truth = frame[target]
    labels = np.where(truth.fillna(False).to_numpy(dtype=bool), words[1], words[0]).astype(object)
    labels[truth.isna().to_numpy()] = None
    labelled = frame.copy(deep=False)
    labelled[target] = pd.Series(labels, index=frame.index, dtype=object)
    return labelled
