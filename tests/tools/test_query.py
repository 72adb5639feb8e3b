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
