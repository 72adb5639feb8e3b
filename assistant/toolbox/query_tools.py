"""A tool that answers simple questions about an attached table without code."""

from __future__ import annotations

import plotly.express as px

from assistant.context import ToolContext, match_column
from assistant.errors import ToolError
from assistant.events import Figure, Table
from assistant.toolbox._format import for_model, quoted, round_sig
from assistant.toolbox._tables import load_dataset
from assistant.toolkit import ToolResult
from tools.query import (
    Aggregate,
    Answer,
    Condition,
    Query,
    QueryError,
    parse_condition,
    run_query,
)


def query_data(
    ctx: ToolContext,
    aggregate: Aggregate = "count",
    column: str | None = None,
    where: list[str] | None = None,
    by: str | None = None,
    then_by: str | None = None,
    top: int | None = None,
    lowest: bool = False,
    among: list[str] | None = None,
    dataset_id: str | None = None,
) -> ToolResult:
    """Answer a simple question about an attached table exactly, without code: count rows, the
    share of rows matching conditions, or the mean, median, min, max or sum of a numeric column;
    optionally filtered (dates by periods in words), grouped by one or two columns (with a bar
    chart), and limited to the top k groups.

    Args:
        aggregate: "count", "share" (of rows matching `where`), "mean", "median", "min", "max"
            or "sum".
        column: Numeric column to aggregate (not needed for count and share).
        where: Conditions all rows must meet, each "column op value" with op one of
            = != > >= < <= or, for a date column, "in" with a period read against the data
            (2023, 2023-03, march, last month, last 30 days; > means after it, < before it),
            e.g. ["tenure > 50", "contract = month-to-month", "order_date in last month"].
        by: Column to group by, e.g. "region" for "average price by region"; a date column's
            year, quarter, month or weekday as "order_date:year".
        then_by: A second column to group by within `by`, e.g. "order_date:year" for
            "average price by region and year".
        top: Keep only this many groups, largest first (smallest first with `lowest`).
        lowest: Sort groups from the smallest value up.
        among: For "share": the rows it is a share of, e.g. ["contract = month-to-month"] for
            "what share of month-to-month customers churned"; all rows when omitted.
        dataset_id: Dataset id such as "d1"; the newest attached file when omitted.
    """
    record = ctx.dataset(dataset_id)
    loaded = load_dataset(record, max_bytes=ctx.settings.max_upload_mb << 20)
    frame = loaded.frame
    columns = [str(c) for c in frame.columns]
    conditions = tuple(_condition(columns, text) for text in (where or []))
    query = Query(
        aggregate=aggregate,
        column=_column(columns, column) if column else None,
        where=conditions,
        by=_group_column(columns, by) if by else None,
        then_by=_group_column(columns, then_by) if then_by else None,
        top=top if top is None else max(1, min(top, 100)),
        lowest=lowest,
        among=tuple(_condition(columns, text) for text in (among or [])),
    )
    answer = run_query(frame, query, words=loaded.parser.words)
    payload: dict[str, object] = {
        "summary": answer.text,
        "rows": answer.n_rows,
        "matching_rows": answer.n_matching,
    }
    if answer.value is not None:
        payload["value"] = round_sig(answer.value)
    outputs: tuple[Table | Figure, ...] = ()
    if query.by is not None:
        label = query.aggregate if query.column is None else f"{query.aggregate} of {query.column}"
        names = tuple(_group_label(n) for n in (query.by, query.then_by) if n is not None)
        rows = [
            (*keys, round_sig(value), n)
            for keys, (_, value, n) in zip(answer.group_keys, answer.groups, strict=True)
        ]
        payload["groups"] = [dict(zip((*names, label, "rows"), row, strict=True)) for row in rows]
        table = Table(
            answer.query_words, (*names, label, "rows"), tuple(rows), name=f"query-{ctx.call.id}"
        )
        outputs = (table, Figure(table.title, plotly_json=_chart(answer, names, label, table)))
    return ToolResult(for_model=for_model(payload), for_user=outputs, facts=payload)


def _chart(answer: Answer, names: tuple[str, ...], label: str, table: Table) -> str:
    """A bar per group; with two group columns, bars of the second side by side."""
    values = [value for _, value, _ in answer.groups]
    first = [keys[0] for keys in answer.group_keys]
    if len(names) == 2:
        second = [keys[1] for keys in answer.group_keys]
        figure = px.bar(
            x=first, y=values, color=second, barmode="group",
            labels={"x": names[0], "y": label, "color": names[1]},
        )  # fmt: skip
    else:
        figure = px.bar(x=first, y=values, labels={"x": names[0], "y": label})
    figure.update_layout(title=table.title, template="plotly_white")
    return figure.to_json()


def _group_label(name: str) -> str:
    """``order_date:year`` as a table heading: ``year of order_date``."""
    column, _, part = name.partition(":")
    return f"{part} of {column}" if part else column


def _group_column(columns: list[str], wanted: str) -> str:
    """A column to group by, or a date column's part ("order_date:year")."""
    column, colon, part = wanted.partition(":")
    return _column(columns, column) + (colon + part.strip().lower() if colon else "")


def _condition(columns: list[str], text: str) -> Condition:
    try:
        parsed = parse_condition(text)
    except QueryError as exc:
        raise ToolError(str(exc)) from None
    return Condition(_column(columns, parsed.column), parsed.op, parsed.value)


def _column(columns: list[str], wanted: str) -> str:
    found = match_column(columns, wanted)
    if found is None:
        raise ToolError(
            f"There is no column named {quoted(wanted)}. Columns: {', '.join(columns[:40])}."
        )
    return found
