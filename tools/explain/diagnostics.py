"""Diagnostic figures and insights from out-of-fold predictions: confusion matrix, ROC and precision-recall curves, residuals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    auc,
    confusion_matrix,
    precision_recall_curve,
    roc_curve,
)

from tools.explain.common import Task, _fmt, _focus_class, _thin
from tools.figures import (
    FigureArtifact,
    Series,
    heatmap_chart,
    line_chart,
    scatter_chart,
)

_MAX_ROC_CLASSES = 10


def _classification_figures(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_proba: np.ndarray | None,
    classes: list[Any],
    task: Task,
    out_dir: Path,
) -> list[FigureArtifact]:
    labels = [str(c) for c in classes]
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    figures = [
        heatmap_chart(
            "confusion_matrix",
            "Confusion matrix",
            matrix,
            row_labels=labels,
            column_labels=labels,
            x_label="predicted",
            y_label="actual",
            out_dir=out_dir,
        )
    ]
    if y_proba is None:
        return figures
    proba = np.asarray(y_proba, dtype=float)
    if task == "binary":
        positive = _focus_class(classes, pd.Series(y_true))
        scores = proba[:, classes.index(positive)]
        truth = (y_true == positive).astype(int)
        fpr, tpr, _ = roc_curve(truth, scores)
        precision, recall, _ = precision_recall_curve(truth, scores)
        figures.append(
            line_chart(
                "roc_curve",
                f"ROC curve (positive class “{positive}”, AUC {auc(fpr, tpr):.3f})",
                [Series("model", *_thin(fpr, tpr))],
                x_label="false positive rate",
                y_label="true positive rate",
                diagonal=True,
                out_dir=out_dir,
            )
        )
        figures.append(
            line_chart(
                "pr_curve",
                f"Precision-recall curve (positive class “{positive}”)",
                [Series("model", *_thin(recall, precision))],
                x_label="recall",
                y_label="precision",
                out_dir=out_dir,
            )
        )
    elif len(classes) <= _MAX_ROC_CLASSES:
        lines = []
        for index, label in enumerate(classes):
            truth = (y_true == label).astype(int)
            if truth.min() == truth.max():
                continue
            fpr, tpr, _ = roc_curve(truth, proba[:, index])
            lines.append(Series(f"{label} (AUC {auc(fpr, tpr):.3f})", *_thin(fpr, tpr)))
        figures.append(
            line_chart(
                "roc_curve",
                "ROC curves, one class against the rest",
                lines,
                x_label="false positive rate",
                y_label="true positive rate",
                diagonal=True,
                out_dir=out_dir,
            )
        )
    return figures


def _classification_insights(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[Any]
) -> list[str]:
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    if off.sum() == 0:
        return ["Every row is predicted correctly in these predictions."]
    i, j = np.unravel_index(np.argmax(off), off.shape)
    support = int(matrix[i].sum())
    sentence = (
        f"The most common mistake is predicting “{classes[j]}” for rows that are "
        f"“{classes[i]}”: {int(off[i, j])} of {support} such rows "
        f"({off[i, j] / max(support, 1):.0%})."
    )
    recalls = {c: matrix[k, k] / max(matrix[k].sum(), 1) for k, c in enumerate(classes)}
    worst = min(recalls, key=lambda c: recalls[c])
    return [
        sentence,
        f"Class “{worst}” is the hardest: {recalls[worst]:.0%} of its rows are found.",
    ]


def _regression_figures(
    y_true: np.ndarray, y_pred: np.ndarray, out_dir: Path, seed: int
) -> list[FigureArtifact]:
    actual = np.asarray(y_true, dtype=float)
    return [
        scatter_chart(
            "predicted_vs_actual",
            "Predicted vs actual",
            actual,
            y_pred,
            x_label="actual",
            y_label="predicted",
            reference="diagonal",
            seed=seed,
            out_dir=out_dir,
        ),
        scatter_chart(
            "residuals",
            "Residuals (actual − predicted) vs predicted",
            y_pred,
            actual - y_pred,
            x_label="predicted",
            y_label="residual",
            reference="zero",
            seed=seed,
            out_dir=out_dir,
        ),
    ]


def _regression_insights(y_true: np.ndarray, y_pred: np.ndarray) -> list[str]:
    errors = np.abs(np.asarray(y_true, dtype=float) - y_pred)
    residuals = np.asarray(y_true, dtype=float) - y_pred
    under = float((residuals > 0).mean())
    return [
        f"Half of the absolute errors are below {_fmt(np.median(errors))}; "
        f"the largest 5% exceed {_fmt(np.quantile(errors, 0.95))}.",
        f"The model under-predicts {under:.0%} of the rows and over-predicts the rest.",
    ]
