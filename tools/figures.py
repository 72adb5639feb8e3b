"""Figures drawn twice from the same numbers: a Plotly figure (JSON) and a PNG file.

The chat shows the interactive Plotly figure; files, model cards and terminals
use the PNG. The PNG is drawn with matplotlib's Agg canvas (no browser, no
kaleido, no pyplot global state), so it works in a worker process or a test.

Each builder takes plain numbers, writes ``<out_dir>/<name>.png`` and
``<out_dir>/<name>.json`` and returns a :class:`FigureArtifact`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tools.io.atomic import open_atomic, write_text_atomic

log = logging.getLogger(__name__)

Reference = Literal["diagonal", "zero"]
"""A guide line on a scatter plot: ``y = x`` or ``y = 0``."""

_PNG_DPI = 100
_MAX_POINTS = 2_000
"""Scatter plots keep at most this many points, so the JSON stays small."""


@dataclass(frozen=True, slots=True)
class FigureArtifact:
    """One figure: its Plotly JSON for the UI and a PNG file for everything else."""

    name: str
    """File-safe identifier, e.g. ``"confusion_matrix"``."""
    title: str
    plotly_json: str
    """``plotly.graph_objects.Figure.to_json()``; rebuild with ``plotly.io.from_json``."""
    png_path: Path
    json_path: Path


@dataclass(frozen=True, slots=True)
class Series:
    """One named line of ``(x, y)`` points; ``x`` may be numbers, labels or datetimes."""

    name: str
    x: Sequence[Any]
    y: Sequence[float]


def _x_values(values: Sequence[Any]) -> list[Any]:
    items = list(values)
    if all(isinstance(v, int | float | np.integer | np.floating) for v in items):
        return [float(v) for v in items]
    return items


def _finish(
    name: str, title: str, plotly_figure: go.Figure, mpl_figure: Figure, out_dir: Path
) -> FigureArtifact:
    out_dir.mkdir(parents=True, exist_ok=True)
    plotly_figure.update_layout(title=title, template="plotly_white")
    plotly_json = plotly_figure.to_json()
    json_path = out_dir / f"{name}.json"
    write_text_atomic(json_path, plotly_json)
    png_path = out_dir / f"{name}.png"
    mpl_figure.suptitle(title)
    mpl_figure.tight_layout()
    with open_atomic(png_path) as png_file:
        FigureCanvasAgg(mpl_figure).print_png(png_file)
    log.debug("figure_written name=%s", name)
    return FigureArtifact(
        name=name, title=title, plotly_json=plotly_json, png_path=png_path, json_path=json_path
    )


def _new_axes(width_in: float = 6.4, height_in: float = 4.8) -> tuple[Figure, object]:
    figure = Figure(figsize=(width_in, height_in), dpi=_PNG_DPI)
    return figure, figure.add_subplot(1, 1, 1)


def bar_chart(
    name: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    errors: Sequence[float] | None = None,
    value_label: str,
    out_dir: Path,
) -> FigureArtifact:
    """A horizontal bar chart, first label on top (e.g. permutation importance)."""
    labels = [str(label) for label in labels]
    values = [float(v) for v in values]
    errors = [float(e) for e in errors] if errors is not None else None
    plotly_figure = go.Figure(
        go.Bar(
            x=values[::-1],
            y=labels[::-1],
            orientation="h",
            error_x=None if errors is None else {"type": "data", "array": errors[::-1]},
        )
    )
    plotly_figure.update_layout(xaxis_title=value_label, height=max(300, 28 * len(labels) + 120))
    mpl_figure, axes = _new_axes(6.4, max(3.0, 0.35 * len(labels) + 1.5))
    positions = np.arange(len(labels))[::-1]
    axes.barh(positions, values, xerr=errors, color="#4C78A8")
    axes.set_yticks(positions, labels)
    axes.set_xlabel(value_label)
    return _finish(name, title, plotly_figure, mpl_figure, out_dir)


def line_chart(
    name: str,
    title: str,
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    out_dir: Path,
) -> FigureArtifact:
    """One or more lines (ROC, precision-recall, partial dependence)."""
    plotly_figure = go.Figure()
    mpl_figure, axes = _new_axes()
    for line in series:
        xs = _x_values(line.x)
        ys = [float(v) for v in line.y]
        plotly_figure.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="lines+markers" if len(xs) < 30 else "lines", name=line.name
            )
        )
        axes.plot(xs, ys, marker="o" if len(xs) < 30 else None, label=line.name)
    if diagonal:
        plotly_figure.add_trace(
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dash"})
        )
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    plotly_figure.update_layout(xaxis_title=x_label, yaxis_title=y_label)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    if len(series) > 1 or diagonal:
        axes.legend(loc="best", fontsize="small")
    return _finish(name, title, plotly_figure, mpl_figure, out_dir)


def scatter_chart(
    name: str,
    title: str,
    x: Sequence[float],
    y: Sequence[float],
    *,
    x_label: str,
    y_label: str,
    reference: Reference | None = None,
    seed: int = 0,
    out_dir: Path,
) -> FigureArtifact:
    """Points, sampled down to 2,000, with an optional ``"diagonal"`` or ``"zero"`` line."""
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if len(xs) > _MAX_POINTS:
        keep = np.sort(np.random.default_rng(seed).choice(len(xs), _MAX_POINTS, replace=False))
        xs, ys = xs[keep], ys[keep]
    plotly_figure = go.Figure(
        go.Scatter(x=xs.tolist(), y=ys.tolist(), mode="markers", marker={"size": 5, "opacity": 0.6})
    )
    mpl_figure, axes = _new_axes()
    axes.scatter(xs, ys, s=8, alpha=0.6)
    if reference is not None and len(xs):
        low = float(min(xs.min(), ys.min())) if reference == "diagonal" else float(xs.min())
        high = float(max(xs.max(), ys.max())) if reference == "diagonal" else float(xs.max())
        ref_y = [low, high] if reference == "diagonal" else [0.0, 0.0]
        plotly_figure.add_trace(
            go.Scatter(
                x=[low, high], y=ref_y, mode="lines", line={"dash": "dash"}, showlegend=False
            )
        )
        axes.plot([low, high], ref_y, linestyle="--", color="grey")
    plotly_figure.update_layout(xaxis_title=x_label, yaxis_title=y_label, showlegend=False)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    return _finish(name, title, plotly_figure, mpl_figure, out_dir)


def heatmap_chart(
    name: str,
    title: str,
    matrix: Sequence[Sequence[float]],
    *,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    x_label: str,
    y_label: str,
    out_dir: Path,
) -> FigureArtifact:
    """A labelled matrix with the count written in each cell (confusion matrix)."""
    values = np.asarray(matrix, dtype=float)
    rows = [str(v) for v in row_labels]
    columns = [str(v) for v in column_labels]
    text = [[f"{v:g}" for v in row] for row in values]
    plotly_figure = go.Figure(
        go.Heatmap(
            z=values.tolist(),
            x=columns,
            y=rows,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
        )
    )
    plotly_figure.update_layout(
        xaxis_title=x_label, yaxis_title=y_label, yaxis={"autorange": "reversed"}
    )
    size = max(4.0, 0.6 * len(columns) + 2.5)
    mpl_figure, axes = _new_axes(size, size)
    axes.imshow(values, cmap="Blues")
    axes.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    threshold = values.max() / 2 if values.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            axes.text(
                j,
                i,
                text[i][j],
                ha="center",
                va="center",
                color="white" if values[i, j] > threshold else "black",
            )
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    return _finish(name, title, plotly_figure, mpl_figure, out_dir)
