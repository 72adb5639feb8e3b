"""Tools that look at the data: profile a dataset, plot columns."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import plotly.express as px

from assistant.context import ToolContext, match_column
from assistant.errors import ToolError
from assistant.events import Figure, Table
from assistant.toolbox._format import cap_names, for_model, quoted, quoted_list, round_sig, truncate
from assistant.toolbox._tables import load_dataset
from assistant.toolkit import ToolResult
from assistant.untrusted import cap, quote
from tools.analyze.profile import profile_table
from tools.io.raw_rows import label_target

_SAMPLE_ROWS = 5
_PLOT_POINTS = 5_000


def profile_dataset(
    ctx: ToolContext, dataset_id: str | None = None, target: str | None = None
) -> ToolResult:
    """Profile an attached dataset: column types, missing values, cardinality, warnings
    (ID-like, constant, leaking or duplicate columns, imbalance), and the task a target implies.

    Args:
        dataset_id: Dataset id such as "d1"; the newest attached file when omitted.
        target: Column to predict, if known; adds the task and target distribution.
    """
    record = ctx.dataset(dataset_id)
    loaded = load_dataset(record, max_bytes=ctx.settings.max_upload_mb << 20)
    frame = loaded.frame
    columns = [str(c) for c in frame.columns]
    if target is not None:
        found = match_column(columns, target)
        if found is None:
            raise ToolError(
                f"There is no column named {quoted(target)}. Columns: {quoted_list(columns)}."
            )
        target = found
        frame = label_target(frame, target, loaded.parser)
    ctx.progress(f"Profiling {record.name} ({len(frame):,} rows x {len(columns)} columns)")
    profile = profile_table(frame, target=target)
    rows = tuple(
        (
            c.name,
            c.kind,
            round_sig(c.missing_share * 100, 3),
            c.n_unique,
            truncate(_stat_text(c.stats), 80),
        )
        for c in profile.columns
    )
    user_table = Table(
        f"Profile of {record.name}: {profile.n_rows:,} rows x {profile.n_columns} columns",
        ("column", "type", "missing %", "distinct", "summary"),
        rows,
        name=f"profile-{record.id}",
    )
    # str() each cell: pandas 3 keeps a missing value as a float NaN even after astype(str)
    sample = frame.head(_SAMPLE_ROWS).map(lambda value: truncate(str(value)))
    sample.columns = [cap(str(c)) for c in sample.columns]
    kinds: dict[str, list[str]] = {}
    for column in profile.columns:
        kinds.setdefault(column.kind, []).append(cap(column.name))
    summary = f"{quote(record.name)}: {profile.n_rows:,} rows x {profile.n_columns} columns."
    if profile.target:
        summary += f" Target {quoted(profile.target)} means a {profile.task} task."
    payload = {
        "summary": summary,
        "dataset": record.id,
        "file": cap(record.name),
        "rows": profile.n_rows,
        "columns": profile.n_columns,
        "column_kinds": {k: v[:60] for k, v in kinds.items()},
        "missing_share": {
            cap(c.name): round_sig(c.missing_share, 3)
            for c in profile.columns
            if c.missing_share > 0
        },
        "target": cap(profile.target) if profile.target else None,
        "task": profile.task,
        "task_reason": cap_names(profile.task_reason, columns),
        "target_summary": profile.target_summary,
        "warnings": [cap_names(w.message, columns) for w in profile.warnings],
        "notes": [cap_names(note, columns) for note in loaded.notes],
        "sample_rows_quoted_data": sample.to_dict(orient="records")
        if profile.n_columns <= 30
        else "omitted (wide table)",
    }
    return ToolResult(for_model=for_model(payload), for_user=(user_table,), facts=payload)


def plot_columns(
    ctx: ToolContext,
    x: str,
    y: str | None = None,
    kind: Literal["auto", "scatter", "histogram", "box", "bar"] = "auto",
    dataset_id: str | None = None,
) -> ToolResult:
    """Draw a chart of one column (its distribution) or of one column against another.

    Args:
        x: Column on the horizontal axis (or whose distribution to show).
        y: Column on the vertical axis; omit for a distribution.
        kind: Chart type; "auto" picks one from the column types.
        dataset_id: Dataset id such as "d1"; the newest attached file when omitted.
    """
    record = ctx.dataset(dataset_id)
    frame = load_dataset(record, max_bytes=ctx.settings.max_upload_mb << 20).frame
    columns = [str(c) for c in frame.columns]
    x_col = _column(columns, x)
    y_col = _column(columns, y) if y else None
    data = frame.sample(_PLOT_POINTS, random_state=0) if len(frame) > _PLOT_POINTS else frame
    x_numeric = pd.api.types.is_numeric_dtype(data[x_col]) and not pd.api.types.is_bool_dtype(
        data[x_col]
    )
    if y_col is None:
        chosen = kind if kind != "auto" else ("histogram" if x_numeric else "bar")
        if chosen == "bar":
            counts = data[x_col].astype(str).value_counts().head(30)
            figure = px.bar(x=counts.index, y=counts.to_numpy(), labels={"x": x_col, "y": "rows"})
        elif chosen == "box":
            figure = px.box(data, y=x_col)
        else:
            figure = px.histogram(data, x=x_col, nbins=40)
        title = f"Distribution of {x_col}"
    else:
        y_numeric = pd.api.types.is_numeric_dtype(data[y_col]) and not pd.api.types.is_bool_dtype(
            data[y_col]
        )
        chosen = kind
        if kind == "auto":
            chosen = "scatter" if x_numeric and y_numeric else "box" if y_numeric else "bar"
        if chosen == "scatter":
            figure = px.scatter(data, x=x_col, y=y_col, opacity=0.6)
        elif chosen == "box":
            figure = px.box(data, x=x_col, y=y_col)
        elif chosen == "histogram":
            figure = px.histogram(data, x=x_col, color=y_col, barmode="overlay", nbins=40)
        else:
            table = pd.crosstab(data[x_col].astype(str), data[y_col].astype(str))
            figure = px.bar(table, barmode="group")
        title = f"{y_col} vs {x_col}"
    figure.update_layout(title=title, template="plotly_white")
    facts = _pair_facts(data, x_col, y_col)
    summary = f"Plotted {title} from {len(data):,} rows" + (
        f" (a sample of {len(frame):,})." if len(data) < len(frame) else "."
    )
    payload = {"summary": summary, "chart": chosen, "x": x_col, "y": y_col, **facts}
    return ToolResult(
        for_model=for_model(payload),
        for_user=(Figure(title, plotly_json=figure.to_json()),),
        facts=payload,
    )


def _column(columns: list[str], wanted: str) -> str:
    found = match_column(columns, wanted)
    if found is None:
        raise ToolError(
            f"There is no column named {quoted(wanted)}. Columns: {quoted_list(columns)}."
        )
    return found


def _pair_facts(data: pd.DataFrame, x: str, y: str | None) -> dict[str, object]:
    facts: dict[str, object] = {}
    series = data[x]
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        facts[f"{x} mean"] = round_sig(float(series.mean()))
        facts[f"{x} median"] = round_sig(float(series.median()))
    if y is not None:
        pair = data[[x, y]].dropna()
        numeric = all(
            pd.api.types.is_numeric_dtype(pair[c]) and not pd.api.types.is_bool_dtype(pair[c])
            for c in (x, y)
        )
        if numeric and len(pair) > 2:
            value = pair[x].corr(pair[y], method="spearman")
            if np.isfinite(value):
                facts["spearman_correlation"] = round_sig(float(value), 3)
    return facts


def _stat_text(stats: dict[str, object]) -> str:
    parts = []
    for key, value in list(stats.items())[:5]:
        parts.append(f"{key}={round_sig(value, 3) if isinstance(value, float) else value}")
    return ", ".join(parts)
