"""Eval runs stay linear in their size: the projection's per-rollout statements use an index
on the whole (run, case, epoch) key (issue #25; figures in bench/eval_scale.py)."""

from __future__ import annotations

import sqlite3

import pytest

from trialbook.projections.evals import DDL


def plan(sql: str, params: tuple[object, ...]) -> list[str]:
    conn = sqlite3.connect(":memory:")
    for statement in DDL:
        conn.execute(statement)
    return [row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]


def test_marking_the_rollout_a_retry_replaces_searches_by_the_whole_pair_key() -> None:
    details = plan(
        "UPDATE eval_rollouts SET is_latest = 0 WHERE run_id = ? AND case_id = ? AND epoch = ?",
        ("r", "c", 1),
    )
    assert any("SEARCH" in d and "case_id=?" in d and "epoch=?" in d for d in details), details


@pytest.mark.xfail(
    strict=True,
    reason="issue #25: the latest-row lookup in projections/evals.py (EvalsProjection._rollout) "
    "picks eval_rollouts_latest (run_id, is_latest, epoch) and scans every latest rollout of "
    "the epoch per retry; writing `+is_latest = 1` (or INDEXED BY the primary key) makes it "
    "search by case_id; remove this mark with that fix",
)
def test_the_latest_row_lookup_of_a_retried_rollout_searches_by_the_whole_pair_key() -> None:
    details = plan(
        "SELECT status FROM eval_rollouts WHERE run_id = ? AND case_id = ? AND epoch = ? "
        "AND is_latest = 1",
        ("r", "c", 1),
    )
    assert any("SEARCH" in d and "case_id=?" in d for d in details), details
