"""The positive class of a binary target, and the class order that puts it last.

A binary task has one class the user cares about (fraud, churn, yes): F1, the
decision threshold, PR and ROC curves are all about it. It defaults to the
minority class (ties: the later label in sorted order) and can be named
("the positive class is fraud", ``--positive-class fraud``).

Everything downstream reads it from one convention: the class order of a binary
run is ``[negative, positive]``, so the positive class is ``classes[-1]`` (the
second column of ``predict_proba``, scikit-learn's default ``pos_label``).
Multiclass runs keep the sorted order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tools.errors import PlanError


def minority_class(counts: Mapping[Any, int]) -> Any:
    """The rarest label of ``counts`` (label -> rows); a tie goes to the later sorted label."""
    if not counts:
        raise ValueError("no classes to choose from")
    labels = sorted(counts, key=lambda label: (counts[label], _sort_key(label)))
    fewest = counts[labels[0]]
    return max((label for label in labels if counts[label] == fewest), key=_sort_key)


def match_class(labels: Iterable[Any], wanted: Any, *, target: str = "the target") -> Any:
    """The label of ``labels`` the user meant by ``wanted`` (exact text, then any case).

    Raises:
        PlanError: no label matches; the message lists the classes.
    """
    known = list(labels)
    text = str(wanted).strip()
    for label in known:
        if str(label) == text:
            return label
    folded = [label for label in known if str(label).casefold() == text.casefold()]
    if len(folded) == 1:
        return folded[0]
    shortened = text.removesuffix("…")
    if shortened != text:  # a label shortened for display (profiles cut long labels)
        prefixed = [label for label in known if str(label).startswith(shortened)]
        if len(prefixed) == 1:
            return prefixed[0]
    listed = ", ".join(f"“{label}”" for label in known[:10])
    raise PlanError(
        f"“{text}” is not a class of “{target}”; its classes are {listed}. "
        "Name one of them as the positive class."
    )


def class_order(y: pd.Series, *, task: str, positive: Any = None) -> np.ndarray:
    """The class labels of ``y`` in the run's order: sorted, and for a binary task
    ``[negative, positive]`` with ``positive`` (or the minority class) last."""
    labels = np.asarray(pd.factorize(y, sort=True)[1])
    if task != "binary" or len(labels) != 2:
        return labels
    if positive is None:
        counts = y.value_counts()
        chosen = minority_class({label: int(counts[label]) for label in labels})
    else:
        chosen = match_class(labels, positive, target=str(y.name))
    other = labels[0] if labels[1] == chosen else labels[1]
    return np.asarray([other, chosen], dtype=labels.dtype)


def _sort_key(label: Any) -> tuple[int, Any]:
    return (0, label) if isinstance(label, int | float | np.number) else (1, str(label))


__all__ = ["class_order", "match_class", "minority_class"]
