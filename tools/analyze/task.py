"""The task a target implies (classification or regression), a task the user forces, and the target's rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.analyze.kinds import Task, TaskChoice, _short
from tools.errors import TargetError
from tools.io.load import resolve_column
from tools.models.kinds import TASK_WORDS

MAX_CLASSES_FOR_INTEGER_TARGET = 20
"""An integer target with at most this many distinct values (and few per row) is a class label."""

MAX_CLASS_SHARE_OF_ROWS = 0.05
"""... and its distinct values are at most this share of the rows."""

MAX_FORCED_CLASSES = 100
"""A target treated as classification on request may have at most this many distinct values."""


def infer_task(target: pd.Series) -> tuple[Task, str]:
    """Infer the task from a target column; returns (task, the rule applied in one sentence).

    Rule: a non-numeric or boolean target is classification (2 classes binary,
    else multiclass). A numeric whole-number target with at most 20 distinct
    values that are at most 5% of the rows (or with at most 2 values) is
    classification. Anything else numeric is regression.
    """
    name = str(target.name)
    values = target.dropna()
    n_unique = int(values.nunique())
    if n_unique < 2:
        raise TargetError(
            f"The target “{name}” has {'no values' if n_unique == 0 else 'only one value'}, "
            "so there is nothing to learn. Pick a column whose value varies."
        )
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        raise TargetError(
            f"The target “{name}” holds dates. Pick a numeric or categorical column to predict."
        )
    is_bool = pd.api.types.is_bool_dtype(values.dtype)
    if is_bool or not pd.api.types.is_numeric_dtype(values.dtype):
        task: Task = "binary" if n_unique == 2 else "multiclass"
        what = "true/false" if is_bool else "non-numeric"
        return task, (
            f"The target “{name}” is {what} with {n_unique} distinct values, so this is "
            f"{TASK_WORDS[task]}."
        )
    numbers = values.to_numpy(dtype=float)
    is_whole = bool(np.all(np.isfinite(numbers)) and np.all(np.mod(numbers, 1) == 0))
    share = n_unique / max(len(values), 1)
    if n_unique <= 2 or (
        is_whole and n_unique <= MAX_CLASSES_FOR_INTEGER_TARGET and share <= MAX_CLASS_SHARE_OF_ROWS
    ):
        task = "binary" if n_unique == 2 else "multiclass"
        if n_unique <= 2:
            why = "has only 2 distinct values"
        else:
            why = (
                f"holds whole numbers with {n_unique} distinct values (at most "
                f"{MAX_CLASSES_FOR_INTEGER_TARGET}, and at most {MAX_CLASS_SHARE_OF_ROWS:.0%} "
                "of the rows)"
            )
        return task, (
            f"The numeric target “{name}” {why}, so its values are treated as classes: "
            f"{TASK_WORDS[task]}."
        )
    if is_whole:
        why = (
            f"holds whole numbers with {n_unique:,} distinct values ({share:.1%} of the rows), "
            f"more than {MAX_CLASSES_FOR_INTEGER_TARGET} or more than "
            f"{MAX_CLASS_SHARE_OF_ROWS:.0%} of the rows"
        )
    else:
        why = f"is numeric with fractional values ({n_unique:,} distinct)"
    return "regression", f"The target “{name}” {why}, so this is regression."


def choose_task(target: pd.Series, wanted: TaskChoice | None = None) -> tuple[Task, str]:
    """The task of a target: inferred (:func:`infer_task`), or as the user asked.

    A numeric target can be a classification (at most :data:`MAX_FORCED_CLASSES`
    values); a text or yes/no target cannot be a regression.

    Raises:
        TargetError: the asked task does not fit the column, in one sentence.
    """
    if wanted is None:
        return infer_task(target)
    if wanted not in ("classification", "regression"):
        raise TargetError(f"The task can be “classification” or “regression”, not “{wanted}”.")
    inferred, reason = infer_task(target)
    name = str(target.name)
    values = target.dropna()
    if wanted == "regression":
        if inferred == "regression":
            return inferred, reason
        is_bool = pd.api.types.is_bool_dtype(values.dtype)
        if is_bool or not pd.api.types.is_numeric_dtype(values.dtype):
            example = _short(values.iloc[0], 30)
            raise TargetError(
                f"The target “{name}” holds {'yes/no values' if is_bool else 'text'} (such as "
                f"“{example}”), not numbers, so it cannot be treated as a regression; "
                "keep it a classification or pick a numeric column."
            )
        return "regression", (
            f"The numeric target “{name}” is treated as a regression, as asked "
            f"(it would otherwise be {TASK_WORDS[inferred]})."
        )
    if inferred != "regression":
        return inferred, reason
    n_unique = int(values.nunique())
    if n_unique > MAX_FORCED_CLASSES:
        raise TargetError(
            f"The target “{name}” has {n_unique:,} distinct values, too many to treat as classes "
            f"(at most {MAX_FORCED_CLASSES}); keep it a regression or pick another column."
        )
    task: Task = "binary" if n_unique == 2 else "multiclass"
    return task, (
        f"The numeric target “{name}” is treated as classes, as asked: {TASK_WORDS[task]} "
        f"with {n_unique} classes."
    )


def prepare_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, int]:
    """Drop rows whose target is missing; returns (frame, number of rows dropped).

    Raises:
        TargetError: the column does not exist (closest names suggested), is all
            missing, is constant, or is non-numeric with a different value in
            (almost, >= 90%) every row (an identifier, not something to predict).
    """
    name = resolve_column(frame.columns, target)
    column = frame[name]
    missing = column.isna()
    if pd.api.types.is_float_dtype(column.dtype):
        missing |= np.isinf(column.to_numpy(dtype=float, na_value=np.nan))
    n_missing = int(missing.sum())
    if n_missing == len(frame):
        raise TargetError(
            f"The target “{name}” is empty in every row, so there is nothing to learn. "
            "Pick a column that has values."
        )
    kept = frame.loc[~missing].reset_index(drop=True) if n_missing else frame
    values = kept[name]
    n_unique = int(values.nunique())
    if n_unique == 1:
        raise TargetError(
            f"The target “{name}” has the same value (“{values.iloc[0]}”) in every row, so "
            "there is nothing to learn. Pick a column whose value varies."
        )
    is_numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    )
    if _is_row_number(values, n_unique):
        raise TargetError(
            f"The target “{name}” numbers the rows (a different whole number in every row, "
            "one after another), like an ID, so there is nothing to learn. Pick the column "
            "that holds the outcome."
        )
    if not is_numeric and len(values) > 20 and n_unique >= 0.9 * len(values):
        every = "every row" if n_unique == len(values) else "almost every row"
        raise TargetError(
            f"The target “{name}” has a different value in {every}, like an ID or a name, "
            "so a model cannot learn to predict it. Pick the column that holds the outcome."
        )
    return kept, n_missing


def _is_row_number(values: pd.Series, n_unique: int) -> bool:
    if not pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return False
    if len(values) <= 20 or n_unique != len(values):
        return False
    return float(values.max()) - float(values.min()) + 1 <= 1.1 * n_unique
