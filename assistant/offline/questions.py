"""Simple questions about the data, read into the ``query_data`` tool's small query language.

"how many rows have tenure above 50", "average price by region", "what share
of churn is yes", "top 5 cities by revenue": an aggregate (count, share,
mean, median, min, max, sum), the column it applies to, filters
(``column op value``), an optional group-by and top-k. Date words ("in
2023", "after March", "last month") become periods of the file's date column,
which the tool reads against the data; "by region and year" groups by two
things. Nothing here is evaluated; the query is data the tool checks and runs
with pandas.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.offline.columns import PLACEHOLDER, ColumnIndex
from assistant.offline.facts import ColumnFacts, FileFacts

_AGGREGATES: tuple[tuple[str, str], ...] = (
    ("count", r"\bhow many\b|\bnumber of\b|\bcount\b|\bcounts\b"),
    ("share", r"\b(?:share|percentage|percent|fraction|proportion|ratio|rate)\b|%"),
    ("median", r"\bmedian\b"),
    ("mean", r"\b(?:average|avg|mean|typical)\b"),
    ("sum", r"\b(?:total|sum|overall)\b"),
    ("max", r"\b(?:max|maximum|highest|largest|biggest|greatest|most|priciest|dearest)\b"),
    ("min", r"\b(?:min|minimum|lowest|smallest|least|fewest|cheapest)\b"),
)
_ROW_NOUNS = re.compile(
    r"\b(rows?|records?|entries|entry|lines|observations|samples|examples|people|persons|"
    r"customers?|clients?|users?|orders?|items?|transactions?|patients?|cases|are there)\b"
)
_OPS: tuple[tuple[str, str], ...] = (
    (">=", r"at least|>=|or more|no less than|not less than|minimum of"),
    ("<=", r"at most|<=|or less|no more than|not more than|up to|maximum of"),
    (
        ">",
        r"above|over|more than|greater than|higher than|bigger than|larger than|exceeding|"
        r"exceeds|>|after|older than|longer than",
    ),
    (
        "<",
        r"below|under|less than|fewer than|lower than|smaller than|<|before|younger than|"
        r"shorter than",
    ),
    ("!=", r"!=|is not|isn't|are not|aren't|not|other than"),
    ("==", r"==|=|equal to|equals|is|are|was|were|of exactly|exactly"),
)
_NUMBER = r"(-?\d[\d,]*(?:\.\d+)?)"
_OP_WORDS = "|".join(f"(?:{words})" for _, words in _OPS)
_COLUMN_OP_NUMBER = re.compile(
    rf"«(\d+)»\s*(?:(?:is|are|was|were|of|with|has|have)\s+)?({_OP_WORDS})\s*{_NUMBER}(?!\s*«)"
)
_OP_NUMBER_COLUMN = re.compile(rf"({_OP_WORDS})\s*{_NUMBER}\s+«(\d+)»")
_BETWEEN = re.compile(rf"«(\d+)»\s*(?:is\s+|of\s+)?between\s+{_NUMBER}\s+and\s+{_NUMBER}")
_COLUMN_IS_VALUE = re.compile(
    r"«(\d+)»\s*(?:is|are|was|were|=|==|equals|equal to|of)\s+(?:not\s+)?[`'\"]?([^\s,?.!«]+(?:[ -][^\s,?.!«]+)?)"
)
_BY = re.compile(
    r"\b(?:by|per|for each|for every|in each|across|grouped by|broken down by|split by|each|"
    r"for all)\s+(?:the\s+|each\s+)?«(\d+)»"
)
_WHICH = re.compile(r"\bwhich\s+«(\d+)»")
_WHICH_N = re.compile(r"\b(?:which|what)\s+(\d+)\s+«(\d+)»")
_TOP_COUNT = re.compile(
    r"\b(top|bottom|first|last)\s+(\d+)\s+«(\d+)»\s+(?:by|in)\s+(?:the\s+)?"
    r"(?:number|count|head ?count|how many)\b"
)
_YEAR = re.compile(
    r"\b(before|prior to|until|after|since|from|in)\s+(?:the\s+)?(?:year\s+)?((?:19|20)\d\d)\b"
    r"(?!\s*«)"
)
_TOP = re.compile(
    r"\b(top|bottom|first|last)\s+(\d+)\s+«(\d+)»(?:\s+\w+)?\s+(?:by|in|for)\s+"
    r"(?:\w+\s+){0,2}«(\d+)»"
)
_MONTH = (
    r"(?:january|jan|february|feb|march|mar|april|apr|may|june|jun|july|jul|august|aug|"
    r"september|sept|sep|october|oct|november|nov|december|dec)\.?"
)
_PERIOD_OPS = {
    "before": "<",
    "prior to": "<",
    "until": "<=",
    "till": "<=",
    "up to": "<=",
    "after": ">",
    "since": ">=",
    "from": ">=",
}
_RELATIVE = re.compile(
    r"\b(?:(in|during|within|over|before|prior to|after|since|from)\s+)?(?:the\s+)?"
    r"(last|past|this|latest|most recent)\s+(?:(\d{1,4})\s+)?(day|week|month|quarter|year)s?\b"
)
_ABSOLUTE = re.compile(
    r"\b(in|during|before|prior to|until|till|up to|after|since|from)\s+(?:the\s+)?"
    rf"((?:19|20)\d\d(?:-\d{{1,2}})?\b|{_MONTH}(?:\s+(?:19|20)\d\d)?\b)(?!\s*«)"
)
_AGE = re.compile(r"\b(older|younger) than\s+(\d+)(?!\s*«)")
_DATE_NAME = re.compile(r"date|time|day\b|_at$|_on$|^when|period", re.I)
_PARTS = r"(year|quarter|month|weekday|day of (?:the )?week)"
_BY_PART = re.compile(rf"\b(?:by|per|each|every|for each|across|in each)\s+(?:the\s+)?{_PARTS}\b")
_PART_ADVERB = re.compile(r"\b(yearly|annual|annually|quarterly|monthly)\b")
_SECOND_BY = re.compile(rf"^\s*(?:and|&|,)\s+(?:by\s+|per\s+)?(?:the\s+)?(?:«(\d+)»|{_PARTS}\b)")
_VAGUE_VALUES = frozenset(
    {"yes", "no", "none", "true", "false", "other", "unknown", "all", "na", "n/a", "null", "nan"}
)
_POSITIVE = ("yes", "true", "1", "y", "t")


def _as_text(condition: dict[str, Any]) -> str:
    value = condition["value"]
    return f"{condition['column']} {condition['op']} {value}"


def read_question(text: str, index: ColumnIndex, facts: FileFacts | None) -> dict[str, Any] | None:
    """The ``query_data`` arguments for a data question in ``text``, or ``None``."""
    if facts is None:
        return None
    found = [name for name, pattern in _AGGREGATES if re.search(pattern, text)]
    counted_column = re.search(r"\bnumber of\s+«(\d+)»", text)
    if (
        counted_column is not None
        and facts.columns[int(counted_column.group(1))].is_numeric
        and set(found) - {"count"}
    ):
        found.remove("count")  # "max number of medications": the column NumMedications
    top_match = _TOP.search(text)
    if not found and top_match is None and _TOP_COUNT.search(text) is None:
        return None
    columns = {int(m.group(1)): facts.columns[int(m.group(1))] for m in PLACEHOLDER.finditer(text)}
    used: set[int] = set()
    where = _conditions(text, facts, used)
    arguments: dict[str, Any] = {}
    by: int | None = None
    top: int | None = None
    lowest = False
    counted = _TOP_COUNT.search(text)
    which_n = _WHICH_N.search(text)
    if counted is not None and top_match is None:
        by, top = int(counted.group(3)), int(counted.group(2))
        lowest = counted.group(1) in ("bottom", "last")
        used.add(by)
        found = ["count"]
    elif which_n is not None and top_match is None:
        by, top = int(which_n.group(2)), int(which_n.group(1))
        lowest = "min" in found and "max" not in found
        used.add(by)
    elif top_match is not None:
        by, aggregated = int(top_match.group(3)), int(top_match.group(4))
        top = int(top_match.group(2))
        lowest = top_match.group(1) in ("bottom", "last")
        used |= {by, aggregated}
        arguments["column"] = facts.columns[aggregated].name
    else:
        group = _BY.search(text) or _WHICH.search(text)
        if group is not None and int(group.group(1)) not in used:
            by = int(group.group(1))
            used.add(by)
            if _WHICH.search(text) and ("max" in found or "min" in found):
                top, lowest = 1, "max" not in found
            then_by = _second_group(text[group.end() :], facts, used)
            if then_by is not None:
                arguments["then_by"] = then_by
        elif (part := _date_part_group(text, facts)) is not None:
            arguments["by_part"] = part
    stats = [a for a in found if a in ("count", "share", "median", "mean", "sum")]
    extremes = [a for a in found if a in ("max", "min")]
    if top is not None and by is not None:
        aggregate = stats[0] if stats else "sum"
    else:
        aggregate = (stats or extremes)[0] if (stats or extremes) else "sum"
    if "column" not in arguments and aggregate not in ("count", "share"):
        numeric = [i for i, c in columns.items() if i not in used and c.is_numeric]
        if not numeric:
            return None
        arguments["column"] = facts.columns[numeric[0]].name
        used.add(numeric[0])
    by_part = arguments.get("by_part")
    among: list[dict[str, Any]] = []
    flags = _flags(columns, used)  # "churned customers": the yes rows of churn
    if aggregate not in ("count", "share"):
        where += flags
    else:
        if aggregate == "share" and flags and where and by is None:
            among, where = where, flags  # "share of month-to-month customers who churned"
        elif aggregate == "share" and len(flags) >= 2 and not where and by is None:
            among, where = flags[:-1], flags[-1:]  # "share of home owners who defaulted"
        else:
            where += flags
        if not where and by is None and by_part is None and not _ROW_NOUNS.search(text):
            return None
        if aggregate == "share" and not where:
            return None
    then_by = arguments.pop("then_by", None)
    by_part = arguments.pop("by_part", None)
    arguments = {"aggregate": aggregate, **arguments, "where": [_as_text(c) for c in where]}
    if among:
        arguments["among"] = [_as_text(c) for c in among]
    if by is not None:
        arguments["by"] = facts.columns[by].name
    elif by_part is not None:
        arguments["by"] = by_part
    if then_by is not None:
        arguments["then_by"] = then_by
    if top is not None:
        arguments["top"] = top
        if lowest:
            arguments["lowest"] = True
    return arguments


def _conditions(text: str, facts: FileFacts, used: set[int]) -> list[dict[str, Any]]:
    periods, spans = _date_conditions(text, facts, used)
    for start, end in spans:  # "price after 2023" is about dates, not a price above 2023
        text = text[:start] + " " * (end - start) + text[end:]
    conditions: list[tuple[int, dict[str, Any]]] = list(periods)
    for match in _BETWEEN.finditer(text):
        index = int(match.group(1))
        name = facts.columns[index].name
        conditions.append((match.start(), _condition(name, ">=", match.group(2))))
        conditions.append((match.start() + 1, _condition(name, "<=", match.group(3))))
        used.add(index)
    for match in _COLUMN_OP_NUMBER.finditer(text):
        index = int(match.group(1))
        if index in used:
            continue
        op = _op(match.group(2))
        conditions.append(
            (match.start(), _condition(facts.columns[index].name, op, match.group(3)))
        )
        used.add(index)
    for match in _OP_NUMBER_COLUMN.finditer(text):
        index = int(match.group(3))
        if index in used:
            continue
        op = _op(match.group(1))
        conditions.append(
            (match.start(), _condition(facts.columns[index].name, op, match.group(2)))
        )
        used.add(index)
    for match in _COLUMN_IS_VALUE.finditer(text):
        index = int(match.group(1))
        column = facts.columns[index]
        value = _value_of(column, match.group(2))
        if index in used or value is None:
            continue
        negated = re.search(r"\bnot\b|!=|isn't|aren't", match.group(0)) is not None
        conditions.append(
            (
                match.start(),
                {"column": column.name, "op": "!=" if negated else "==", "value": value},
            )
        )
        used.add(index)
    for match in _AGE.finditer(text):  # "older than 80": the file's age column
        ages = [
            i
            for i, c in enumerate(facts.columns)
            if c.is_numeric and "age" in re.split(r"[^a-z]+|(?<=[a-z])(?=[A-Z])", c.name.lower())
        ]
        if len(ages) == 1 and ages[0] not in used:
            op = ">" if match.group(1) == "older" else "<"
            conditions.append(
                (match.start(), _condition(facts.columns[ages[0]].name, op, match.group(2)))
            )
            used.add(ages[0])
    for match in _YEAR.finditer(text):
        years = [
            i
            for i, c in enumerate(facts.columns)
            if c.is_numeric and "year" in c.name.lower() and i not in used
        ]
        if len(years) == 1:
            op = {"before": "<", "prior to": "<", "until": "<=", "in": "=="}.get(
                match.group(1), ">" if match.group(1) == "after" else ">="
            )
            conditions.append(
                (match.start(), _condition(facts.columns[years[0]].name, op, match.group(2)))
            )
            used.add(years[0])
    bare = PLACEHOLDER.sub(" ", text)
    for index, column in enumerate(facts.columns):
        if index in used or column.is_numeric:
            continue
        for value in column.values:
            word = value.lower()
            if word in _VAGUE_VALUES or len(word) < 3:
                continue
            hit = re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", bare)
            if hit is not None:
                conditions.append(
                    (hit.start(), {"column": column.name, "op": "==", "value": value})
                )
                used.add(index)
                break
    return [c for _, c in sorted(conditions, key=lambda pair: pair[0])]


def _date_column(text: str, facts: FileFacts, used: set[int]) -> int | None:
    """The date column a period is about: the one named, else the file's only one."""
    dates = [
        i
        for i, c in enumerate(facts.columns)
        if c.is_date or (not c.is_numeric and not c.values and _DATE_NAME.search(c.name))
    ]
    named = [int(m.group(1)) for m in PLACEHOLDER.finditer(text) if int(m.group(1)) in dates]
    choice = named[:1] or (dates if len(dates) == 1 else [])
    return choice[0] if choice and choice[0] not in used else None


def _date_conditions(
    text: str, facts: FileFacts, used: set[int]
) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, int]]]:
    """ "in 2023", "after march", "last month": conditions on the file's date column, as
    periods the tool reads against the data; and the spans of text they took."""
    column = _date_column(text, facts, used)
    if column is None:
        return [], []
    name = facts.columns[column].name
    found: list[tuple[int, dict[str, Any]]] = []
    spans: list[tuple[int, int]] = []
    for match in _RELATIVE.finditer(text):
        word, which, count, unit = match.groups()
        which = "this" if which == "this" else "last"
        value = f"{which} {count} {unit}s" if count else f"{which} {unit}"
        op = _PERIOD_OPS.get(word or "in", "in")
        found.append((match.start(), {"column": name, "op": op, "value": value}))
        spans.append(match.span())
    named = f"«{column}»" in text
    years = [i for i, c in enumerate(facts.columns) if c.is_numeric and "year" in c.name.lower()]
    for match in _ABSOLUTE.finditer(text):
        if any(start <= match.start() < end for start, end in spans):
            continue
        if re.fullmatch(r"\d{4}", match.group(2)) and len(years) == 1 and not named:
            continue  # "cars from before 2010": the model year column, below
        op = _PERIOD_OPS.get(match.group(1), "in")
        value = match.group(2).rstrip(".")
        found.append((match.start(), {"column": name, "op": op, "value": value}))
        spans.append(match.span())
    if found:
        used.add(column)
    return found, spans


def _date_part_group(text: str, facts: FileFacts) -> str | None:
    """ "by year", "monthly": the date column's part to group by ("order_date:year")."""
    match = _BY_PART.search(text) or _PART_ADVERB.search(text)
    if match is None:
        return None
    column = _date_column(text, facts, set())
    if column is None:
        return None
    return f"{facts.columns[column].name}:{_part(match.group(1))}"


def _second_group(rest: str, facts: FileFacts, used: set[int]) -> str | None:
    """ "by region and year": the second thing to group by, right after the first."""
    match = _SECOND_BY.match(rest)
    if match is None:
        return None
    if match.group(1) is not None:
        index = int(match.group(1))
        if index in used:
            return None
        used.add(index)
        return facts.columns[index].name
    column = _date_column(rest, facts, used)
    return None if column is None else f"{facts.columns[column].name}:{_part(match.group(2))}"


def _part(word: str) -> str:
    word = word.lower()
    if word.startswith(("year", "annual")):
        return "year"
    if word.startswith("quarter"):
        return "quarter"
    if word.startswith("month"):
        return "month"
    return "weekday"


def _flags(columns: dict[int, ColumnFacts], used: set[int]) -> list[dict[str, Any]]:
    """ "how many churned": a yes/no column named alone means its "yes" rows."""
    flags = []
    for index, column in columns.items():
        if index in used or column.is_numeric:
            continue
        lowered = {v.lower(): v for v in column.values}
        if len(lowered) == 2:
            positive = next((lowered[p] for p in _POSITIVE if p in lowered), None)
            if positive is not None:
                flags.append({"column": column.name, "op": "==", "value": positive})
                used.add(index)
    return flags


def _value_of(column: ColumnFacts, written: str) -> str | float | None:
    written = written.strip().strip("`'\"")
    if column.is_numeric:
        try:
            return _number(written)
        except ValueError:
            return None
    for value in column.values:
        if value.lower() == written.lower():
            return value
    first = written.split()[0] if written.split() else ""
    for value in column.values:
        if value.lower() == first.lower():
            return value
    return None


def _condition(column: str, op: str, number: str) -> dict[str, Any]:
    return {"column": column, "op": op, "value": _number(number)}


def _number(text: str) -> float | int:
    value = float(text.replace(",", ""))
    return int(value) if value.is_integer() else value


def _op(words: str) -> str:
    for op, pattern in _OPS:
        if re.fullmatch(pattern, words):
            return op
    return "=="
