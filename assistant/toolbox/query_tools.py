"""A tool that answers simple questions about an attached table without code."""

from __future__ import annotations

import plotly.express as px

from assistant.context import ToolContext, match_column
from assistant.errors import ToolError
from assistant.events import Figure, Table
from assistant.toolbox._format import for_model, quoted, round_sig
from assistant.toolbox._tables import load_dataset
from assistant.toolkit import ToolResult
from tools.query import Aggregate, Condition, Query, QueryError, parse_condition, run_query


def query_data(
    ctx: ToolContext,
    aggregate: Aggregate = "count",
    column: str | None = None,
    where: list[str] | None = None,
    by: str | None = None,
    top: int | None = None,
    lowest: bool = False,
    among: list[str] | None = None,
    dataset_id: str | None = None,
) -> ToolResult:
    """Answer a simple question about an attached table exactly, without code: count rows, the
    share of rows matching conditions, or the mean, median, min, max or sum of a numeric column;
    optionally filtered, grouped by a column (with a bar chart), and limited to the top k groups.

    Args:
        aggregate: "count", "share" (of rows matching `where`), "mean", "median", "min", "max"
            or "sum".
        column: Numeric column to aggregate (not needed for count and share).
        where: Conditions all rows must meet, each "column op value" with op one of
            = != > >= < <=, e.g. ["tenure > 50", "contract = month-to-month"].
        by: Column to group by, e.g. "region" for "average price by region".
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
        by=_column(columns, by) if by else None,
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
        payload["groups"] = [
            {query.by: name, label: round_sig(value), "rows": n} for name, value, n in answer.groups
        ]
        table = Table(
            answer.query_words,
            (query.by, label, "rows"),
            tuple((name, round_sig(value), n) for name, value, n in answer.groups),
            name=f"query-{ctx.call.id}",
        )
        figure = px.bar(
            x=[name for name, _, _ in answer.groups],
            y=[value for _, value, _ in answer.groups],
            labels={"x": query.by, "y": label},
        )
        figure.update_layout(title=table.title, template="plotly_white")
        outputs = (table, Figure(table.title, plotly_json=figure.to_json()))
    return ToolResult(for_model=for_model(payload), for_user=outputs, facts=payload)


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
