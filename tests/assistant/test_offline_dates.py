"""Data questions with dates and two group-by columns, offline (issue 18, query grammar).

The parser turns date words into periods of the file's date column ("in 2023",
"after March", "last month"; the tool reads them against the data) and
"by region and year" into two group-by columns; a year with no date in sight
goes to a numeric year column.
"""

from __future__ import annotations

from typing import Any

import pytest

from assistant.offline.facts import ColumnFacts, FileFacts, Situation
from assistant.offline.intents import read_message
from tests.assistant.offline_phrasings import SALES

CARS = FileFacts(
    "d1",
    (
        ColumnFacts("listed_at", False, is_date=True),
        ColumnFacts("make", False, ("kia", "ford")),
        ColumnFacts("model_year", True),
        ColumnFacts("price", True),
    ),
)
TOOLS = {"query_data", "ask_user", "train_models", "set_plan", "plot_columns", "explain_model"}


def _query(text: str, facts: FileFacts = SALES) -> dict[str, Any]:
    [call] = read_message(text, facts=facts, situation=Situation(), available=TOOLS)
    assert call.tool == "query_data", (text, call)
    return dict(call.arguments)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("how many orders in 2023?", ["order_date in 2023"]),
        ("average price after March", ["order_date > march"]),
        ("total revenue last month", ["order_date in last month"]),
        ("how many orders in the past 30 days", ["order_date in last 30 days"]),
        ("avg revenue since jan 2024", ["order_date >= jan 2024"]),
        ("number of orders before 2023 in the north", ["order_date < 2023", "region == north"]),
        ("what was the total revenue this year", ["order_date in this year"]),
        ("average price after 2023", ["order_date > 2023"]),  # a date, not a price above 2023
    ],
)
def test_date_words_become_periods_of_the_files_date_column(text: str, where: list[str]) -> None:
    assert _query(text)["where"] == where


@pytest.mark.parametrize(
    ("text", "by", "then_by"),
    [
        ("average price by region and year", "region", "order_date:year"),
        ("sum of units by product and region", "product", "region"),
        ("total revenue per month", "order_date:month", None),
        ("monthly revenue total", "order_date:month", None),
        ("average price per region", "region", None),
    ],
)
def test_one_or_two_things_to_group_by(text: str, by: str, then_by: str | None) -> None:
    arguments = _query(text)
    assert (arguments["by"], arguments.get("then_by")) == (by, then_by)


def test_a_bare_year_goes_to_the_year_column_when_the_date_is_not_named() -> None:
    assert _query("average price of cars from before 2010", CARS)["where"] == ["model_year < 2010"]
    assert _query("how many listed at in 2023", CARS)["where"] == ["listed_at in 2023"]
    assert _query("average price last month", CARS)["where"] == ["listed_at in last month"]
