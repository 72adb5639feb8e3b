"""The safe query language of tools/query.py: exact answers, stated with the query in words."""

from __future__ import annotations

import pandas as pd
import pytest

from tools.query import Condition, Query, QueryError, parse_condition, run_query

FRAME = pd.DataFrame(
    {
        "tenure": [10, 60, 55, 3, 70, None],
        "region": ["north", "south", "North", "east", "south", "east"],
        "price": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
        "churn": [True, False, True, False, False, True],
    }
)


def _words(column: str) -> tuple[str, str] | None:
    return ("no", "yes") if column == "churn" else None


def test_a_filtered_count_says_the_query_and_both_numbers() -> None:
    answer = run_query(FRAME, Query("count", where=(Condition("tenure", ">", 50),)))
    assert answer.text == "rows where tenure > 50: 3 of 6."
    assert (answer.value, answer.n_matching) == (3.0, 3)


def test_a_share_of_a_yes_no_column_reads_the_files_own_words() -> None:
    answer = run_query(
        FRAME, Query("share", where=(Condition("churn", "==", "yes"),)), words=_words
    )
    assert answer.text == "share of rows where churn = yes: 50.0% (3 of 6)."


def test_text_matches_in_any_case_and_a_mean_is_filtered() -> None:
    query = Query("mean", column="price", where=(Condition("region", "==", "NORTH"),))
    assert (
        run_query(FRAME, query).text
        == "mean of price (rows where region = NORTH): 20 (over 2 rows)."
    )


def test_group_by_with_top_k_sorts_largest_first() -> None:
    answer = run_query(FRAME, Query("sum", column="price", by="region", top=2))
    assert answer.groups == (("south", 70.0, 2), ("east", 100.0, 2))[::-1]
    assert answer.text == "top 2: sum of price per region: east 100; south 70."


def test_between_is_two_conditions_and_missing_values_never_match() -> None:
    query = Query("count", where=(Condition("tenure", ">=", 10), Condition("tenure", "<=", 60)))
    assert run_query(FRAME, query).n_matching == 3


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (Query("count", where=(Condition("nope", "==", 1),)), "The table has no column “nope”."),
        (Query("mean", column="region"), "“region” does not hold numbers"),
        (Query("count", where=(Condition("tenure", ">", "lots"),)), "“lots” is not one"),
        (Query("count", where=(Condition("region", ">", "a"),)), "holds text"),
    ],
)
def test_a_query_that_does_not_fit_says_why(query: Query, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        run_query(FRAME, query)


def test_conditions_are_parsed_not_evaluated() -> None:
    assert parse_condition("monthly charges >= 1,000") == Condition("monthly charges", ">=", 1000.0)
    assert parse_condition("contract = 'one year'") == Condition("contract", "==", "one year")
    assert parse_condition("x == __import__('os')") == Condition("x", "==", "__import__('os')")
    with pytest.raises(QueryError):
        parse_condition("tenure is big")


def test_a_share_among_some_rows_counts_only_those_rows() -> None:
    query = Query(
        "share",
        where=(Condition("churn", "==", "yes"),),
        among=(Condition("region", "==", "south"),),
    )
    answer = run_query(FRAME, query, words=_words)
    assert answer.text == (
        "share of rows where churn = yes, among rows where region = south: 0.0% (0 of 2)."
    )


DATED = pd.DataFrame(
    {
        "order_date": [
            *("2023-01-15", "2023-03-02", "2023-11-30"),
            *("2024-02-10", "2024-03-05", "2024-03-20"),
        ],
        "region": ["north", "south", "north", "south", "north", "north"],
        "price": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
    }
)


@pytest.mark.parametrize(
    ("condition", "count", "words"),
    [
        ("order_date in 2023", 3, "order_date in 2023 (2023-01-01 to 2023-12-31)"),
        ("order_date > march", 0, "order_date after march (from 2024-04-01)"),
        ("order_date >= 2024-02", 3, "order_date from 2024-02 (from 2024-02-01)"),
        ("order_date < 2024", 3, "order_date before 2024 (before 2024-01-01)"),
        ("order_date in last month", 2, "order_date in last month (2024-03-01 to 2024-03-31)"),
        ("order_date in last 30 days", 2, "order_date in last 30 days (2024-02-20 to 2024-03-20)"),
        ("order_date in march", 2, "order_date in march (2024-03-01 to 2024-03-31)"),
    ],
)
def test_dates_are_read_as_periods_of_the_data_and_said_with_their_dates(
    condition: str, count: int, words: str
) -> None:
    answer = run_query(DATED, Query("count", where=(parse_condition(condition),)))
    assert answer.text == f"rows where {words}: {count} of 6."


def test_a_period_of_a_column_without_dates_says_what_works() -> None:
    with pytest.raises(QueryError, match=r"not a period of the dates in “region”; say e\.g\. 2023"):
        run_query(DATED, Query("count", where=(parse_condition("region in 2023"),)))


def test_grouping_by_a_column_and_a_dates_year_keeps_both_keys() -> None:
    query = Query("sum", column="price", by="region", then_by="order_date:year")
    answer = run_query(DATED, query)
    assert answer.group_keys == (
        ("north", "2023"),
        ("north", "2024"),
        ("south", "2023"),
        ("south", "2024"),
    )
    assert [value for _, value, _ in answer.groups] == [40.0, 110.0, 20.0, 40.0]
    assert answer.text.startswith(
        "sum of price per region and year of order_date: north · 2023 40;"
    )
    with pytest.raises(QueryError, match="only a date column can be grouped by its year"):
        run_query(DATED, Query("count", by="region:year"))
