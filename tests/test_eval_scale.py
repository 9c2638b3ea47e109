"""Eval runs stay linear in their size: the projection's per-rollout statements use an index
on the whole (run, case, epoch) key (issue #25; figures in bench/eval_scale.py)."""

from __future__ import annotations

import sqlite3

from trialbook.projections.evals import DDL, LATEST_STATUS_SQL


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


def test_the_latest_row_lookup_of_a_retried_rollout_searches_by_the_whole_pair_key() -> None:
    # the statement the projection runs (not a copy of it)
    details = plan(LATEST_STATUS_SQL, ("r", "c", 1))
    assert any("SEARCH" in d and "case_id=?" in d for d in details), details


def test_snapshots_grow_apart_as_a_stream_grows_so_recording_stays_linear() -> None:
    # a snapshot serialises the whole state: at a fixed gap of 50 a batch of 256 rollouts
    # snapshotted the whole run every batch (quadratic in the run's size)
    from trialbook.ledger.ledger import SNAPSHOT_EVERY, SNAPSHOT_MAX_GAP, snapshot_due

    taken, last = [], 0
    for version in range(1, 200_001):
        if snapshot_due(version, last):
            taken.append(version)
            last = version
    assert taken[:4] == [SNAPSHOT_EVERY, 2 * SNAPSHOT_EVERY, 4 * SNAPSHOT_EVERY, 8 * SNAPSHOT_EVERY]
    gaps = [b - a for a, b in zip(taken, taken[1:], strict=False)]
    assert max(gaps) == SNAPSHOT_MAX_GAP  # a cold load replays at most this many events
    # the events serialised by all snapshots together stay within a few times the stream
    assert sum(taken) < 25 * 200_000


def test_an_eval_runs_snapshots_keep_doubling_apart_so_each_costs_its_share() -> None:
    # an eval run's snapshot holds every rollout: spaced at most 5,000 apart, a run of 100,000
    # cases (≈ 210,000 events with its verdicts) serialised ≈ 20 × its size, growing with it
    from trialbook.domain.evals import EVAL_RUNS
    from trialbook.ledger.ledger import SNAPSHOT_MAX_GAP, snapshot_due

    assert EVAL_RUNS.snapshot_grows
    for stream in (2_000, 20_000, 200_000, 2_000_000):
        taken, last = [], 0
        for version in range(1, stream + 1):
            if snapshot_due(version, last, grows=True):
                taken.append(version)
                last = version
        assert sum(taken) <= 2 * stream  # all snapshots serialise at most twice the stream
        assert stream - taken[-1] <= stream // 2  # a cold load replays at most half of it
    assert max(b - a for a, b in zip(taken, taken[1:], strict=False)) > SNAPSHOT_MAX_GAP
