"""The column-at-a-time fold of rebuilds and replays equals the row-by-row fold of appends."""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trialbook.domain.canonical import canonical_json
from trialbook.projections.ab import ABProjection, _Cache, _Statistics, row_values
from trialbook.projections.ab_queries import row_observations

small = st.none() | st.integers(0, 6)
real = st.none() | st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def result_rows(draw: Any) -> list[tuple[Any, ...]]:
    rows = []
    for position in range(1, draw(st.integers(0, 40)) + 1):
        calls = draw(small)
        ok = None if calls is None else draw(st.none() | st.integers(0, calls))
        custom = draw(
            st.dictionaries(
                st.sampled_from(["m_a", "m_b", "score", "cost", "failed_calls", "success"]),
                st.floats(-1e3, 1e3, allow_nan=False),
                max_size=2,
            )
        )
        rows.append(
            (
                position,
                draw(st.sampled_from(["t1", "t2"])),
                draw(st.sampled_from(["a", "b"])),
                canonical_json(custom) if custom else None,
                draw(st.none() | st.integers(0, 1)),  # success
                calls,
                ok,
                draw(small),  # errors
                draw(real),  # completion_time
                draw(small),  # messages
                draw(small),  # corrections
                draw(st.none() | st.integers(0, 10**9)),  # tokens
                draw(real),  # cost
                draw(real),  # score
                draw(st.none() | st.sampled_from(["c1", "c2"])),  # case_id
            )
        )
    return rows


def folded(rows: list[tuple[Any, ...]], mode: str, split: int) -> tuple[Any, ...]:
    """The statistics ``rows`` fold to in two chunks: a column at a time (``columns``, imports
    and rebuilds), collected row by row (``rows``) or each row straight onto the running
    statistics (``one``, single appends)."""
    conn = sqlite3.connect(":memory:")
    ABProjection().create(conn)
    cache = _Cache(conn)
    stats = _Statistics(conn, cache)
    for chunk in (rows[:split], rows[split:]):
        for row in chunk if mode != "columns" else ():
            obs = row_observations(row[4:-1], row[3])
            (stats.add if mode == "rows" else stats.add_one)(row[1], row[2], obs)
        if mode == "columns":
            stats.add_rows(chunk)
        stats.fold()
    groups = sorted(cache.variants.items())
    return (
        {k: g.moments for k, g in groups},
        {k: g.comoments for k, g in groups},
        stats.counts,
        {k: g.packed() for k, g in groups},
    )


@given(result_rows(), st.integers(0, 40))
@settings(max_examples=300, deadline=None)
def test_columns_fold_to_the_same_numbers_as_rows(rows: list[tuple[Any, ...]], split: int) -> None:
    by_rows = folded(rows, "rows", split=split)
    assert folded(rows, "columns", split=split) == by_rows
    assert folded(rows, "one", split=split) == by_rows


def test_zero_calls_have_no_error_rate_and_three_calls_do() -> None:
    rows = [
        (1, "t", "a", None, 1, 0, 0, None, None, None, None, None, None, None, None),
        (2, "t", "a", None, 0, 3, 1, None, None, None, None, None, 0.5, None, "c"),
    ]
    moments, comoments, counts, _ = folded(rows, "columns", split=1)
    assert moments[("t", "a")]["error_rate"] == [1, 2 / 3, 0.0]
    assert moments[("t", "a")]["failed_calls"][0] == 2
    assert comoments[("t", "a")][("cost", "success")][0] == 1
    assert counts == {("t", "a"): 2}


@given(result_rows())
@settings(max_examples=200, deadline=None)
def test_a_single_appends_values_are_the_rows_observations(rows: list[tuple[Any, ...]]) -> None:
    for position, test, variant, metrics, *values, case_id in rows:
        stored = (position, test, variant, None, case_id, *values, metrics, None, None, None, None)
        expected = row_observations(values, metrics)
        assert list(row_values(stored).items()) == list(expected.items())
